"""IAM actions HyperPod instance groups need, in one place (as aws-cdk-lib keeps its grants), each with its source.

Sources:
- ``MANAGED``: the AWS managed policy AmazonSageMakerClusterInstanceRolePolicy (logs and metrics under
  /aws/sagemaker/Clusters, lifecycle scripts from ``sagemaker-*`` buckets, SSM channels); it grants no EC2, ECR or
  eks-auth action (AWS Managed Policy Reference, "AmazonSageMakerClusterInstanceRolePolicy").
- ``CLUSTER_SETUP``: the official HyperPod EKS role, aws/sagemaker-hyperpod-cluster-setup
  ``eks/cloudformation/sagemaker-iam-role-template.yaml`` (commit 22592976), the same statements as
  awslabs/awsome-distributed-training ``hyperpod-eks-tf/modules/sagemaker_iam_role/main.tf`` (commit 7217859f).
- ``CMK``: SageMaker developer guide, "Customer managed AWS KMS key encryption for SageMaker HyperPod".
"""

from __future__ import annotations

from dataclasses import dataclass

# AWS managed policy the HyperPod documentation requires on every instance group's execution role.
INSTANCE_ROLE_MANAGED_POLICY = "AmazonSageMakerClusterInstanceRolePolicy"

CLUSTER_SETUP = "aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/sagemaker-iam-role-template.yaml @22592976"
CMK = "SageMaker developer guide: Customer managed AWS KMS key encryption for SageMaker HyperPod"
PROJECT = "this project: nodes in this VPC write their logs under the cluster prefix"


@dataclass(frozen=True)
class Statement:
    """One statement's Sid, actions and where they come from (the resources are the role's to scope)."""

    sid: str
    actions: tuple[str, ...]
    source: str


# Nodes in a customer VPC: HyperPod attaches ENIs in the given subnets; on EKS the VPC CNI also describes the instance
# and its type, attaches and modifies interfaces, and tags them. Describe* has no resource-level permissions in EC2.
VPC_DESCRIBE = Statement(
    "DescribeTheVpc",
    (
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstances",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeTags",
        "ec2:DescribeVpcs",
    ),
    CLUSTER_SETUP,
)
VPC_NETWORK_INTERFACES = Statement(
    "NetworkInterfacesInThisVpc",
    (
        "ec2:AssignPrivateIpAddresses",
        "ec2:AttachNetworkInterface",
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
        "ec2:DetachNetworkInterface",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:UnassignPrivateIpAddresses",
    ),
    CLUSTER_SETUP,
)
# The instance side of attaching, detaching and modifying an interface: EC2 has no ec2:Vpc condition key on instances
# (without DetachNetworkInterface on the instance, interfaces leak when nodes are replaced).
INSTANCE_NETWORK_INTERFACES = Statement(
    "InterfacesOnTheNodes",
    ("ec2:AttachNetworkInterface", "ec2:DetachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute"),
    CLUSTER_SETUP,
)
# The CNI tags interfaces it did not create in the same call, so no ec2:CreateAction condition (the official role has
# none); ec2:Vpc keeps it to this VPC's interfaces.
VPC_TAGS = Statement("TagInterfacesInThisVpc", ("ec2:CreateTags",), CLUSTER_SETUP)
LOGS = Statement(
    "ClusterLogs",
    ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
    PROJECT,
)

# EKS-orchestrated nodes: pod identity for workloads; images of the HyperPod agents, the EFA and device plugins live in
# AWS-owned accounts that differ by Region (the Helm chart's registry maps), so the pull is not scoped to a repository.
EKS_POD_IDENTITY = Statement("PodIdentity", ("eks-auth:AssumeRoleForPodIdentity",), CLUSTER_SETUP)
ECR_PULL = Statement(
    "PullAwsOwnedImages",
    ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer"),
    CLUSTER_SETUP,
)
DESCRIBE_ALARMS = Statement("DescribeAlarms", ("cloudwatch:DescribeAlarms",), CLUSTER_SETUP)

# Customer managed keys on the nodes' EBS volumes: HyperPod creates grants for EC2 with the group's role when it adds
# or replaces nodes; DescribeKey to check the key.
VOLUME_KEY_GRANT = Statement("VolumeKeyGrants", ("kms:CreateGrant",), CMK)
VOLUME_KEY_DESCRIBE = Statement("VolumeKeyDescribe", ("kms:DescribeKey",), CMK)

# Node recovery and health agents report through CloudWatch Logs under this prefix.
CLUSTER_LOG_GROUP_PREFIX = "/aws/sagemaker/Clusters"
