"""One way to acknowledge a cdk-nag finding: on the narrowest construct, with a reason a reviewer can check."""

from __future__ import annotations

import aws_cdk as cdk

from constructs import IConstruct


def acknowledge(construct: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge ``rule_ids`` (e.g. ``AwsSolutions-S1``) on ``construct`` and its children."""
    validations = cdk.Validations.of(construct)
    for rule_id in rule_ids:
        validations.acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
