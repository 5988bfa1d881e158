"""One way to acknowledge a cdk-nag finding: on the narrowest construct, with a reason a reviewer can check."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

from constructs import IConstruct

# The wildcard actions aws-cdk-lib's bucket grants write (read; then what write adds).
BUCKET_READ_ACTIONS = ("s3:GetObject*", "s3:GetBucket*", "s3:List*")
BUCKET_WRITE_ACTIONS = ("s3:DeleteObject*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*")
# The managed policy aws-cdk-lib attaches to a Lambda function's role for CloudWatch Logs.
LAMBDA_BASIC_EXECUTION_FINDING = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)


def acknowledge(construct: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge ``rule_ids`` (e.g. ``AwsSolutions-S1``) on ``construct`` and its children."""
    # One call for all of them: aws-cdk-lib records each in turn either way, and each call crosses the jsii bridge.
    cdk.Validations.of(construct).acknowledge(*[cdk.Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids])


def nag_environment(scope: IConstruct) -> tuple[str, str, str]:
    """(partition, region, account) as cdk-nag prints them in finding ids: ``<AWS::Region>`` and friends
    in env-agnostic stacks, literal values in stacks pinned to an account and region."""
    return _shown_environment(cdk.Stack.of(scope))


@functools.lru_cache(maxsize=64)
def _shown_environment(stack: cdk.Stack) -> tuple[str, str, str]:
    """A stack's partition, Region and account never change once it exists: read them once (six jsii calls)."""

    def shown(value: str, pseudo: str) -> str:
        return f"<AWS::{pseudo}>" if cdk.Token.is_unresolved(value) else value

    return shown(stack.partition, "Partition"), shown(stack.region, "Region"), shown(stack.account, "AccountId")


def nag_arn(scope: IConstruct, service: str, resource: str) -> str:
    partition, region, account = nag_environment(scope)
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def acknowledge_bucket_grants(policy: IConstruct, buckets: Iterable[s3.IBucket], *, write: bool) -> None:
    """Acknowledge the IAM5 findings of ``bucket.grant_read``/``grant_read_write`` on a policy in the
    buckets' own stack: object ARNs are ``<bucket>/*`` by nature, and the actions are aws-cdk-lib's."""
    stack = cdk.Stack.of(policy)
    resources = [f"<{stack.get_logical_id(b.node.default_child)}.Arn>/*" for b in buckets]  # type: ignore[arg-type]
    actions = BUCKET_READ_ACTIONS + (BUCKET_WRITE_ACTIONS if write else ())
    acknowledge(
        policy,
        "Grants on objects of the named buckets only (object ARNs end in /*); the action wildcards are "
        "aws-cdk-lib's read/write grant sets.",
        *[f"AwsSolutions-IAM5[Action::{action}]" for action in actions],
        *[f"AwsSolutions-IAM5[Resource::{resource}]" for resource in resources],
    )
