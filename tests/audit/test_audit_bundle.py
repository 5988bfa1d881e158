"""End to end: the session's synthesis of the committed environments, the bundle written twice from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditing.assembly import load_environments
from auditing.bundle import REPORTS, write_bundle
from auditing.synth import record_nag_findings
from config.loader import load_environments as load_configs

pytestmark = pytest.mark.heavy(15)  # bundles written


@pytest.fixture(scope="module")
def run(committed, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    # The same build ``python -m auditing`` makes (gates=False); its packs' report is added to it.
    assembly = committed.outdir
    record_nag_findings(committed.app, assembly)
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    write_bundle(assembly, first)
    write_bundle(assembly, second)
    return assembly, first, second


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_environment_folder_has_every_file(run):
    assembly, out, _ = run
    environments = load_environments(assembly)
    assert sorted(e.name for e in environments) == sorted(c.name for c in load_configs())
    written = set(files(out))
    for environment in environments:
        expected = {f"{environment.name}/{name}" for name, _ in REPORTS} | {f"{environment.name}/index.md"}
        expected |= {f"{environment.name}/templates/{s.stack_id}.template.json" for s in environment.stacks}
        assert expected - written == set()
    assert "README.md" in written


def test_two_runs_write_the_same_bytes(run):
    _, first, second = run
    assert files(first) == files(second)


def test_dev_iam_lists_every_role_in_its_templates(run):
    assembly, out, _ = run
    dev = next(e for e in load_environments(assembly) if e.name == "dev")
    roles = [f"## {r.stack_id}/{r.logical_id}" for r in dev.templates.resources("AWS::IAM::Role")]
    iam = (out / "dev" / "iam.md").read_text()
    assert roles, "dev has no IAM role: the test no longer checks anything"
    assert [r for r in roles if r not in iam] == []
    assert "`Service: sagemaker.amazonaws.com`" in iam  # the HyperPod instance groups' execution roles


def test_the_committed_environments_are_clean_in_the_bundle(run):
    _, out, _ = run
    for environment in sorted(p for p in out.iterdir() if p.is_dir()):
        assert "**Unacknowledged findings: none.**" in (environment / "cdk-nag.md").read_text()
        assert ": no findings." in (environment / "cfn-lint.md").read_text()
        assert f"[{environment.name}]({environment.name}/index.md)" in (out / "README.md").read_text()


def test_the_command_writes_the_bundle_from_an_assembly(run, tmp_path):
    from auditing.__main__ import main

    assembly, first, _ = run
    assert main(["--assembly", str(assembly), "--out", str(tmp_path / "audit")]) == 0
    assert files(tmp_path / "audit") == files(first)


def test_iam_shows_the_bootstrap_and_that_datasets_are_import_only(run):
    _, out, _ = run
    iam = (out / "prod" / "iam.md").read_text()
    assert "## Isolation and data protection" in iam
    assert "Deploys through the CDK bootstrap `hnb659fds`" in iam
    assert "| `/datasets` | `s3://${Data/StoresDatasets" in iam and "| import |" in iam
    assert "| `/output` | `s3://${Data/StoresArtifacts" in iam and "| export |" in iam


def test_iam_shows_that_no_role_may_stop_or_delete_another_environments_models(run):
    _, out, _ = run
    iam = (out / "prod" / "iam.md").read_text()
    section = iam.split("Stop, delete, update and re-tag rights", 1)[1].split("FSx for Lustre links", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    limited = "its environment's tag (`aws:ResourceTag/environment`)"
    # The clean-up (conditioned Allows), the state machine (.sync's StopTrainingJob, the evaluation's deletions,
    # limited by a Deny) and the serving handlers (limited by a Deny).
    assert any(r.startswith("| `Workflow/CustomizationCleanUpStep") and limited in r for r in rows), rows
    assert any(r.startswith("| `Workflow/CustomizationStateMachineRole") and limited in r for r in rows), rows
    assert any(r.startswith("| `Serving/") and limited in r for r in rows), rows
    assert not [r for r in rows if "⚠" in r], rows


@pytest.mark.parametrize("fixture", ["pinned", "existing_vpc"])
def test_the_bundle_is_written_for_every_fixture_environment(fixture_envs, fixture, tmp_path):
    """`make audit` broke on an environment whose served model comes from the lineage table (a deploy-time ModelId)
    with provisioned throughput: it is priced by its base model (BaseInvokeArn) now."""
    synthesized = fixture_envs[fixture]
    record_nag_findings(synthesized.app, synthesized.outdir)
    [summary] = write_bundle(synthesized.outdir, tmp_path)
    risks_page = (tmp_path / summary.environment / "risks.md").read_text()
    assert "| Is anything reachable from the internet? |" in risks_page
    if fixture == "pinned":
        cost = (tmp_path / "pinned" / "cost.md").read_text()
        assert "Bedrock provisioned throughput amazon.nova-lite-v1:0, no commitment (deleted after 8 h)" in cost


def test_risks_answer_the_auditors_questions_from_templates_and_config(run):
    _, out, _ = run
    prod = (out / "prod" / "risks.md").read_text()
    dev = (out / "dev" / "risks.md").read_text()

    def row(page: str, question: str) -> str:
        [line] = [line for line in page.splitlines() if line.startswith(f"| {question}")]
        return line

    # The committed environments name no account: they share the deploying one, as each config acknowledges.
    shared = row(prod, "Does another environment share its account")
    assert (
        "| ⚠ | the deploying credentials' account (none pinned), shared with `dev`, `staging` (acknowledged" in shared
    )
    assert "| ✓ | yes (`protected: true`" in row(prod, "Is the environment protected")
    assert "| ⚠ | no (`protected: false`)" in row(dev, "Is the environment protected")
    # Dev is throwaway: its data stores go with it; prod keeps its buckets and table.
    assert "`Data/StoresDatasets" in row(dev, "Is data deleted when its stack is?")
    assert "`Data/StoresDatasets" not in row(prod, "Is data deleted when its stack is?")
    assert "| ✓ | no: each such right needs the environment's tag or names one resource" in row(prod, "May a role stop")
    assert "[" in (out / "README.md").read_text().split("Risks flagged", 1)[1]


def test_the_audit_synthesizes_the_delivery_stacks_with_the_environments(tmp_path):
    """`make audit` audits the pipeline (config/pipeline.yaml, or its example when there is none: its waves name the
    committed environments) and the GitHub deploy roles; with another config folder, only the roles."""
    from auditing.synth import delivery_context
    from config.loader import PIPELINE_EXAMPLE, PIPELINE_FILE

    context = delivery_context(None)
    assert context["pipeline_config"] == str(PIPELINE_FILE if PIPELINE_FILE.exists() else PIPELINE_EXAMPLE)
    assert context["github_repository"] == "my-org/foundation-model-platform"
    assert "pipeline_config" not in delivery_context(tmp_path)


def test_sharing_is_by_account_whatever_the_region_and_an_unpinned_account_is_flagged():
    """IAM and the bootstrap's execution role cover a whole account: two Regions of one account share deploy rights."""
    from auditing.assembly import AssemblyStack, Environment
    from auditing.risks import RISK, _shared_account

    def environment(name: str, where: str) -> Environment:
        return Environment(name, (AssemblyStack("Network", "n", f"{name}-Network", Path("n"), {}, (), {}, where),))

    peers = {
        "a": "aws://111111111111/eu-west-1",
        "b": "aws://111111111111/us-east-1",
        "c": "aws://222222222222/eu-west-1",
    }
    shared = _shared_account(environment("a", peers["a"]), peers, {"shares_account_with": ["b"]})
    assert shared.status == RISK and "shared with `b` (acknowledged" in shared.answer
    own = _shared_account(environment("c", peers["c"]), peers, {})
    assert own.status != RISK and own.answer.endswith("its own")
    unpinned = _shared_account(environment("d", "aws://unknown-account/unknown-region"), peers, {})
    assert unpinned.status == RISK and "none pinned" in unpinned.answer
