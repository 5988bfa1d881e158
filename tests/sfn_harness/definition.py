"""The state machine of a synthesized template as ASL that moto can run.

CloudFormation references in ``DefinitionString`` become placeholder values of the right form
(a Lambda function's ARN for ``Fn::GetAtt [Fn, Arn]``, a topic's ARN for ``Ref Topic``, ...),
so that the interpreter recognizes each task's resource.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

ACCOUNT = "123456789012"
PARTITION = "aws"
PSEUDO = {"AWS::Partition": PARTITION, "AWS::URLSuffix": "amazonaws.com"}
REF_IS_ARN = {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"}


def state_machine(template: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The (single) state machine's definition, every reference resolved and every Distributed Map stood in for."""
    return stand_in_distributed_maps(resolved_definition(template, region), region)


def resolved_definition(template: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The (single) state machine's definition as deployed, every reference resolved."""
    [machine] = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    text = Resolver({"workflow": template}, region).value(machine["Properties"]["DefinitionString"], "workflow")
    return dict(json.loads(text))


def every_state(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state by name, a Map's item processor states included (state names are unique in a definition)."""
    found = {}
    for name, state in definition["States"].items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            found.update(every_state(processor))
    return found


# What a Task keeps of a Map state it stands in for: how it connects, and where its result goes.
_KEPT = ("Next", "End", "ResultPath", "ResultSelector", "OutputPath", "InputPath", "Retry", "Catch", "Comment")


def stand_in_distributed_maps(definition: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """Each Distributed Map (``ProcessorConfig.Mode`` DISTRIBUTED) becomes a Lambda Task named like it.

    moto's interpreter rejects ``ItemBatcher`` and JSONL item readers, and a mocked result cannot vary per
    item: the map's combined result is scripted for the stand-in instead (``StandIn-<state>`` function). The
    stand-in's parameters are the batcher's ``BatchInput``, so a run shows what every batch would be given.
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
            batch_input = definition["States"][name].get("ItemBatcher", {}).get("BatchInput")
            if batch_input is not None:
                state["Parameters"] = batch_input
        states[name] = state
    return {**definition, "States": states}


class Resolver:
    """Resolves CloudFormation values to placeholder strings of the right form (a function's ARN for
    ``Fn::GetAtt [Fn, Arn]``, a topic's ARN for ``Ref Topic``, ...), across an environment's stacks:
    ``Fn::GetStackOutput`` follows the producer stack's output when that stack is given."""

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
            return self.arn(kind, name) if kind in REF_IS_ARN else name
        if "Fn::GetAtt" in node:
            name, attribute = node["Fn::GetAtt"]
            kind = resources[name]["Type"]
            if attribute == "Arn" and kind in self.CROSS_ARNS:
                return self.arn(kind, name)
            if kind == "AWS::EC2::SecurityGroup":
                return name
            return f"{name}.{attribute}"
        if "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(str(self.value(part, stack)) for part in parts)
        if "Fn::GetStackOutput" in node:
            reference = node["Fn::GetStackOutput"]
            producer = reference["StackName"]
            if producer not in self.stacks:  # one stack given: a placeholder of the reference
                return "imported-" + json.dumps(reference, sort_keys=True).encode().hex()[:16]
            return self.value(self.stacks[producer]["Outputs"][reference["OutputName"]]["Value"], producer)
        if "Fn::Split" in node:
            separator, text = node["Fn::Split"]
            return str(self.value(text, stack)).split(separator)
        if "Fn::Select" in node:
            index, items = node["Fn::Select"]
            return self.value(items, stack)[int(index)]
        if "Fn::ImportValue" in node:
            return "imported-" + json.dumps(node, sort_keys=True).encode().hex()[:16]
        if len(node) == 1 and next(iter(node)).startswith("Fn::"):
            raise ValueError(f"{next(iter(node))} is not one the harness resolves")
        return {key: self.value(item, stack) for key, item in node.items()}
