"""Reads a synthesized cloud assembly (``cdk.out``): one ``Environment`` per Stage, with its stacks.

Only files are read (``manifest.json``, the templates and each stack's metadata file), so the bundle can
be written again from the same assembly without synthesizing, and a CI job can audit a ``cdk.out`` that
``cdk synth`` produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditing.cfn import StackTemplate, TemplateSet

STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"


@dataclass(frozen=True)
class AssemblyStack:
    """A stack as synthesized: its template file and the construct metadata (acknowledgements live there)."""

    stack_id: str
    artifact_id: str
    stack_name: str
    template_path: Path
    template: dict[str, Any]
    dependencies: tuple[str, ...]
    metadata: dict[str, list[dict[str, Any]]]
    environment: str = "aws://unknown-account/unknown-region"
    """Where it deploys (``aws://<account>/<region>``; ``unknown-*`` for the deploying credentials')."""
    lookup_role_arn: str = ""
    """The CDK bootstrap's read-only lookup role there, with ``${AWS::...}`` placeholders as the manifest gives it."""


@dataclass(frozen=True)
class Environment:
    """One Stage of the app (``dev``, ``prod``...) and its stacks, ordered by stack id."""

    name: str
    stacks: tuple[AssemblyStack, ...]

    @property
    def templates(self) -> TemplateSet:
        return TemplateSet([StackTemplate(s.stack_id, s.template, s.stack_name, s.dependencies) for s in self.stacks])


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _stacks(directory: Path) -> tuple[AssemblyStack, ...]:
    manifest = _read_json(directory / "manifest.json")
    artifacts: dict[str, dict[str, Any]] = manifest.get("artifacts", {})
    stack_ids = {
        artifact_id: str(artifact.get("displayName", artifact_id)).split("/")[-1]
        for artifact_id, artifact in artifacts.items()
        if artifact.get("type") == STACK_ARTIFACT
    }
    stacks = []
    for artifact_id, stack_id in stack_ids.items():
        artifact = artifacts[artifact_id]
        properties = artifact.get("properties", {})
        template_path = directory / properties["templateFile"]
        metadata: dict[str, list[dict[str, Any]]] = {}
        for path, entries in artifact.get("metadata", {}).items():
            metadata.setdefault(path, []).extend(entries)
        if artifact.get("additionalMetadataFile"):
            for path, entries in _read_json(directory / artifact["additionalMetadataFile"]).items():
                metadata.setdefault(path, []).extend(entries)
        stacks.append(
            AssemblyStack(
                stack_id=stack_id,
                artifact_id=artifact_id,
                stack_name=str(properties.get("stackName", stack_id)),
                template_path=template_path,
                template=_read_json(template_path),
                dependencies=tuple(sorted(stack_ids[d] for d in artifact.get("dependencies", []) if d in stack_ids)),
                metadata=metadata,
                environment=str(artifact.get("environment", "aws://unknown-account/unknown-region")),
                lookup_role_arn=str(properties.get("lookupRole", {}).get("arn", "")),
            )
        )
    return tuple(sorted(stacks, key=lambda s: s.stack_id))


DELIVERY = "delivery"


def load_delivery(assembly_dir: Path) -> Environment | None:
    """The stacks at the top level of the app, outside any Stage (``DeliveryPipeline``, ``GitHubDeploy``), as one
    ``delivery`` pseudo-environment; None when the app has none."""
    stacks = _stacks(assembly_dir)
    return Environment(DELIVERY, stacks) if stacks else None


def load_environments(assembly_dir: Path) -> list[Environment]:
    """Every Stage (nested assembly) in ``assembly_dir``, ordered by name.

    Stacks at the top level of the app (outside any Stage, e.g. ``GitHubDeploy``) are not part of an
    environment and are not audited here.
    """
    manifest = _read_json(assembly_dir / "manifest.json")
    environments = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != NESTED_ASSEMBLY_ARTIFACT:
            continue
        properties = artifact.get("properties", {})
        name = str(properties.get("displayName") or artifact_id.removeprefix("assembly-"))
        environments.append(Environment(name, _stacks(assembly_dir / properties["directoryName"])))
    return sorted(environments, key=lambda e: e.name)
