"""cdk-nag: the findings of each pack and every acknowledgement, with its reason, as Markdown.

cdk-nag 3 records an acknowledgement (``cdk.Validations.of(construct).acknowledge(...)``) as construct
metadata of type ``aws:cdk:acknowledged-rules`` in the stack's metadata file, keyed
``Annotation::<rule id>`` (cdk-nag rules) or ``<plugin>::<rule>`` (other validation plugins, such as
aws-cdk-lib's ``CloudFormation-Validate``), with the reason as value. Findings are not in the assembly:
``auditing.synth`` writes them from each pack's ``validate_scope`` report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditing.markdown import code, document, table

ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"
NAG_SOURCE = "Annotation"
PACK_TITLES = {"AwsSolutions": "AWS Solutions", "NIST.800.53.R5": "NIST 800-53 rev 5"}


@dataclass(frozen=True, order=True)
class Finding:
    """One unacknowledged finding of a pack on one construct."""

    pack: str
    rule: str
    path: str
    severity: str = "error"
    description: str = ""


@dataclass(frozen=True, order=True)
class Acknowledgement:
    """``rule_id`` is as acknowledged, e.g. ``AwsSolutions-IAM5[Action::s3:GetObject*]``."""

    rule_id: str
    path: str
    reason: str
    source: str = NAG_SOURCE
    resources: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        return self.rule_id.split("[", 1)[0]

    @property
    def finding(self) -> str:
        return self.rule_id.split("[", 1)[1].removesuffix("]") if "[" in self.rule_id else ""

    @property
    def pack(self) -> str:
        """``AwsSolutions`` or ``NIST.800.53.R5`` for cdk-nag rules; the plugin name otherwise."""
        return self.rule.rsplit("-", 1)[0] if self.source == NAG_SOURCE else self.source


def read_findings(path: Path) -> tuple[list[str], list[Finding]]:
    """The packs that ran and their findings, as ``auditing.synth`` recorded them."""
    record = json.loads(path.read_text(encoding="utf-8"))
    findings = [
        Finding(f["pack"], f["rule"], f["path"], f.get("severity", ""), f.get("description", ""))
        for f in record["findings"]
    ]
    return list(record["packs"]), sorted(findings)


def resource_paths(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> construct path (``aws:cdk:path`` metadata, present when path metadata is on)."""
    paths = {}
    for logical_id, body in template.get("Resources", {}).items():
        path = body.get("Metadata", {}).get("aws:cdk:path")
        if isinstance(path, str):
            paths[logical_id] = path
    return paths


def acknowledgements(
    metadata: Mapping[str, Sequence[Mapping[str, Any]]], template: Mapping[str, Any]
) -> list[Acknowledgement]:
    """Every acknowledgement recorded in one stack's metadata, with the logical ids it covers."""
    paths = resource_paths(template)
    found = []
    for construct_path, entries in metadata.items():
        path = construct_path.lstrip("/")
        covered = tuple(sorted(lid for lid, p in paths.items() if p == path or p.startswith(path + "/")))
        for entry in entries:
            if entry.get("type") != ACKNOWLEDGED_RULES:
                continue
            for key, reason in entry.get("data", {}).items():
                source, _, rule_id = str(key).partition("::")
                found.append(Acknowledgement(rule_id, path, str(reason), source, covered))
    return sorted(set(found))


def _findings_section(findings: Sequence[Finding]) -> str:
    if not findings:
        return "**Unacknowledged findings: none.**\n"
    rows = [[code(f.rule), code(f.path), f.severity, f.description] for f in findings]
    return f"**Unacknowledged findings: {len(findings)}.**\n\n" + table(
        ["Rule", "Construct", "Severity", "Description"], rows
    )


def _acknowledgements_section(acks: Sequence[Acknowledgement]) -> str:
    if not acks:
        return "Acknowledgements: none.\n"
    rows = [
        [code(a.rule), code(a.finding), code(a.path), ", ".join(code(r) for r in a.resources), a.reason] for a in acks
    ]
    return f"Acknowledgements: {len(acks)}.\n\n" + table(["Rule", "Finding", "Construct", "Resources", "Reason"], rows)


def render_nag(
    environment: str, packs: Sequence[str], findings: Iterable[Finding], acks: Iterable[Acknowledgement]
) -> str:
    """cdk-nag.md: per pack that ran, its findings in this environment and its acknowledgements."""
    findings = sorted(f for f in findings if f.path.split("/", 1)[0] == environment)
    acks = sorted(acks)
    sections = [
        f"Packs run: {', '.join(packs)}. Unacknowledged findings: {len(findings)}. "
        "An acknowledgement applies to the construct and everything under it; "
        "the Resources column lists the logical ids it covers."
    ]
    for pack in packs:
        title = PACK_TITLES.get(pack, pack)
        pack_acks = [a for a in acks if a.source == NAG_SOURCE and a.pack == pack]
        pack_findings = [f for f in findings if f.pack == pack]
        sections.append(
            f"## {title} (`{pack}`)\n\n{_findings_section(pack_findings)}\n{_acknowledgements_section(pack_acks)}"
        )
    others = [a for a in acks if a.source != NAG_SOURCE]
    if others:
        rows = [[a.source, code(a.rule_id), code(a.path), a.reason] for a in others]
        sections.append(
            "## Other validation plugins\n\nAcknowledged rules of validation plugins other than cdk-nag "
            "(e.g. aws-cdk-lib's CloudFormation Validate).\n\n" + table(["Plugin", "Rule", "Construct", "Reason"], rows)
        )
    return document(f"cdk-nag: {environment}", *sections)
