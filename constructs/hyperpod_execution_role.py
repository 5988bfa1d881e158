"""The role one HyperPod instance group's nodes run as.

The statements are the official HyperPod EKS role's (see ``hyperpod_perms`` for each source), scoped tighter
where the APIs allow it: data through the data stores' ``grant_*``, interface management and tagging only in
this VPC, logs only under the cluster prefix, the volume key only through SageMaker for AWS resources. EC2 and
image statements for the VPC CNI and the AWS-owned images apply to EKS groups only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs import hyperpod_perms as perms
from constructs.nag_acknowledgements import acknowledge, nag_arn

ENI_RESOURCE_KINDS = ("network-interface", "subnet", "security-group")


@dataclass(frozen=True)
class HyperPodExecutionRoleProps:
    vpc: ec2.IVpc
    eks_cluster: eks.ICluster | None = None
    image_repositories: Sequence[ecr.IRepository] = field(default_factory=tuple)
    volume_key: kms.IKey | None = None  # the key of the group's EBS volumes, when customer managed


def statement(spec: perms.Statement, resources: Sequence[str], **conditions: object) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=spec.sid, actions=list(spec.actions), resources=list(resources), conditions=conditions or None
    )


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
        in_this_vpc = {
            "StringEquals": {"ec2:Vpc": stack.format_arn(service="ec2", resource="vpc", resource_name=props.vpc.vpc_id)}
        }

        def ec2_arns(*kinds: str) -> list[str]:
            return [stack.format_arn(service="ec2", resource=kind, resource_name="*") for kind in kinds]

        policy = iam.ManagedPolicy(self, "Policy", description="HyperPod nodes: VPC interfaces, logs, images")
        policy.add_statements(
            statement(perms.VPC_DESCRIBE, ["*"]),
            statement(perms.VPC_NETWORK_INTERFACES, ec2_arns(*ENI_RESOURCE_KINDS), **in_this_vpc),
            statement(perms.VPC_TAGS, ec2_arns("network-interface"), **in_this_vpc),
            statement(
                perms.LOGS,
                [
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
                statement(perms.INSTANCE_NETWORK_INTERFACES, ec2_arns("instance")),
                statement(perms.EKS_POD_IDENTITY, [props.eks_cluster.cluster_arn]),
                statement(perms.ECR_PULL, ["*"]),
                statement(perms.DESCRIBE_ALARMS, ["*"]),
            )
        if props.volume_key is not None:
            through_sagemaker = {"kms:ViaService": f"sagemaker.{stack.region}.amazonaws.com"}
            policy.add_statements(
                statement(
                    perms.VOLUME_KEY_GRANT,
                    [props.volume_key.key_arn],
                    StringEquals=through_sagemaker,
                    Bool={"kms:GrantIsForAWSResource": "true"},
                ),
                statement(perms.VOLUME_KEY_DESCRIBE, [props.volume_key.key_arn], StringEquals=through_sagemaker),
            )
        for repository in props.image_repositories:
            repository.grant_pull(self.role)
        self.role.add_managed_policy(policy)
        log_groups = f"log-group:{perms.CLUSTER_LOG_GROUP_PREFIX}/*"
        acknowledge(
            policy,
            "EC2 Describe*, ecr:GetAuthorizationToken and cloudwatch:DescribeAlarms have no resource-level "
            "permissions; the images HyperPod's agents and device plugins pull live in AWS-owned accounts that differ "
            "by Region (the official HyperPod role pulls from *); interface, subnet and security group actions are "
            "limited to this VPC by the ec2:Vpc condition (their ids are only known when HyperPod creates the "
            "interfaces), and instances carry no ec2:Vpc key; logs to the /aws/sagemaker/Clusters prefix HyperPod "
            "writes.",
            "AwsSolutions-IAM5[Resource::*]",
            *[
                f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'ec2', f'{kind}/*')}]"
                for kind in (*ENI_RESOURCE_KINDS, "instance")
            ],
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', log_groups)}]",
        )
