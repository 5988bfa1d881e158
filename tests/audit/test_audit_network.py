"""Network exposure: internet-reachable things are "exposed", the rest "internal"."""

from __future__ import annotations

from auditing.cfn import TemplateSet
from auditing.network import EXPOSED, INTERNAL, classify_cidr, exposures, render_network, vpc_cidrs

VPC = {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}}


def group(*ingress):
    return {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"GroupDescription": "g", "VpcId": {"Ref": "Vpc"}, "SecurityGroupIngress": list(ingress)},
    }


def statuses(templates, type_="AWS::EC2::SecurityGroup"):
    return {(e.logical_id, e.what): e.status for e in exposures(templates) if e.type == type_}


def test_ingress_from_anywhere_is_exposed_and_from_its_own_group_is_internal():
    templates = TemplateSet.of(
        {
            "Net": {
                "Resources": {
                    "Vpc": VPC,
                    "Open": group({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}),
                    "Cluster": group(),
                    "ClusterSelf": {
                        "Type": "AWS::EC2::SecurityGroupIngress",
                        "Properties": {
                            "GroupId": {"Fn::GetAtt": ["Cluster", "GroupId"]},
                            "IpProtocol": "-1",
                            "SourceSecurityGroupId": {"Fn::GetAtt": ["Cluster", "GroupId"]},
                        },
                    },
                }
            }
        }
    )
    assert statuses(templates) == {("Open", "ingress tcp 22"): EXPOSED, ("Cluster", "ingress all traffic"): INTERNAL}
    exposed_section = render_network("dev", templates).split("## Internal")[0]
    assert "`Net/Open`" in exposed_section
    assert "`Net/Cluster`" not in exposed_section


def test_a_cidr_outside_the_vpc_is_exposed_and_one_inside_is_internal():
    vpcs = vpc_cidrs(TemplateSet.of({"Net": {"Resources": {"Vpc": VPC}}}))
    assert classify_cidr("10.0.3.0/24", vpcs)[0] == INTERNAL
    assert classify_cidr("10.9.0.0/16", vpcs)[0] == EXPOSED
    assert classify_cidr("203.0.113.0/24", vpcs)[0] == EXPOSED
    assert classify_cidr("::/0", vpcs)[0] == EXPOSED


def test_eks_public_endpoint_is_exposed_and_private_one_internal():
    def cluster(public):
        return {"Type": "AWS::EKS::Cluster", "Properties": {"ResourcesVpcConfig": {"EndpointPublicAccess": public}}}

    templates = TemplateSet.of({"T": {"Resources": {"Public": cluster(True), "Private": cluster(False)}}})
    found = {e.logical_id: e.status for e in exposures(templates)}
    assert found == {"Public": EXPOSED, "Private": INTERNAL}


def test_public_agentcore_runtime_and_internet_routed_subnet_are_exposed():
    templates = TemplateSet.of(
        {
            "N": {
                "Resources": {
                    "Igw": {"Type": "AWS::EC2::InternetGateway"},
                    "Public": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.0.0.0/24"}},
                    "Private": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.0.1.0/24"}},
                    "Table": {"Type": "AWS::EC2::RouteTable"},
                    "Default": {
                        "Type": "AWS::EC2::Route",
                        "Properties": {
                            "RouteTableId": {"Ref": "Table"},
                            "GatewayId": {"Ref": "Igw"},
                            "DestinationCidrBlock": "0.0.0.0/0",
                        },
                    },
                    "Assoc": {
                        "Type": "AWS::EC2::SubnetRouteTableAssociation",
                        "Properties": {"RouteTableId": {"Ref": "Table"}, "SubnetId": {"Ref": "Public"}},
                    },
                    "Agent": {
                        "Type": "AWS::BedrockAgentCore::Runtime",
                        "Properties": {"NetworkConfiguration": {"NetworkMode": "PUBLIC"}},
                    },
                }
            }
        }
    )
    found = {e.logical_id: e.status for e in exposures(templates)}
    assert found == {"Agent": EXPOSED, "Igw": EXPOSED, "Public": EXPOSED, "Private": INTERNAL}
