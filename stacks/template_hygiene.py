"""Aspects that keep the synthesized templates clean under cfn-lint.

aws-cdk-lib's built-in custom resource providers (S3 auto-delete, default security group
restriction) give their handler both a ``GetAtt`` on its role and a ``DependsOn`` the role;
cfn-lint reports the second as redundant (W3005). Dropping it changes no deploy order.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii

from constructs import IConstruct

PROVIDER_SUFFIX = "CustomResourceProvider"


@jsii.implements(cdk.IAspect)
class DropRedundantProviderDependsOn:
    def visit(self, node: IConstruct) -> None:
        if not (isinstance(node, cdk.CfnResource) and node.node.id == "Handler"):
            return
        parent = node.node.scope
        if parent is not None and parent.node.id.startswith("Custom::") and parent.node.id.endswith(PROVIDER_SUFFIX):
            node.add_deletion_override("DependsOn")
