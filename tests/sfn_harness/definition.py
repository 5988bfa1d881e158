"""The state machine of a synthesized template as ASL that moto can run.

CloudFormation references in ``DefinitionString`` become placeholder values of the right form
(a Lambda function's ARN for ``Fn::GetAtt [Fn, Arn]``, a topic's ARN for ``Ref Topic``, ...),
so that the interpreter recognizes each task's resource.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

ACCOUNT = "123456789012"
PARTITION = "aws"
PSEUDO = {"AWS::Partition": PARTITION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
# What ``Fn::GetAtt [X, Arn]`` and ``Ref X`` give for the resource types a definition refers to.
ARNS: dict[str, Callable[[str, str], str]] = {
    "AWS::Lambda::Function": lambda region, name: f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}",
    "AWS::IAM::Role": lambda region, name: f"arn:aws:iam::{ACCOUNT}:role/{name}",
    "AWS::DynamoDB::Table": lambda region, name: f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}",
    "AWS::SNS::Topic": lambda region, name: f"arn:aws:sns:{region}:{ACCOUNT}:{name}",
    "AWS::KMS::Key": lambda region, name: f"arn:aws:kms:{region}:{ACCOUNT}:key/{name}",
    "AWS::EC2::SecurityGroup": lambda region, name: name,
}
REF_IS_ARN = {"AWS::SNS::Topic", "AWS::IAM::ManagedPolicy"}


def state_machine(template: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The (single) state machine's definition, every reference resolved and every Distributed Map stood in for."""
    resources = template["Resources"]
    [machine] = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = machine["Properties"]["DefinitionString"]
    if isinstance(definition, str):
        return stand_in_distributed_maps(dict(json.loads(definition)), region)
    parts = definition["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else resolve(part, resources, region) for part in parts)
    return stand_in_distributed_maps(dict(json.loads(text)), region)


# What a Task keeps of a Map state it stands in for: how it connects, and where its result goes.
_KEPT = ("Next", "End", "ResultPath", "ResultSelector", "OutputPath", "InputPath", "Retry", "Catch", "Comment")


def stand_in_distributed_maps(definition: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """Each Distributed Map (``ProcessorConfig.Mode`` DISTRIBUTED) becomes a Lambda Task named like it.

    moto's interpreter rejects ``ItemBatcher`` and JSONL item readers, and a mocked result cannot vary per
    item: the map's combined result is scripted for the stand-in instead (``StandIn-<state>`` function).
    """
    states = {}
    for name, state in definition["States"].items():
        mode = state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode")
        if state.get("Type") == "Map" and mode == "DISTRIBUTED":
            function = "StandIn-" + "".join(c if c.isalnum() else "-" for c in name)
            state = {
                "Type": "Task",
                "Resource": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function}",
                **{key: state[key] for key in _KEPT if key in state},
            }
        states[name] = state
    return {**definition, "States": states}


def resolve(reference: dict[str, Any], resources: dict[str, Any], region: str) -> str:
    """One CloudFormation reference as a placeholder string."""
    if "Ref" in reference:
        name = reference["Ref"]
        if name == "AWS::Region":
            return region
        if name in PSEUDO:
            return PSEUDO[name]
        kind = resources.get(name, {}).get("Type", "")
        return ARNS[kind](region, name) if kind in REF_IS_ARN and kind in ARNS else name
    if "Fn::GetAtt" in reference:
        name, attribute = reference["Fn::GetAtt"]
        kind = resources[name]["Type"]
        if attribute == "Arn" and kind in ARNS:
            return ARNS[kind](region, name)
        return f"{name}.{attribute}"
    if "Fn::ImportValue" in reference or "Fn::GetStackOutput" in reference:
        return "imported-" + json.dumps(reference, sort_keys=True).encode().hex()[:16]
    raise ValueError(f"reference {reference!r} is not one the harness resolves")


class Resolver:
    """Resolves CloudFormation values across an environment's stacks to placeholder strings, the same way
    :func:`resolve` does inside one: ``Fn::GetStackOutput`` follows the producer stack's output."""

    CROSS_ARNS: ClassVar[dict[str, str]] = {
        "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
        "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
        "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
        "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
        "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
        "AWS::S3::Bucket": "arn:aws:s3:::{name}",
        "AWS::EKS::Cluster": "arn:aws:eks:{region}:{account}:cluster/{name}",
        "AWS::IAM::ManagedPolicy": "arn:aws:iam::{account}:policy/{name}",
        "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    }

    def __init__(self, stacks: dict[str, dict[str, Any]], region: str = "us-east-1", account: str = ACCOUNT) -> None:
        self.stacks = stacks
        self.region = region
        self.account = account

    def arn(self, kind: str, name: str) -> str:
        return self.CROSS_ARNS[kind].format(region=self.region, account=self.account, name=name)

    def value(self, node: Any, stack: str) -> Any:
        """``node`` with every intrinsic function resolved (lists and objects recursively)."""
        if isinstance(node, list):
            return [self.value(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        resources = self.stacks[stack]["Resources"]
        if "Ref" in node:
            name = node["Ref"]
            if name == "AWS::Region":
                return self.region
            if name == "AWS::AccountId":
                return self.account
            if name in PSEUDO:
                return PSEUDO[name]
            kind = resources.get(name, {}).get("Type", "")
            ref_is_arn = REF_IS_ARN | {"AWS::StepFunctions::StateMachine"}
            return self.arn(kind, name) if kind in ref_is_arn else name
        if "Fn::GetAtt" in node:
            name, attribute = node["Fn::GetAtt"]
            kind = resources[name]["Type"]
            if attribute == "Arn" and kind in self.CROSS_ARNS:
                return self.arn(kind, name)
            return f"{name}.{attribute}"
        if "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(str(self.value(part, stack)) for part in parts)
        if "Fn::GetStackOutput" in node:
            reference = node["Fn::GetStackOutput"]
            producer = reference["StackName"]
            return self.value(self.stacks[producer]["Outputs"][reference["OutputName"]]["Value"], producer)
        if len(node) == 1 and next(iter(node)).startswith("Fn::"):
            raise ValueError(f"{next(iter(node))} is not one the harness resolves")
        return {key: self.value(item, stack) for key, item in node.items()}
