"""Bedrock API calls as Step Functions tasks (AWS SDK integration), written one way.

``resources`` name the Bedrock resource types the call is authorized on, scoped to this account
and Region (``foundation-model``: AWS's, in this Region; ``"*"`` for the operations that take no
resource type); the task grants them to the state machine's role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.workflow_perms import bedrock_arn
from customization.contract import ENVIRONMENT_TAG


def bedrock_call(
    scope: Construct,
    construct_id: str,
    action: str,
    parameters: Mapping[str, Any],
    *,
    resources: Sequence[str],
    result_path: str,
    result_selector: Mapping[str, str] | None = None,
    passes_role: iam.IRole | None = None,
) -> tasks.CallAwsService:
    """``action`` (camelCase, e.g. ``getCustomModel``); ``result_path`` as ASL's (``JsonPath.DISCARD`` for
    null); ``passes_role`` adds iam:PassRole on that role."""
    stack = cdk.Stack.of(scope)
    return tasks.CallAwsService(
        scope,
        construct_id,
        service="bedrock",
        action=action,
        parameters=dict(parameters),
        iam_resources=[
            kind if kind == "*" else bedrock_arn(stack, kind, account="" if kind == "foundation-model" else None)
            for kind in resources
        ],
        additional_iam_statements=[iam.PolicyStatement(actions=["iam:PassRole"], resources=[passes_role.role_arn])]
        if passes_role is not None
        else None,
        result_selector=dict(result_selector) if result_selector is not None else None,
        result_path=result_path,
    )


def environment_tags(environment: str) -> list[dict[str, str]]:
    """A Create* call's tags: the environment's, which the clean-up's Stop and Delete require. Step Functions' SDK
    integration capitalizes every member name (``Key``, ``Value`` for Bedrock's ``key``, ``value``)."""
    return [{"Key": ENVIRONMENT_TAG, "Value": environment}]
