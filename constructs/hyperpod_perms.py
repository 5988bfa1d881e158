"""IAM actions HyperPod instance groups need, in one place (as aws-cdk-lib keeps its grants)."""

from __future__ import annotations

# AWS managed policy the HyperPod documentation requires on every instance group's execution role.
INSTANCE_ROLE_MANAGED_POLICY = "AmazonSageMakerClusterInstanceRolePolicy"

# Nodes in a customer VPC: HyperPod attaches ENIs in the given subnets on the role's behalf.
# The Describe* calls have no resource-level permissions in EC2.
VPC_DESCRIBE_ACTIONS = [
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
]
VPC_NETWORK_INTERFACE_ACTIONS = [
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DetachNetworkInterface",
    "ec2:UnassignPrivateIpAddresses",
]
VPC_TAG_ACTIONS = ["ec2:CreateTags"]

# EKS-orchestrated nodes: pod identity for workloads, and image pulls for the HyperPod agents.
EKS_NODE_ACTIONS = ["eks-auth:AssumeRoleForPodIdentity"]
ECR_AUTH_ACTIONS = ["ecr:GetAuthorizationToken"]
ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]

# Node recovery and health agents report through CloudWatch Logs under this prefix.
CLUSTER_LOG_GROUP_PREFIX = "/aws/sagemaker/Clusters"
LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
