"""Network stack, per environment: VPC shape, flow logs, endpoints, security group rules."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from config.loader import load_environments

ENVIRONMENTS = {env.name: env for env in load_environments()}
INTERFACE_SERVICES = ["sagemaker.api", "sagemaker.runtime", "ecr.api", "ecr.dkr", "sts", "logs", "bedrock-runtime"]


def network(committed, env):
    return committed.template(env.name, "Network")


def test_vpc_uses_the_configured_cidr(committed, env):
    network(committed, env).has_resource_properties("AWS::EC2::VPC", {"CidrBlock": env.network.cidr})


def test_private_subnets_span_every_configured_zone_without_public_ips(committed, env):
    template = network(committed, env)
    private = template.find_resources(
        "AWS::EC2::Subnet",
        {"Properties": {"Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Private"}])}},
    )
    assert len(private) == env.network.az_count >= 2
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] is False for subnet in private.values())
    template.resource_count_is("AWS::EC2::NatGateway", env.network.nat_gateways)


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(committed, env):
    template = network(committed, env)
    template.has_resource_properties("AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL"})
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"RetentionInDays": env.network.flow_log_retention_days, "KmsKeyId": Match.any_value()},
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_s3_gateway_and_interface_endpoints_exist(committed, env):
    template = network(committed, env)
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint")
    names = [str(e["Properties"]["ServiceName"]) for e in endpoints.values()]
    for service in [*INTERFACE_SERVICES, "s3"]:
        assert any(f".{service}" in name for name in names), f"no endpoint for {service}: {names}"
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Interface", "PrivateDnsEnabled": True}
    )


def _group_id(template, description_start: str) -> str:
    groups = template.find_resources(
        "AWS::EC2::SecurityGroup",
        {"Properties": {"GroupDescription": Match.string_like_regexp(f"^{description_start}")}},
    )
    assert len(groups) == 1
    return next(iter(groups))


def test_cluster_group_allows_all_traffic_within_itself_for_efa(committed, env):
    template = network(committed, env)
    cluster = _group_id(template, "HyperPod nodes")
    self_ref = {"Fn::GetAtt": [cluster, "GroupId"]}
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"IpProtocol": "-1", "GroupId": self_ref, "SourceSecurityGroupId": self_ref},
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {"IpProtocol": "-1", "GroupId": self_ref, "DestinationSecurityGroupId": self_ref},
    )


@pytest.mark.parametrize(("from_port", "to_port"), [(988, 988), (1018, 1023)])
def test_lustre_ports_are_open_from_the_cluster_group_only(committed, env, from_port, to_port):
    template = network(committed, env)
    cluster = {"Fn::GetAtt": [_group_id(template, "HyperPod nodes"), "GroupId"]}
    lustre = {"Fn::GetAtt": [_group_id(template, "FSx for Lustre"), "GroupId"]}
    for source in (cluster, lustre):
        template.has_resource_properties(
            "AWS::EC2::SecurityGroupIngress",
            {
                "IpProtocol": "tcp",
                "FromPort": from_port,
                "ToPort": to_port,
                "GroupId": lustre,
                "SourceSecurityGroupId": source,
            },
        )


def test_no_security_group_accepts_traffic_from_the_internet(committed, env):
    template = network(committed, env)
    for resource_type, key in (("AWS::EC2::SecurityGroup", "SecurityGroupIngress"),):
        for group in template.find_resources(resource_type).values():
            for rule in group["Properties"].get(key, []):
                assert rule.get("CidrIp") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0", rule
    for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
        assert rule["Properties"].get("CidrIp") != "0.0.0.0/0", rule


def test_endpoint_group_admits_https_from_the_vpc_only(committed, env):
    template = network(committed, env)
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": Match.string_like_regexp("^HTTPS from inside the VPC"),
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": env.network.cidr, "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"})
            ],
        },
    )


def test_training_runs_in_the_zone_config_names_by_az_id_with_fsx_and_jobs_beside_it(fixture_envs):
    """A subnet added in the chosen zone (by AZ ID, no lookup), routed through the NAT gateway and the S3 endpoint;
    the file system, the HyperPod cluster and the workflow's training jobs all use it."""
    synthesized = fixture_envs["pinned"]
    network = synthesized.template("pinned", "Network")
    [(subnet_id, subnet)] = [
        (name, resource)
        for name, resource in network.find_resources("AWS::EC2::Subnet").items()
        if "AvailabilityZoneId" in resource["Properties"]
    ]
    assert subnet["Properties"]["AvailabilityZoneId"] == "euw1-az2"
    assert subnet["Properties"]["CidrBlock"] == "10.40.224.0/20"
    assert "AvailabilityZone" not in subnet["Properties"]
    [route] = [r for r in network.find_resources("AWS::EC2::Route").values() if "TrainingRouteTable" in json.dumps(r)]
    assert "NATGateway" in json.dumps(route["Properties"]["NatGatewayId"])
    [s3] = [e for e in network.find_resources("AWS::EC2::VPCEndpoint").values() if e["Properties"].get("RouteTableIds")]
    assert "TrainingRouteTable" in json.dumps(s3["Properties"]["RouteTableIds"])

    [fsx] = synthesized.template("pinned", "Data").find_resources("AWS::FSx::FileSystem").values()
    [cluster] = synthesized.template("pinned", "Training").find_resources("AWS::SageMaker::Cluster").values()
    for uses in (fsx["Properties"]["SubnetIds"], cluster["Properties"]["VpcConfig"]["Subnets"]):
        assert subnet_id in json.dumps(uses), uses
    # Another subnet replaces the cluster, which CloudFormation creates before deleting the old one: another name.
    assert cluster["Properties"]["ClusterName"] == "pinned-training-euw1-az2"
    [group] = cluster["Properties"]["InstanceGroups"]
    assert group["TrainingPlanArn"] == "arn:aws:sagemaker:eu-west-1:111111111111:training-plan/pinned-plan"


def test_a_training_block_that_overlaps_the_vpcs_subnets_is_refused_naming_the_key():
    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_logs as logs

    from constructs.training_network import NewVpcProps, TrainingNetwork, TrainingNetworkProps, TrainingZone

    stack = cdk.Stack(cdk.App(), "Overlap")
    props = TrainingNetworkProps(
        vpc=NewVpcProps("10.40.0.0/16", 2, 1, TrainingZone("euw1-az2", "10.40.16.0/20")),
        flow_log_retention=logs.RetentionDays.ONE_WEEK,
        flow_log_key=kms.Key(stack, "Key"),
    )
    with pytest.raises(ValueError, match=r"network.training_subnet_cidr: '10.40.16.0/20' is not allowed; expected"):
        TrainingNetwork(stack, "Network", props)
