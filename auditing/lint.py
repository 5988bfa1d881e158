"""cfn-lint over each synthesized template, reported per stack (the gate in tests/infra/test_gates.py
runs the same linter with the same regions and expects nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditing.markdown import code, document, table

# Env-agnostic templates may deploy anywhere: lint them for the regions the gate uses.
LINT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


@dataclass(frozen=True, order=True)
class LintFinding:
    rule: str
    severity: str
    location: str
    line: int
    message: str


def lint_template(path: Path, regions: Sequence[str] = LINT_REGIONS) -> list[LintFinding]:
    """Every cfn-lint match (errors, warnings and informational) for one template file."""
    from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

    matches = lint_file(path, config=ManualArgs(regions=list(regions)))
    return sorted(
        LintFinding(
            m.rule.id, str(getattr(m.rule, "severity", "")), "/".join(str(p) for p in m.path), m.linenumber, m.message
        )
        for m in matches
    )


def render_lint(
    environment: str, results: Mapping[str, Sequence[LintFinding]], regions: Sequence[str] = LINT_REGIONS
) -> str:
    """cfn-lint.md: one section per stack, "no findings" when cfn-lint reported nothing."""
    total = sum(len(findings) for findings in results.values())
    summary = f"cfn-lint checked {len(results)} template(s) for regions {', '.join(regions)}: " + (
        "no findings." if total == 0 else f"{total} finding(s)."
    )
    sections = [summary]
    for stack_id in sorted(results):
        findings = sorted(results[stack_id])
        if not findings:
            sections.append(f"## {stack_id}\n\nno findings")
            continue
        rows = [[code(f.rule), f.severity, code(f.location), str(f.line), f.message] for f in findings]
        sections.append(f"## {stack_id}\n\n" + table(["Rule", "Severity", "Location", "Line", "Message"], rows))
    return document(f"cfn-lint: {environment}", *sections)
