"""The cdk-nag packs that gate every synth of the app.

cdk-nag 3 plugins validate the whole cloud assembly whatever scope registers them, so
they are registered once, on the app: AwsSolutions always, NIST 800-53 R5 on request
(``-c nist=true``), for every environment at once.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks


def nag_packs(app: cdk.App, *, nist_800_53_r5: bool) -> list[NagPack]:
    packs: list[NagPack] = [AwsSolutionsChecks(app)]
    if nist_800_53_r5:
        packs.append(NIST80053R5Checks(app))
    return packs


def add_security_gates(app: cdk.App, *, nist_800_53_r5: bool) -> None:
    cdk.Validations.of(app).add_plugins(*nag_packs(app, nist_800_53_r5=nist_800_53_r5))
