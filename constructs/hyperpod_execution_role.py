"""The role one HyperPod instance group's nodes run as.

Least privilege where the APIs allow it: data through the data stores' ``grant_*``, ENI
management only in this account's VPC and only on resources tagged for HyperPod where EC2
supports it, images only from the repositories named, logs only under the cluster prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam

from constructs import Construct
from constructs import hyperpod_perms as perms
from constructs.nag_acknowledgements import acknowledge, nag_arn

ENI_RESOURCE_KINDS = ("network-interface", "subnet", "security-group")


@dataclass(frozen=True)
class HyperPodExecutionRoleProps:
    vpc: ec2.IVpc
    eks_cluster: eks.ICluster | None = None
    image_repositories: Sequence[ecr.IRepository] = field(default_factory=tuple)


class HyperPodExecutionRole(Construct):
    """Attribute ``role``; pass it to data stores' ``grant_*`` for what the group's jobs read and write."""

    def __init__(self, scope: Construct, construct_id: str, props: HyperPodExecutionRoleProps) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="HyperPod instance group nodes",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(perms.INSTANCE_ROLE_MANAGED_POLICY)],
        )
        acknowledge(
            self.role,
            f"The HyperPod documentation requires the AWS managed {perms.INSTANCE_ROLE_MANAGED_POLICY} on every "
            "instance group's execution role (node agents, health reporting, lifecycle script download).",
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{perms.INSTANCE_ROLE_MANAGED_POLICY}]",
        )
        vpc_arn = stack.format_arn(service="ec2", resource="vpc", resource_name=props.vpc.vpc_id)
        policy = iam.ManagedPolicy(self, "Policy", description="HyperPod nodes: VPC interfaces, logs, images")
        policy.add_statements(
            iam.PolicyStatement(actions=perms.VPC_DESCRIBE_ACTIONS, resources=["*"]),
            iam.PolicyStatement(
                actions=perms.VPC_NETWORK_INTERFACE_ACTIONS,
                resources=[
                    stack.format_arn(service="ec2", resource=kind, resource_name="*") for kind in ENI_RESOURCE_KINDS
                ],
                conditions={"StringEquals": {"ec2:Vpc": vpc_arn}},
            ),
            iam.PolicyStatement(
                actions=perms.VPC_TAG_ACTIONS,
                resources=[stack.format_arn(service="ec2", resource="network-interface", resource_name="*")],
                conditions={"StringEquals": {"ec2:CreateAction": "CreateNetworkInterface"}},
            ),
            iam.PolicyStatement(
                actions=perms.LOG_ACTIONS,
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{perms.CLUSTER_LOG_GROUP_PREFIX}/*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        )
        if props.eks_cluster is not None:
            policy.add_statements(
                iam.PolicyStatement(actions=perms.EKS_NODE_ACTIONS, resources=[props.eks_cluster.cluster_arn]),
                iam.PolicyStatement(actions=perms.ECR_AUTH_ACTIONS, resources=["*"]),
            )
        for repository in props.image_repositories:
            repository.grant_pull(self.role)
        self.role.add_managed_policy(policy)
        log_groups = f"log-group:{perms.CLUSTER_LOG_GROUP_PREFIX}/*"
        acknowledge(
            policy,
            "EC2 Describe* and ecr:GetAuthorizationToken have no resource-level permissions; ENI, subnet and "
            "security group actions are limited to this VPC by the ec2:Vpc condition (their ids are only known "
            "when HyperPod creates the interfaces); logs to the /aws/sagemaker/Clusters prefix HyperPod writes.",
            "AwsSolutions-IAM5[Resource::*]",
            *[f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'ec2', f'{kind}/*')}]" for kind in ENI_RESOURCE_KINDS],
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', log_groups)}]",
        )
