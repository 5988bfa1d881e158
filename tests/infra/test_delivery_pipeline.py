"""Delivery pipeline: it deploys the app's own environment Stages in waves, after tests and the audit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from synthesis import uploaded_templates

from app import build_app
from auditing.lint import lint_template
from config.loader import ConfigError, load_pipeline
from constructs.delivery_pipeline import SYNTH_COMMANDS

pytestmark = pytest.mark.heavy(20)  # the pipeline app synthesized and audited

REPO = Path(__file__).resolve().parents[2]
PIPELINE_FIXTURE = REPO / "tests" / "fixtures" / "pipeline" / "pipeline.yaml"
ENVIRONMENTS = ["dev", "staging", "prod"]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("pipeline")
    # With aws-cdk-lib's CloudFormation validation: no CLI test synthesizes the pipeline.
    app = build_app(context={"pipeline_config": str(PIPELINE_FIXTURE)}, outdir=str(outdir), gates=False)
    app.synth()
    return app, outdir


@pytest.fixture(scope="module")
def template(synthesized) -> Template:
    _, outdir = synthesized
    return Template.from_json(json.loads((outdir / "DeliveryPipeline.template.json").read_text()))


def stages(template: Template) -> list[dict]:
    [pipeline] = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return pipeline["Properties"]["Stages"]


def test_source_is_the_configured_repository_through_codeconnections(template):
    [source] = stages(template)[0]["Actions"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    configuration = source["Configuration"]
    assert {key: configuration[key] for key in ("ConnectionArn", "FullRepositoryId", "BranchName")} == {
        "ConnectionArn": yaml.safe_load(PIPELINE_FIXTURE.read_text())["connection_arn"],
        "FullRepositoryId": "my-org/foundation-model-platform",
        "BranchName": "main",
    }


def test_synth_step_runs_the_readme_test_command_then_the_audit_then_synth(template):
    assert SYNTH_COMMANDS == ("make test", "make audit", "make synth")
    projects = template.find_resources("AWS::CodeBuild::Project")
    synth = [p for p in projects.values() if "make test" in json.dumps(p["Properties"]["Source"])]
    [project] = synth
    buildspec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    assert buildspec["phases"]["build"]["commands"] == list(SYNTH_COMMANDS)
    assert buildspec["phases"]["install"]["runtime-versions"] == {"python": "3.12", "nodejs": "20"}
    assert buildspec["artifacts"]["secondary-artifacts"], "the audit bundle is kept as a pipeline artifact"


def test_pipeline_mutates_itself_with_the_pinned_cli(template):
    names = [stage["Name"] for stage in stages(template)]
    assert names[:2] == ["Source", "Build"] and "UpdatePipeline" in names
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert f"aws-cdk@{pinned}" in json.dumps(template.find_resources("AWS::CodeBuild::Project"))


def test_environments_deploy_in_configured_order_with_approval_before_prod_only(template):
    by_name = {stage["Name"]: stage["Actions"] for stage in stages(template)}
    names = [stage["Name"] for stage in stages(template)]
    assert [name for name in names if name in ENVIRONMENTS] == ENVIRONMENTS
    for name in ENVIRONMENTS:
        manual = [a["Name"] for a in by_name[name] if a["ActionTypeId"]["Provider"] == "Manual"]
        assert manual == (["Promote-prod"] if name == "prod" else [])
    for name in ENVIRONMENTS:
        order = {a["Name"]: a["RunOrder"] for a in by_name[name]}
        guard = order.pop(f"ReplacementGuard-{name}")
        approval = order.pop("Promote-prod", None) if name == "prod" else None
        # The guard first, then the approval (the approver sees its verdict), then any stack change.
        assert guard < min(order.values()), (name, order)
        if approval is not None:
            assert guard < approval < min(order.values()), "approval comes after the guard, before any prod change"


def test_before_each_stage_the_guard_compares_its_assembly_with_what_cloudformation_holds(template):
    """The replacement guard's pipeline step (issue 17): the synthesized assembly against that environment's deployed
    templates, read through the CDK bootstrap's read-only lookup role of the stage's account and Region only."""
    projects = template.find_resources("AWS::CodeBuild::Project")
    policies = template.find_resources("AWS::IAM::Policy")
    for name in ENVIRONMENTS:
        [(project_id, project)] = [
            (k, p) for k, p in projects.items() if f"--deployed {name} " in p["Properties"]["Source"]["BuildSpec"]
        ]
        commands = json.loads(project["Properties"]["Source"]["BuildSpec"])["phases"]["build"]["commands"]
        assert commands == [
            "python -m venv /tmp/guard",
            "/tmp/guard/bin/pip install --quiet --disable-pip-version-check -r requirements-guard.txt",
            f"/tmp/guard/bin/python -m auditing.replacements --deployed {name} --new cdk.out",
        ]
        role = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
        assumed = [
            s["Resource"]
            for p in policies.values()
            if {"Ref": role} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Action"] == "sts:AssumeRole"
        ]
        # The fixture pipeline's environments name no account: they deploy to the pipeline's (123456789012).
        lookup = "arn:aws:iam::123456789012:role/cdk-hnb659fds-lookup-role-123456789012-eu-west-1"
        assert assumed == [lookup], (project_id, assumed)


def test_every_template_the_pipeline_uploads_is_addressed_by_its_own_hash(synthesized):
    """The pipeline's own template and its stages' are rewritten by the template clean-up (stacks/template_hygiene.py);
    cdk-assets uploads each under the hash its asset manifest names, which must be that of the file's bytes."""
    _, outdir = synthesized
    uploaded = uploaded_templates(outdir)
    for path, asset_hash in uploaded.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == asset_hash, path.name
    assert "DeliveryPipeline.template.json" in {path.name for path in uploaded}
    assert len(uploaded) == 19


def test_pipeline_deploys_the_stacks_and_templates_cdk_synth_writes(template, synthesized):
    _, outdir = synthesized
    for stage in stages(template):
        if stage["Name"] not in ENVIRONMENTS:
            continue
        manifest = json.loads((outdir / f"assembly-{stage['Name']}" / "manifest.json").read_text())
        stack_names = {
            a["properties"]["templateFile"]: a["properties"].get("stackName")
            for a in manifest["artifacts"].values()
            if a["type"] == "aws:cloudformation:stack"
        }
        prepared = {
            a["Configuration"]["TemplatePath"].split("::")[1]: a["Configuration"]["StackName"]
            for a in stage["Actions"]
            if a["Name"].endswith(".Prepare")
        }
        assert prepared == {f"assembly-{stage['Name']}/{file}": name for file, name in stack_names.items()}


def test_artifacts_are_encrypted_logged_and_retained(template):
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            Match.object_like(
                                {"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})}
                            )
                        ]
                    },
                    "LoggingConfiguration": Match.any_value(),
                    "VersioningConfiguration": {"Status": "Enabled"},
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365, "KmsKeyId": Match.any_value()})


@pytest.mark.parametrize("pack", [AwsSolutionsChecks, NIST80053R5Checks], ids=["AwsSolutions", "NIST-800-53-R5"])
def test_pipeline_app_has_no_unacknowledged_finding(synthesized, pack):
    app, _ = synthesized
    report = pack().validate_scope(app)
    findings = [f"{v.rule_name}: {c.construct_path}" for v in report.violations for c in v.violating_resources]
    assert findings == []


def test_cfn_lint_reports_nothing_for_the_pipeline(synthesized):
    _, outdir = synthesized
    path = outdir / "DeliveryPipeline.template.json"
    assert lint_template(path, regions=("eu-west-1",)) == []


def test_no_pipeline_without_its_config(committed):
    assert "DeliveryPipeline" not in [child.node.id for child in committed.app.node.children]


def write(tmp_path: Path, changes: dict) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(PIPELINE_FIXTURE.read_text()), **changes}))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"connection_arn": "arn:aws:iam::123456789012:role/x"},
            "connection_arn: 'arn:aws:iam::123456789012:role/x' is not allowed; expected a CodeConnections",
        ),
        (
            {"waves": ["dev", "qa"]},
            "waves: ['qa'] is not allowed; expected environments from config/environments: dev, prod, staging",
        ),
        (
            {"waves": ["dev", "staging"]},
            "approval_before: ['prod'] is not allowed; expected environments listed in waves",
        ),
        ({"waves": ["dev", "dev"]}, "waves: ['dev'] is not allowed; expected each environment once"),
        ({"repository": "not-a-repo"}, "repository: 'not-a-repo' is not allowed; expected <owner>/<name>"),
        ({"account": 123}, "account: 123 is not allowed; expected a string"),
        ({"stages": ["dev"]}, "stages: 'stages' is not allowed; expected one of repository"),
    ],
)
def test_bad_pipeline_config_names_the_field(tmp_path, changes, message):
    with pytest.raises(ConfigError, match="invalid pipeline config") as caught:
        load_pipeline(write(tmp_path, changes), ["dev", "prod", "staging"])
    assert message in str(caught.value)


def test_a_missing_pipeline_file_named_on_the_command_line_fails(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pipeline_config: '.*nope\.yaml' is not a file"):
        build_app(context={"pipeline_config": str(tmp_path / "nope.yaml")}, outdir=str(tmp_path / "out"), gates=False)


def test_the_audit_bundle_covers_the_delivery_stacks(synthesized, tmp_path):
    """The pipeline and the GitHub deploy roles are audited as `delivery/`, with the same reports as an environment."""
    from auditing.bundle import write_bundle
    from auditing.synth import record_nag_findings

    app, outdir = synthesized
    record_nag_findings(app, outdir)
    summaries = write_bundle(outdir, tmp_path)
    assert [s.environment for s in summaries][-1] == "delivery"
    delivery = tmp_path / "delivery"
    assert (delivery / "templates" / "DeliveryPipeline.template.json").exists()
    assert "**Unacknowledged findings: none.**" in (delivery / "cdk-nag.md").read_text()
    assert "ReplacementGuard" in (delivery / "iam.md").read_text()
    assert "[delivery](delivery/index.md)" in (tmp_path / "README.md").read_text()


def test_the_guard_installs_only_what_it_imports_at_the_projects_pins():
    """requirements-guard.txt: the guard's imports (no CDK, no Node), pinned as the project pins them."""
    import subprocess
    import sys

    def pins(name: str) -> dict[str, str]:
        lines = (REPO / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))

    guard, project = pins("requirements-guard.txt"), pins("requirements.txt") | pins("requirements-dev.txt")
    assert {package: project[package] for package in guard} == guard
    # Importing the guard's modules pulls in neither aws_cdk nor jsii.
    probe = (
        "import sys, auditing.replacements, config.loader; "
        "print(sorted(m for m in sys.modules if m in ('aws_cdk', 'jsii')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
