"""The cdk-nag packs that gate every synth of the app.

cdk-nag 3 plugins validate the whole cloud assembly whatever scope registers them, so
they are registered once, on the app: AwsSolutions always, NIST 800-53 R5 on request
(``-c nist=true``), for every environment at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks


def nag_packs(app: cdk.App, *, nist_800_53_r5: bool) -> list[NagPack]:
    packs: list[NagPack] = [AwsSolutionsChecks(app)]
    if nist_800_53_r5:
        packs.append(NIST80053R5Checks(app))
    return packs


def add_security_gates(app: cdk.App, *, nist_800_53_r5: bool) -> None:
    cdk.Validations.of(app).add_plugins(*nag_packs(app, nist_800_53_r5=nist_800_53_r5))


VALIDATION_REPORT = "validation-report.json"


def gate_failures(outdir: str) -> list[str]:
    """What any validation plugin found (the packs, and aws-cdk-lib's CloudFormation validation, whose errors
    cdk.json's ``validateAgainstDefaultRules`` makes failures), from the report synthesis writes to the assembly:
    every plugin that did not succeed counts (the CLI probe in test_hermetic_synth fails if only the packs did).
    Under the CDK CLI the app runs as a subprocess, and aws-cdk-lib then reports a failed validation only by setting
    its Node process's exit code, which jsii does not pass on to Python: without this check ``cdk synth`` would
    succeed with findings (aws-cdk-lib 2.275 core/lib/private/synthesis-validation.js, "appMode")."""
    report = Path(outdir) / VALIDATION_REPORT
    if not report.exists():
        return []
    found = []
    for plugin in json.loads(report.read_text(encoding="utf-8")).get("pluginReports", []):
        if plugin.get("conclusion") == "success":
            continue
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                found.append(f"{violation.get('ruleName')}: {construct.get('constructPath')}")
    return sorted(found)
