"""The synthesized templates of one environment, and what their intrinsic functions point at.

Every report reads CloudFormation JSON, where a bucket's key is ``{"Fn::GetAtt": [...]}`` or, across
stacks, ``{"Fn::GetStackOutput": ...}`` / ``{"Fn::ImportValue": ...}``. ``TemplateSet`` follows those
references to the resource they name and renders any value as short text (``Key.Arn``,
``Data/PlatformKey.Arn``, ``arn:${AWS::Partition}:s3:::${Bucket}/*``) so that a reviewer reads logical
ids, never raw JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Template = Mapping[str, Any]


@dataclass(frozen=True)
class StackTemplate:
    """One stack: its short id in the Stage (``Network``), its deployed name and its template."""

    stack_id: str
    template: Template
    stack_name: str = ""
    dependencies: tuple[str, ...] = ()

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources: Mapping[str, Mapping[str, Any]] = self.template.get("Resources", {})
        return resources


@dataclass(frozen=True)
class Resource:
    """A resource with the stack it lives in; ``properties`` is ``{}`` when the template has none."""

    stack_id: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.stack_id}/{self.logical_id}"


@dataclass(frozen=True)
class Target:
    """What a ``Ref`` or ``Fn::GetAtt`` resolves to: a resource (and attribute) in some stack."""

    stack_id: str
    logical_id: str
    attribute: str | None = None


class TemplateSet:
    """All stacks of one environment, indexed for reference resolution.

    Build it with ``TemplateSet.of({"Network": template, ...})`` in tests, or from the cloud assembly
    (``auditing.assembly``), which also knows each stack's deployed name and dependencies.
    """

    def __init__(self, stacks: list[StackTemplate]) -> None:
        self.stacks: tuple[StackTemplate, ...] = tuple(sorted(stacks, key=lambda s: s.stack_id))
        self._by_id = {s.stack_id: s for s in self.stacks}
        self._by_name = {s.stack_name or s.stack_id: s for s in self.stacks}
        self._exports: dict[str, tuple[str, Any]] = {}
        for stack in self.stacks:
            for output in stack.template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if isinstance(name, str):
                    self._exports[name] = (stack.stack_id, output.get("Value"))

    @classmethod
    def of(cls, templates: Mapping[str, Template]) -> TemplateSet:
        return cls([StackTemplate(stack_id, template) for stack_id, template in templates.items()])

    def stack(self, stack_id: str) -> StackTemplate:
        return self._by_id[stack_id]

    def resources(self, *types: str) -> Iterator[Resource]:
        """Every resource (of ``types`` if given), ordered by stack id then logical id."""
        for stack in self.stacks:
            for logical_id in sorted(stack.resources):
                body = stack.resources[logical_id]
                if not types or body.get("Type") in types:
                    yield Resource(stack.stack_id, logical_id, str(body.get("Type")), body.get("Properties", {}))

    def resource(self, stack_id: str, logical_id: str) -> Resource | None:
        stack = self._by_id.get(stack_id)
        if stack is None or logical_id not in stack.resources:
            return None
        body = stack.resources[logical_id]
        return Resource(stack_id, logical_id, str(body.get("Type")), body.get("Properties", {}))

    def follow(self, stack_id: str, value: Any) -> tuple[str, Any]:
        """Replace a cross-stack reference by the output value it reads, in the producing stack."""
        for _ in range(10):
            if not isinstance(value, dict) or len(value) != 1:
                return stack_id, value
            if "Fn::GetStackOutput" in value:
                spec = value["Fn::GetStackOutput"]
                producer = self._by_name.get(str(spec.get("StackName")))
                outputs = producer.template.get("Outputs", {}) if producer else {}
                output = outputs.get(spec.get("OutputName"))
                if producer is None or output is None:
                    return stack_id, value
                stack_id, value = producer.stack_id, output.get("Value")
            elif "Fn::ImportValue" in value and isinstance(value["Fn::ImportValue"], str):
                export = self._exports.get(value["Fn::ImportValue"])
                if export is None:
                    return stack_id, value
                stack_id, value = export
            else:
                return stack_id, value
        return stack_id, value

    def target(self, stack_id: str, value: Any) -> Target | None:
        """The resource a ``Ref``/``Fn::GetAtt`` (possibly across stacks) names, or None."""
        stack_id, value = self.follow(stack_id, value)
        if not isinstance(value, dict) or len(value) != 1:
            return None
        stack = self._by_id.get(stack_id)
        if stack is None:
            return None
        if "Ref" in value and value["Ref"] in stack.resources:
            return Target(stack_id, str(value["Ref"]))
        if "Fn::GetAtt" in value:
            getatt = value["Fn::GetAtt"]
            parts = getatt.split(".", 1) if isinstance(getatt, str) else [str(p) for p in getatt]
            if parts and parts[0] in stack.resources:
                return Target(stack_id, parts[0], parts[1] if len(parts) > 1 else None)
        return None

    def display(self, stack_id: str, value: Any, *, qualified: bool = False) -> str:
        """Short text for a template value: logical ids for references, ``${...}`` inside strings.

        References to another stack are always ``Stack/LogicalId``; ``qualified`` prefixes the stack
        id to references within ``stack_id`` too (for reports that mix stacks in one table).
        """
        return self._display(stack_id, value, top=True, qualified=qualified)

    def _display(self, stack_id: str, value: Any, *, top: bool, qualified: bool) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list):
            return ", ".join(self._display(stack_id, item, top=top, qualified=qualified) for item in value)
        if not isinstance(value, dict):
            return json.dumps(value, sort_keys=True)
        text = self._reference(stack_id, value, qualified=qualified)
        if text is not None:
            return text if top else "${" + text + "}"
        if len(value) == 1:
            (function, argument), *_ = value.items()
            if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
                separator, parts = argument
                if isinstance(parts, list):
                    return str(separator).join(
                        self._display(stack_id, part, top=False, qualified=qualified) for part in parts
                    )
            if function == "Fn::Sub":
                if isinstance(argument, str):
                    return argument
                if isinstance(argument, list) and argument:
                    text = str(argument[0])
                    variables = argument[1] if len(argument) > 1 and isinstance(argument[1], dict) else {}
                    for name in sorted(variables):
                        text = text.replace(
                            "${" + name + "}", self._display(stack_id, variables[name], top=False, qualified=qualified)
                        )
                    return text
            if function.startswith("Fn::"):
                inner = self._display(stack_id, argument, top=True, qualified=qualified)
                return f"{function.removeprefix('Fn::')}({inner})"
        return json.dumps(value, sort_keys=True)

    def _reference(self, stack_id: str, value: Mapping[str, Any], *, qualified: bool) -> str | None:
        if len(value) != 1:
            return None
        target = self.target(stack_id, value)
        if target is None:
            return str(value["Ref"]) if "Ref" in value else None
        local = target.stack_id == stack_id and not qualified
        name = target.logical_id if local else f"{target.stack_id}/{target.logical_id}"
        return f"{name}.{target.attribute}" if target.attribute else name


def literal_int(value: Any) -> int | None:
    """An integer property as written in the template, or None when it is a token."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def as_list(value: Any) -> list[Any]:
    """IAM and security-group fields hold one item or a list of them."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
