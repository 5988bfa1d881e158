"""Teardown that stops billing: a stack listed under ``retired:`` is synthesized empty, so deploying deletes it all."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from synthesis import synthesize

RETIRING = {
    "name": "lab",
    "removal_policy": "retain",
    "tags": {"environment": "lab", "owner": "tests", "cost_center": "0000"},
    "network": {"cidr": "10.70.0.0/16", "az_count": 2},
    # The cluster section was removed; its stack stays in the app until it is empty and destroyed.
    "retired": ["Training"],
    "bootstrap_qualifier": "lab",  # its own CDK bootstrap
}


@pytest.fixture(scope="module")
def retiring(tmp_path_factory: pytest.TempPathFactory):
    config_dir = tmp_path_factory.mktemp("retiring-config")
    (config_dir / "lab.yaml").write_text(yaml.safe_dump(RETIRING))
    # Validated: no CLI test synthesizes a retired stack.
    return synthesize(tmp_path_factory.mktemp("retiring"), {"config_dir": str(config_dir)}, validate_templates=True)


def test_a_retired_stack_is_deployed_empty_so_its_billing_resources_are_deleted(retiring):
    template = retiring.template("lab", "Training").to_json()
    assert [resource["Type"] for resource in template["Resources"].values()] == [
        "AWS::CloudFormation::WaitConditionHandle"
    ]
    assert template["Outputs"]["Next"]["Value"] == "npx cdk destroy 'lab/Training'"
    [stack] = [s for s in retiring.app.node.find_all() if getattr(s, "stack_name", None) == "lab-Training"]
    assert stack.termination_protection is False  # the follow-up destroy works


def test_the_other_stacks_are_untouched(retiring):
    assert set(retiring.templates["lab"]) == {"Network", "Data", "Training"}


def test_an_environment_with_its_own_bootstrap_deploys_through_it(retiring):
    for stack in ("Network", "Data", "Training"):
        parameter = retiring.template("lab", stack).to_json()["Parameters"]["BootstrapVersion"]
        assert parameter["Default"] == "/cdk-bootstrap/lab/version"


def test_retiring_a_stack_whose_section_is_still_there_is_refused():
    from config.loader import ConfigError, parse_environment

    raw = {**RETIRING, "cluster": {"orchestrator": "slurm"}}
    with pytest.raises(ConfigError, match=r"retired: 'Training' is not allowed; expected a stack whose section is"):
        parse_environment(raw, "lab", "environments/lab.yaml")


def test_the_readme_says_how_to_stop_billing():
    readme = (Path(__file__).resolve().parents[2] / "docs" / "training-cluster.md").read_text()
    assert "list the stack under `retired: [Training]`" in readme
    assert "Removing a section without `retired` deletes nothing" in readme


def test_the_retiring_environment_passes_the_gates(retiring):
    from test_gates import lint, nag_findings

    assert nag_findings(retiring.app) == []
    [template_file] = [path for path in retiring.template_files if "Training" in path.name]
    assert lint(template_file) == []


def test_retiring_serving_retires_the_agent_that_runs_on_it():
    from config.loader import ConfigError, parse_environment

    raw = {**RETIRING, "retired": ["Serving"]}
    with pytest.raises(ConfigError, match=r"retired: \['Serving'\] is not allowed; expected Agent retired too"):
        parse_environment(raw, "lab", "environments/lab.yaml")
    assert parse_environment({**RETIRING, "retired": ["Serving", "Agent"]}, "lab", "environments/lab.yaml")
