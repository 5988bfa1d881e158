"""The VPC that training, storage and agents run in, new or brought from config.

Training nodes live in private subnets with egress through NAT; AWS APIs they call often
(SageMaker, ECR, STS, CloudWatch Logs, Bedrock runtime, S3) are reached through VPC
endpoints. Two security groups separate the roles: nodes talk to each other freely
(EFA needs all traffic within the group) and reach FSx for Lustre only on its ports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge

# FSx for Lustre: LNet on 988, plus 1018-1023 (docs: "Amazon VPC security groups" for Lustre).
LUSTRE_PORTS = (ec2.Port.tcp(988), ec2.Port.tcp_range(1018, 1023))

INTERFACE_ENDPOINTS = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "BedrockRuntime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
}


@dataclass(frozen=True)
class TrainingZone:
    """A subnet added for training in the zone with this AZ ID (where capacity or a training plan is)."""

    availability_zone_id: str
    cidr: str


@dataclass(frozen=True)
class NewVpcProps:
    cidr: str
    az_count: int
    nat_gateways: int
    training_zone: TrainingZone | None = None


@dataclass(frozen=True)
class ExistingVpcProps:
    """An existing VPC, described by ids so that synth needs no lookup."""

    vpc_id: str
    cidr: str
    availability_zones: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]
    private_route_table_ids: tuple[str, ...]
    training_subnet_id: str | None = None


@dataclass(frozen=True)
class TrainingNetworkProps:
    vpc: NewVpcProps | ExistingVpcProps
    flow_log_retention: logs.RetentionDays
    flow_log_key: kms.IKey
    interface_endpoints: bool = True


class TrainingNetwork(Construct):
    """Attributes: ``vpc``, ``private_subnets``, ``training_subnet`` (HyperPod, FSx for Lustre and training jobs:
    one zone, so EFA and Lustre traffic stays in it), ``cluster_security_group``, ``lustre_security_group``."""

    def __init__(self, scope: Construct, construct_id: str, props: TrainingNetworkProps) -> None:
        super().__init__(scope, construct_id)
        self.vpc = self._vpc(props.vpc)
        self.private_subnets = ec2.SubnetSelection(subnets=self.vpc.private_subnets)
        self.training_subnet = self._training_subnet(props.vpc)
        self._flow_log(props)
        self._endpoints(props.interface_endpoints, props.vpc.cidr)
        self.cluster_security_group, self.lustre_security_group = self._security_groups()

    def _vpc(self, props: NewVpcProps | ExistingVpcProps) -> ec2.IVpc:
        if isinstance(props, ExistingVpcProps):
            return ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=props.vpc_id,
                vpc_cidr_block=props.cidr,
                availability_zones=list(props.availability_zones),
                private_subnet_ids=list(props.private_subnet_ids),
                private_subnet_route_table_ids=list(props.private_route_table_ids),
            )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(props.cidr),
            max_azs=props.az_count,
            nat_gateways=props.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="egress", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="training", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
        )
        for subnet in vpc.public_subnets:
            acknowledge(
                subnet,
                "Public subnets hold only the NAT gateways that give private training subnets egress; "
                "no instance is launched in them, and NAT needs the default route to the internet gateway.",
                "NIST.800.53.R5-VPCSubnetAutoAssignPublicIpDisabled",
                "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
            )
        return vpc

    def _training_subnet(self, props: NewVpcProps | ExistingVpcProps) -> ec2.ISubnet:
        """By default the first private subnet, as before: choosing a zone later replaces FSx and the cluster."""
        if isinstance(props, ExistingVpcProps):
            chosen = props.training_subnet_id or props.private_subnet_ids[0]
            return next(s for s in self.vpc.private_subnets if s.subnet_id == chosen)
        if props.training_zone is None:
            return self.vpc.private_subnets[0]
        zone = props.training_zone
        taken = [s.ipv4_cidr_block for s in (*self.vpc.public_subnets, *self.vpc.private_subnets)]
        block = ipaddress.IPv4Network(zone.cidr)
        clash = [c for c in taken if block.overlaps(ipaddress.IPv4Network(c))]
        if clash:
            raise ValueError(
                f"network.training_subnet_cidr: {zone.cidr!r} is not allowed; expected a block that overlaps none of "
                f"the VPC's subnets ({', '.join(taken)})"
            )
        # By AZ ID through the L1 property: no lookup at synth, and the same physical zone in every account.
        subnet = ec2.CfnSubnet(
            self,
            "TrainingSubnet",
            vpc_id=self.vpc.vpc_id,
            cidr_block=zone.cidr,
            availability_zone_id=zone.availability_zone_id,
            map_public_ip_on_launch=False,
            tags=[
                cdk.CfnTag(key="Name", value=f"{cdk.Stack.of(self).stack_name}/training-{zone.availability_zone_id}")
            ],
        )
        table = ec2.CfnRouteTable(self, "TrainingRouteTable", vpc_id=self.vpc.vpc_id)
        ec2.CfnSubnetRouteTableAssociation(
            self, "TrainingRouteTableAssociation", subnet_id=subnet.ref, route_table_id=table.ref
        )
        nat = self.vpc.public_subnets[0].node.find_child("NATGateway")
        assert isinstance(nat, ec2.CfnNatGateway)  # config requires at least one NAT gateway
        ec2.CfnRoute(
            self,
            "TrainingDefaultRoute",
            route_table_id=table.ref,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.ref,
        )
        return ec2.Subnet.from_subnet_attributes(
            self,
            "Training",
            subnet_id=subnet.ref,
            availability_zone=zone.availability_zone_id,
            route_table_id=table.ref,
            ipv4_cidr_block=zone.cidr,
        )

    def _flow_log(self, props: TrainingNetworkProps) -> None:
        log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=props.flow_log_retention,
            encryption_key=props.flow_log_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        flow_log = ec2.FlowLog(
            self,
            "FlowLog",
            resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        acknowledge(
            flow_log.node.find_child("IAMRole"),
            "aws-cdk-lib's FlowLog grants delivery to exactly its log group through the role's default policy.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )

    def _endpoints(self, interface_endpoints: bool, vpc_cidr: str) -> None:
        ec2.GatewayVpcEndpoint(
            self,
            "S3Endpoint",
            vpc=self.vpc,
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[self.private_subnets, ec2.SubnetSelection(subnets=[self.training_subnet])],
        )
        if not interface_endpoints:
            return
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="HTTPS from inside the VPC to interface endpoints",
            allow_all_outbound=False,
        )
        endpoint_group.add_ingress_rule(ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(443), "HTTPS from the VPC")
        for name, service in INTERFACE_ENDPOINTS.items():
            ec2.InterfaceVpcEndpoint(
                self,
                name,
                vpc=self.vpc,
                service=service,
                subnets=self.private_subnets,
                security_groups=[endpoint_group],
                open=False,
                private_dns_enabled=True,
            )

    def _security_groups(self) -> tuple[ec2.SecurityGroup, ec2.SecurityGroup]:
        cluster = ec2.SecurityGroup(
            self,
            "ClusterSecurityGroup",
            vpc=self.vpc,
            description="HyperPod nodes: all traffic within the group (EFA), HTTPS out, Lustre to FSx",
            allow_all_outbound=False,
        )
        lustre = ec2.SecurityGroup(
            self,
            "LustreSecurityGroup",
            vpc=self.vpc,
            description="FSx for Lustre: Lustre ports from its clients and from itself",
            allow_all_outbound=False,
        )
        cluster.add_ingress_rule(cluster, ec2.Port.all_traffic(), "EFA and NCCL between nodes")
        acknowledge(
            cluster,
            "All traffic is allowed only from this same group: EFA requires it between training nodes. "
            "Nothing outside the group reaches any port.",
            "NIST.800.53.R5-EC2RestrictedCommonPorts",
        )
        cluster.add_egress_rule(cluster, ec2.Port.all_traffic(), "EFA and NCCL between nodes")
        cluster.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs and registries")
        for port in LUSTRE_PORTS:
            for peer in (cluster, lustre):
                lustre.add_ingress_rule(peer, port, "Lustre traffic")
                lustre.add_egress_rule(peer, port, "Lustre traffic")
            cluster.add_egress_rule(lustre, port, "Lustre client to FSx")
            cluster.add_ingress_rule(lustre, port, "Lustre server callbacks")
        return cluster, lustre
