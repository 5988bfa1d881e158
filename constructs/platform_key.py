"""A customer managed KMS key with rotation on, usable by CloudWatch Logs in its region and by Bedrock
for custom models.

CloudWatch Logs encrypts a log group only if the key policy lets the regional Logs service
principal use the key, scoped by encryption context to this account's log groups. Provisioned
throughput for a custom Nova model encrypted with the key has Bedrock itself (the service principal,
which no IAM policy can allow) decrypt and generate data keys for the model: the key policy must
allow it (Nova user guide, "Encryption of Amazon Nova model customization jobs and artifacts",
statement PermissionsNovaProvisionedThroughput).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct

BEDROCK_MODEL_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
LOGS_KEY_ACTIONS = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
]


class PlatformKey(Construct):
    """Wraps ``kms.Key``; ``self.key`` is what other constructs receive."""

    def __init__(self, scope: Construct, construct_id: str, *, description: str, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=description,
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY,
            pending_window=cdk.Duration.days(30 if retain else 7),
        )
        stack = cdk.Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=LOGS_KEY_ACTIONS,
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBedrockForCustomModelsOfThisAccount",
                principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
                actions=BEDROCK_MODEL_KEY_ACTIONS,
                resources=["*"],
                conditions={
                    "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "aws:bedrock:custom-model"},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
