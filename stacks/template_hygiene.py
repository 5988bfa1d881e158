"""Aspects that keep the synthesized templates clean under cfn-lint.

aws-cdk-lib's custom resource providers (S3 auto-delete, default security group restriction)
and every L2 Lambda function and state machine name their role in a ``GetAtt`` and again in ``DependsOn``;
cfn-lint reports the second as redundant (W3005). Dropping it changes no deploy order: the
function still waits for its role's default policy.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn

from constructs import IConstruct

PROVIDER_SUFFIX = "CustomResourceProvider"


@jsii.implements(cdk.IAspect)
class DropRedundantProviderDependsOn:
    def visit(self, node: IConstruct) -> None:
        parent = node.node.scope
        if parent is None or not isinstance(node, cdk.CfnResource):
            return
        parent_id = parent.node.id
        if node.node.id == "Handler" and parent_id.startswith("Custom::") and parent_id.endswith(PROVIDER_SUFFIX):
            node.add_deletion_override("DependsOn")
        elif isinstance(node, lambda_.CfnFunction):
            _keep_only_default_policy(node, parent.node.try_find_child("ServiceRole"))
        elif isinstance(node, sfn.CfnStateMachine):
            _keep_only_default_policy(node, parent.node.try_find_child("Role"))


def _keep_only_default_policy(resource: cdk.CfnResource, role: IConstruct | None) -> None:
    """The resource waits for its role's default policy; the role itself is already a GetAtt."""
    if role is None:
        return
    policy = role.node.try_find_child("DefaultPolicy")
    remaining = [cdk.Stack.of(resource).get_logical_id(policy.node.default_child)] if policy else []  # type: ignore[arg-type]
    resource.add_override("DependsOn", remaining)
