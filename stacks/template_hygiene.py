"""An aspect that keeps the synthesized templates clean under cfn-lint.

aws-cdk-lib often lists a resource in ``DependsOn`` that the same resource already names in
a ``Ref`` or ``GetAtt`` (a Lambda function and its role, a log delivery and its source);
cfn-lint reports each as redundant (W3005). The aspect renders ``DependsOn`` without them.
The order CloudFormation deploys in does not change: a reference is a dependency too.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aws_cdk as cdk
import jsii

from constructs import IConstruct


def referenced_logical_ids(value: Any) -> set[str]:
    """Logical ids a resolved CloudFormation value names through ``Ref`` or ``Fn::GetAtt``."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            found.add(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute and isinstance(attribute[0], str):
            found.add(attribute[0])
        for item in value.values():
            found |= referenced_logical_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_logical_ids(item)
    return found


@jsii.implements(cdk.IResolvable)
class _DependsOnWithoutReferences:
    """Resolved while the template is rendered, when every dependency is known."""

    creation_stack: ClassVar[list[str]] = []

    def __init__(self, resource: cdk.CfnResource) -> None:
        self.resource = resource

    def resolve(self, context: cdk.IResolveContext) -> list[str] | None:
        stack = cdk.Stack.of(self.resource)
        same_stack = [
            d
            for d in self.resource.obtain_dependencies()
            if isinstance(d, cdk.CfnResource) and cdk.Stack.of(d).node.path == stack.node.path
        ]
        depends_on = sorted({stack.resolve(stack.get_logical_id(d)) for d in same_stack})
        referenced = referenced_logical_ids(stack.resolve(self.resource._cfn_properties))
        remaining = [logical_id for logical_id in depends_on if logical_id not in referenced]
        return remaining or None  # None leaves DependsOn out of the template

    def to_string(self) -> str:
        return "DependsOnWithoutReferences"


# The types aws-cdk-lib gives a DependsOn on something they also reference. Checking only these
# keeps synth fast: each check is several calls between Python and the jsii runtime.
TYPES_WITH_REDUNDANT_DEPENDS_ON = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::BedrockAgentCore::Runtime",
        "AWS::Logs::Delivery",
        "AWS::Logs::DeliveryDestination",
        "AWS::CodePipeline::Pipeline",
    }
)


@jsii.implements(cdk.IAspect)
class DropRedundantDependsOn:
    def visit(self, node: IConstruct) -> None:
        if isinstance(node, cdk.CfnResource) and node.cfn_resource_type in TYPES_WITH_REDUNDANT_DEPENDS_ON:
            node.add_override("DependsOn", _DependsOnWithoutReferences(node))
