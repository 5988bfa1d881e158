"""The app: one Stage per environment, narrowing, pinned environments and existing VPCs."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from app import build_app
from config.loader import ConfigError

STACK_ARTIFACT = "aws:cloudformation:stack"


def test_every_environment_gets_network_data_training_workflow_serving_and_agent_stacks(committed):
    assert {env: sorted(stacks) for env, stacks in committed.templates.items()} == {
        "dev": ["Agent", "Data", "Network", "Serving", "Training", "Workflow"],
        "prod": ["Agent", "Data", "Network", "Serving", "Training", "Workflow"],
        "staging": ["Agent", "Data", "Network", "Serving", "Training", "Workflow"],
    }


def test_an_environment_without_cluster_and_workflow_sections_gets_neither_stack(fixture_envs):
    assert sorted(fixture_envs["existing_vpc"].templates["byovpc"]) == ["Data", "Network"]


def test_stack_names_start_with_the_environment(committed):
    manifest = json.loads((committed.outdir / "assembly-prod" / "manifest.json").read_text())
    names = sorted(a["properties"]["stackName"] for a in manifest["artifacts"].values() if a["type"] == STACK_ARTIFACT)
    assert names == ["prod-Agent", "prod-Data", "prod-Network", "prod-Serving", "prod-Training", "prod-Workflow"]


def test_environments_context_narrows_the_app(tmp_path):
    app = build_app(context={"environments": "dev"}, outdir=str(tmp_path), gates=False, validate_templates=False)
    assert [child.node.id for child in app.node.children if child.node.id != "Tree"] == ["dev"]


def test_unknown_environment_in_context_fails_with_the_known_names(tmp_path):
    with pytest.raises(ConfigError, match=r"environments: \['qa'\] is not allowed; expected names from dev, prod"):
        build_app(context={"environments": "qa"}, outdir=str(tmp_path), gates=False)


def test_pinned_environment_targets_its_account_and_region(fixture_envs):
    manifest = json.loads((fixture_envs["pinned"].outdir / "assembly-pinned" / "manifest.json").read_text())
    environments = {a["environment"] for a in manifest["artifacts"].values() if a["type"] == STACK_ARTIFACT}
    assert environments == {"aws://111111111111/eu-west-1"}
    assert "missing" not in manifest  # no context lookup was requested


def test_pinned_environment_resolves_zones_at_deploy_time(fixture_envs):
    template = fixture_envs["pinned"].template("pinned", "Network")
    template.has_resource_properties("AWS::EC2::Subnet", {"AvailabilityZone": {"Fn::Select": [1, {"Fn::GetAZs": ""}]}})


def test_existing_vpc_is_described_not_created(fixture_envs):
    network = fixture_envs["existing_vpc"].template("byovpc", "Network")
    network.resource_count_is("AWS::EC2::VPC", 0)
    network.resource_count_is("AWS::EC2::Subnet", 0)
    network.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcId": "vpc-0123456789abcdef0",
            "VpcEndpointType": "Interface",
            "SubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
        },
    )
    network.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "RouteTableIds": ["rtb-0aaaaaaaaaaaaaaa1", "rtb-0bbbbbbbbbbbbbbb2"]},
    )
    network.has_resource_properties("AWS::EC2::FlowLog", {"ResourceId": "vpc-0123456789abcdef0"})


def test_existing_vpc_hosts_lustre_in_the_training_subnet_config_names(fixture_envs):
    data = fixture_envs["existing_vpc"].template("byovpc", "Data")
    data.has_resource_properties(
        "AWS::FSx::FileSystem", {"SubnetIds": ["subnet-0bbbbbbbbbbbbbbb2"], "SecurityGroupIds": [Match.any_value()]}
    )
