"""IAM statements of the customization workflow that no aws-cdk-lib grant writes, in one place."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

# What SageMaker needs to place a training job's network interfaces in the VPC.
TRAINING_VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
]
IMAGE_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
TRAINING_LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]


def training_job_statements(stack: cdk.Stack) -> list[iam.PolicyStatement]:
    """A training job's image pull, logs, metrics and VPC access (its data access comes from bucket grants)."""
    return [
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            actions=IMAGE_PULL_ACTIONS,
            resources=[stack.format_arn(service="ecr", account="*", resource="repository", resource_name="*")],
        ),
        iam.PolicyStatement(
            actions=TRAINING_LOG_ACTIONS,
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name="/aws/sagemaker/TrainingJobs:*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        ),
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
        ),
        iam.PolicyStatement(actions=TRAINING_VPC_ACTIONS, resources=["*"]),
    ]
