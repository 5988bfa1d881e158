"""Synthesizes the app once, without the blocking gate, and records what the cdk-nag packs report.

The gate (``stacks/security_gates.py``, the same packs) makes synth fail on a finding; an audit must instead *show*
the findings, so the app is built with ``gates=False`` and each pack's ``validate_scope`` report is
written next to the assembly as ``audit-nag-findings.json``. Everything else the bundle needs is in the
assembly itself, so ``write_bundle`` only reads files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

NAG_FINDINGS_FILE = "audit-nag-findings.json"
REPO = Path(__file__).resolve().parent.parent


def synthesize(outdir: Path, *, config_dir: Path | None = None, nist: bool = False) -> Path:
    """Synthesize every environment into ``outdir`` and return it (the cloud assembly directory)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    # app.py, config/ and stacks/ import from the repository root, as under `cdk synth`.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from app import build_app

    context = {"config_dir": str(config_dir)} if config_dir else {}
    context |= delivery_context(config_dir)
    app = build_app(context=context, outdir=str(outdir), gates=False)
    app.synth()
    record_nag_findings(app, outdir, nist=nist)
    return outdir


def delivery_context(config_dir: Path | None) -> dict[str, str]:
    """The delivery stacks audited with the environments: the pipeline from config/pipeline.yaml, or from the example
    when there is none (the pipeline's waves name the committed environments, so only with those), and the GitHub
    deploy roles for the ``github_repository`` of cdk.json's context, or the pipeline file's repository."""
    import yaml

    from app import project_context
    from config.loader import PIPELINE_EXAMPLE, PIPELINE_FILE

    context: dict[str, str] = {}
    pipeline = PIPELINE_FILE if PIPELINE_FILE.exists() else PIPELINE_EXAMPLE
    if config_dir is None:
        context["pipeline_config"] = str(pipeline)
    repository = project_context().get("github_repository") or yaml.safe_load(pipeline.read_text())["repository"]
    context["github_repository"] = str(repository)
    return context


def record_nag_findings(app: Any, outdir: Path, *, nist: bool = False) -> None:
    """Run the packs over an already synthesized app and write their report next to its assembly."""
    from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks

    packs: list[NagPack] = [AwsSolutionsChecks(), *([NIST80053R5Checks()] if nist else [])]
    findings: list[dict[str, Any]] = []
    for pack in packs:
        report = pack.validate_scope(app)
        for violation in report.violations:
            for resource in violation.violating_resources:
                findings.append(
                    {
                        "pack": pack.name,
                        "rule": violation.rule_name,
                        "severity": str(violation.severity),
                        "description": violation.description,
                        "path": resource.construct_path,
                    }
                )
    findings.sort(key=lambda f: (f["pack"], f["path"], f["rule"]))
    record = {"packs": [pack.name for pack in packs], "findings": findings}
    (outdir / NAG_FINDINGS_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
