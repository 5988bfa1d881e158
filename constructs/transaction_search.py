"""CloudWatch Transaction Search for an account and Region: X-Ray writes spans to CloudWatch Logs (``aws/spans``),
where AgentCore's GenAI observability reads them, with a share indexed for search.

Two resources, as the CloudWatch user guide has them ("Using Transaction Search with AWS CloudFormation"): a CloudWatch
Logs resource policy letting X-Ray (from this account only) write the spans, and ``AWS::XRay::TransactionSearchConfig``,
which exists once per account and Region: the environment that makes it is an explicit choice in config.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray

from constructs import Construct


class TransactionSearch(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, indexing_percent: int) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= indexing_percent <= 100:
            raise ValueError(f"TransactionSearch: indexing_percent {indexing_percent}; allowed: 1 to 100")
        stack = cdk.Stack.of(self)
        log_groups = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{group}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            for group in ("aws/spans", "/aws/application-signals/data")
        ]
        policy = logs.CfnResourcePolicy(
            self,
            "SpansPolicy",
            policy_name=f"{stack.stack_name}-transaction-search",
            policy_document=stack.to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TransactionSearchXRayAccess",
                            "Effect": "Allow",
                            "Principal": {"Service": "xray.amazonaws.com"},
                            "Action": "logs:PutLogEvents",
                            "Resource": log_groups,
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": stack.format_arn(service="xray", resource="*")},
                                "StringEquals": {"aws:SourceAccount": stack.account},
                            },
                        }
                    ],
                }
            ),
        )
        config = xray.CfnTransactionSearchConfig(self, "Config", indexing_percentage=indexing_percent)
        config.add_dependency(policy)
        # Account-wide: deleting this environment must not turn it off for the others (and creating it fails where
        # it is already on: check `aws xray get-trace-segment-destination` before the first deploy).
        # Kept when the stack is deleted (the setting serves the whole account), not when its creation rolls back:
        # a kept copy would fail the retry with "already exists".
        config.apply_removal_policy(cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
        policy.apply_removal_policy(cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
