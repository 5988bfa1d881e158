"""risks.md: the questions an auditor asks first, each with its answer for this environment and where the detail is.

Public endpoints, shared accounts, what is deleted with its stack, wildcard permissions, who may stop or delete
another environment's models, and the deletions and replacements config acknowledges. The answers come from the
templates and from the config decisions the Stage records in the assembly (``SAFETY_METADATA`` on its Network
stack), so the page is a function of the assembly like the rest of the bundle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditing.assembly import Environment
from auditing.iam import role_reports, stop_and_delete_rows
from auditing.markdown import code, document, table
from auditing.network import EXPOSED, exposures
from auditing.replacements import RETAINING, is_stateful
from config.model import SAFETY_METADATA

OK = "✓"
RISK = "⚠"


@dataclass(frozen=True)
class Risk:
    question: str
    status: str  # OK or RISK
    answer: str
    detail: str  # the report that has the detail


def safety_record(environment: Environment) -> Mapping[str, Any]:
    """What the Stage recorded of its config (empty for the delivery stacks, which have none)."""
    for stack in environment.stacks:
        for entries in stack.metadata.values():
            for entry in entries:
                if entry.get("type") == SAFETY_METADATA:
                    data: Mapping[str, Any] = entry.get("data", {})
                    return data
    return {}


def placement(environment: Environment) -> str:
    """``aws://<account>/<region>``; ``unknown-*`` means the deploying credentials'."""
    return environment.stacks[0].environment if environment.stacks else ""


def _listed(values: Sequence[str]) -> str:
    return ", ".join(code(v) for v in values)


def risks(environment: Environment, peers: Mapping[str, str], *, nag_findings: int, lint_findings: int) -> list[Risk]:
    """``peers``: every environment of the assembly -> its placement, to find those sharing this one's."""
    templates = environment.templates
    safety = safety_record(environment)
    found = []
    exposed = [e for e in exposures(templates) if e.status == EXPOSED]
    found.append(
        Risk(
            "Is anything reachable from the internet?",
            RISK if exposed else OK,
            _listed([f"{e.stack_id}/{e.logical_id}: {e.what}" for e in exposed]) if exposed else "nothing exposed",
            "network.md",
        )
    )
    here = placement(environment)
    sharing = sorted(name for name, where in peers.items() if where == here and name != environment.name)
    acknowledged = set(safety.get("shares_account_with", []))
    where = "the deploying credentials' account and Region" if "unknown" in here else code(here)
    found.append(
        Risk(
            "Does another environment share its account and Region (and so its deploy rights)?",
            RISK if sharing else OK,
            f"{where}, shared with {_listed(sharing)}"
            + (" (acknowledged in config: `shares_account_with`)" if set(sharing) <= acknowledged else "")
            if sharing
            else f"{where}, its own",
            "iam.md (Isolation and data protection)",
        )
    )
    unretained = sorted(
        f"{stack.stack_id}/{logical_id}"
        for stack in environment.stacks
        for logical_id, resource in stack.template.get("Resources", {}).items()
        if is_stateful(resource) and resource.get("DeletionPolicy") not in RETAINING
    )
    decision = (
        f"removal_policy: {safety.get('removal_policy')}, allow_data_deletion: {safety.get('allow_data_deletion')}"
        if safety
        else ""
    )
    found.append(
        Risk(
            "Is data deleted when its stack is?",
            RISK if unretained else OK,
            f"{len(unretained)} stateful resources are deleted with their stack ({decision}): {_listed(unretained)}"
            if unretained
            else "every stateful resource is retained",
            "inventory.md, templates/",
        )
    )
    if safety:
        found.append(
            Risk(
                "Is the environment protected from data deletion?",
                OK if safety.get("protected") else RISK,
                "yes (`protected: true`: config refuses `removal_policy: destroy`)"
                if safety.get("protected")
                else "no (`protected: false`)",
                "config/environments/",
            )
        )
    roles = role_reports(templates)
    wildcard = sorted(f"{r.stack_id}/{r.logical_id}" for r in roles if r.wildcard)
    found.append(
        Risk(
            "Do roles hold wildcard permissions, and are they reviewed?",
            RISK if nag_findings else OK,
            f"{len(wildcard)} of {len(roles)} roles have a wildcard; unacknowledged cdk-nag findings: {nag_findings}",
            "iam.md, cdk-nag.md",
        )
    )
    unlimited = [row for row in stop_and_delete_rows(roles) if RISK in row[2]]
    found.append(
        Risk(
            "May a role stop or delete another environment's models, jobs or throughputs?",
            RISK if unlimited else OK,
            f"{len(unlimited)} roles may, in the whole account" if unlimited else "no: every such right needs its tag",
            "iam.md (Isolation and data protection)",
        )
    )
    acknowledged_changes = list(safety.get("acknowledged_replacements", []))
    found.append(
        Risk(
            "Which deletions or replacements of stateful resources has config acknowledged?",
            RISK if acknowledged_changes else OK,
            _listed(acknowledged_changes) if acknowledged_changes else "none",
            "docs/delivery.md (Replacement guard)",
        )
    )
    retired = list(safety.get("retired", []))
    found.append(
        Risk(
            "Which stacks are retired (deployed empty, to be destroyed)?",
            RISK if retired else OK,
            _listed(retired) if retired else "none",
            "docs/training-cluster.md (retiring a stack)",
        )
    )
    found.append(
        Risk(
            "Do the templates pass cfn-lint?",
            RISK if lint_findings else OK,
            f"{lint_findings} findings" if lint_findings else "no findings",
            "cfn-lint.md",
        )
    )
    return found


def render_risks(name: str, found: Sequence[Risk]) -> str:
    flagged = sum(1 for r in found if r.status == RISK)
    return document(
        f"Risks: {name}",
        f"What an auditor asks first, answered from this environment's templates and config. {flagged} of "
        f"{len(found)} flagged {RISK} (a flag asks for a look, not necessarily a fix); {OK}: nothing to look at.",
        table(["Question", "", "Answer", "Detail"], [[r.question, r.status, r.answer, r.detail] for r in found]),
    )
