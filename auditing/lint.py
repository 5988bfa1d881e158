"""cfn-lint over each synthesized template, reported per stack (the gate in tests/infra/test_gates.py
runs the same linter with the same regions and expects nothing)."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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


# Results by template: cfn-lint takes seconds per template, and the gates, the audit bundle and the pipeline's audit
# lint the same templates. A result is a function of the template's bytes, the regions and cfn-lint's version, which
# is the key; delete the folder to start over.
CACHE_DIR = Path(os.environ.get("CFN_LINT_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "cfn-lint"))


def _cache_key(path: Path, regions: Sequence[str]) -> str:
    from cfnlint.version import __version__  # type: ignore[import-untyped]

    digest = hashlib.sha256(f"{__version__}\0{','.join(regions)}\0".encode())
    digest.update(path.read_bytes())
    return digest.hexdigest()


def lint_template(path: Path, regions: Sequence[str] = LINT_REGIONS) -> list[LintFinding]:
    """Every cfn-lint match (errors, warnings and informational) for one template file, from the cache when this
    template was linted for these regions by this cfn-lint before."""
    cached = CACHE_DIR / f"{_cache_key(path, regions)}.json"
    if cached.exists():
        return _read(cached)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # One linter per template at a time: a parallel run (another test worker) linting the same bytes is waited for.
    with open(cached.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.exists():
            return _read(cached)
        findings = _lint(path, regions)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")  # written whole, then renamed: never half-read
        partial.write_text(json.dumps([asdict(f) for f in findings]), encoding="utf-8")
        partial.replace(cached)
    return findings


def _read(cached: Path) -> list[LintFinding]:
    return [LintFinding(**finding) for finding in json.loads(cached.read_text(encoding="utf-8"))]


@functools.cache
def _runner(regions: tuple[str, ...]) -> Any:
    """cfn-lint's runner for these regions, built once per process: building its rules is about 0.4 s, as long as
    linting a small template. cfn-lint's own command line lints every template it is given with one runner."""
    from cfnlint.config import ConfigMixIn  # type: ignore[import-untyped]
    from cfnlint.runner import Runner  # type: ignore[import-untyped]

    return Runner(ConfigMixIn([], regions=list(regions)))


def _lint(path: Path, regions: Sequence[str]) -> list[LintFinding]:
    """What ``cfnlint.api.lint_file(path, ManualArgs(regions=...))`` reports, through a runner built once."""
    from cfnlint.runner.template.runner import run_template_by_file_path  # type: ignore[import-untyped]

    runner = _runner(tuple(regions))
    matches = run_template_by_file_path(str(path), runner.config, runner.rules, ignore_bad_template=False)
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
