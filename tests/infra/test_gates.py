"""The audit gates over every environment: cdk-nag (AwsSolutions) and cfn-lint (errors and warnings)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks
from synthesis import uploaded_templates

from auditing.lint import lint_template
from stacks.template_hygiene import referenced_logical_ids, render_like_the_cdk

# Regions the templates are linted for: env-agnostic templates may deploy anywhere.


def nag_findings(app, pack: NagPack | None = None) -> list[str]:
    report = (pack or AwsSolutionsChecks()).validate_scope(app)
    return [
        f"{violation.rule_name}: {construct.construct_path}"
        for violation in report.violations
        for construct in violation.violating_resources
    ]


def test_committed_environments_have_no_unacknowledged_aws_solutions_finding(committed):
    assert nag_findings(committed.app) == []


def test_committed_environments_have_no_unacknowledged_nist_800_53_r5_finding(committed):
    """The opt-in pack (``-c nist=true``) is clean too, so turning it on never blocks a deploy."""
    assert nag_findings(committed.app, NIST80053R5Checks()) == []


@pytest.mark.parametrize("name", ["pinned", "existing_vpc"])
@pytest.mark.parametrize("pack", [AwsSolutionsChecks, NIST80053R5Checks], ids=["AwsSolutions", "NIST-800-53-R5"])
def test_fixture_environments_have_no_unacknowledged_finding(fixture_envs, name, pack):
    assert nag_findings(fixture_envs[name].app, pack()) == []


def lint(path: Path) -> list[str]:
    """cfn-lint over one template, for the regions the audit uses, through its cache (auditing/lint.py)."""
    return [f"{f.rule} {f.message} ({path.name}:{f.line})" for f in lint_template(path)]


def test_cfn_lint_reports_nothing_for_committed_environments(committed):
    assert len(committed.template_files) == 18  # network, data, training, workflow, serving, agent: x3
    assert [finding for path in committed.template_files for finding in lint(path)] == []


def test_cfn_lint_reports_nothing_for_fixture_environments(fixture_envs):
    files = [path for synthesized in fixture_envs.values() for path in synthesized.template_files]
    assert [finding for path in files for finding in lint(path)] == []


def test_app_synth_fails_on_an_unacknowledged_finding(tmp_path):
    """build_app wires the gates: one unencrypted, unlogged bucket added to dev fails cdk-nag, and a property S3 does
    not have fails aws-cdk-lib's CloudFormation validation (on unless a test turns it off, see tests/synthesis.py;
    cdk.json's validateAgainstDefaultRules makes its errors fail synth)."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from app import build_app

    app = build_app(context={"environments": "dev"}, outdir=str(tmp_path))
    data = app.node.find_child("dev").node.find_child("Data")
    s3.Bucket(data, "Unlogged")
    cdk.CfnResource(data, "Misspelt", type="AWS::S3::Bucket", properties={"BucketNaem": "x"})
    with pytest.raises(RuntimeError, match=r"ValidationFailed") as failed:
        app.synth()
    assert "dev/Data/Unlogged/Resource" in str(failed.value)
    assert "BucketNaem" in str(failed.value)


def test_an_unacknowledged_finding_fails_the_gate(tmp_path):
    """The gate can fail: an unencrypted, unlogged bucket in a throwaway app is reported."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    app = cdk.App(outdir=str(tmp_path))
    s3.Bucket(cdk.Stack(app, "Probe"), "Plain")
    assert any(finding.startswith("AwsSolutions-S1") for finding in nag_findings(app))


def test_every_template_is_rendered_as_aws_cdk_lib_writes_it_and_addressed_by_its_own_hash(committed):
    """The clean-up rewrites templates after aws-cdk-lib writes them (stacks/template_hygiene.py): each template reads
    back to the same bytes through the renderer, and the asset that uploads it is named by the sha256 of those
    bytes, so `cdk deploy` and the pipeline never upload a template under another template's key."""
    uploaded = uploaded_templates(committed.outdir)
    for path, asset_hash in uploaded.items():
        written = path.read_text(encoding="utf-8")
        assert render_like_the_cdk(json.loads(written), indented=True) == written, path.name
        assert hashlib.sha256(written.encode()).hexdigest() == asset_hash, path.name
    assert len(uploaded) == 18


def test_no_resource_depends_on_what_its_properties_already_reference(committed):
    for env, stacks in committed.templates.items():
        for stack, template in stacks.items():
            for logical_id, resource in template.to_json()["Resources"].items():
                depends_on = resource.get("DependsOn", [])
                redundant = set(depends_on) & referenced_logical_ids(resource.get("Properties", {}))
                assert not redundant, f"{env}/{stack} {logical_id}: {sorted(redundant)}"
