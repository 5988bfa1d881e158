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
from auditing.markdown import code, code_list, document, table
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
    """``aws://<account>/<region>`` (every stack of a Stage shares it); ``unknown-*`` means the deploying
    credentials'."""
    return environment.stacks[0].environment if environment.stacks else ""


def _account(where: str) -> str:
    account = where.removeprefix("aws://").split("/")[0]
    return "" if account in ("", "unknown-account") else account


def _shared_account(environment: Environment, peers: Mapping[str, str], safety: Mapping[str, Any]) -> Risk:
    """IAM, and the CDK bootstrap's CloudFormation execution role, cover a whole account, whatever the Region: two
    environments in one account share deploy rights. An environment that pins no account deploys wherever the
    deploying credentials are, which the templates cannot tell: that is flagged too."""
    here = placement(environment)
    account = _account(here)
    others = {name: where for name, where in peers.items() if name != environment.name}
    if account:
        sharing = sorted(name for name, where in others.items() if _account(where) == account)
        where = f"account {code(account)}"
    else:
        sharing = sorted(name for name, where in others.items() if not _account(where))
        where = "the deploying credentials' account (none pinned)"
    acknowledged = set(safety.get("shares_account_with", []))
    if sharing:
        answer = f"{where}, shared with {code_list(sharing)}"
        answer += " (acknowledged in config: `shares_account_with`)" if set(sharing) <= acknowledged else ""
    else:
        answer = f"{where}, no other environment of this app names it" if not account else f"{where}, its own"
    return Risk(
        "Does another environment share its account (and so its deploy rights)?",
        RISK if sharing or not account else OK,
        answer,
        "iam.md (Isolation and data protection)",
    )


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
            code_list([f"{e.stack_id}/{e.logical_id}: {e.what}" for e in exposed]) if exposed else "nothing exposed",
            "network.md",
        )
    )
    if safety:
        found.append(_shared_account(environment, peers, safety))
    else:
        found.append(
            Risk(
                "Whose deploy rights does it hold?",
                RISK,
                "every environment's: the pipeline and the GitHub deploy roles assume the CDK bootstrap roles of each "
                "environment's account (`cdk bootstrap --trust`)",
                "iam.md",
            )
        )
    unretained = sorted(
        f"{stack.stack_id}/{logical_id}"
        for stack in environment.stacks
        for logical_id, resource in stack.template.get("Resources", {}).items()
        if is_stateful(resource) and resource.get("DeletionPolicy") not in RETAINING
    )
    decision = (
        f"removal_policy: {safety.get('removal_policy')}, "
        f"allow_data_deletion: {str(safety.get('allow_data_deletion')).lower()}"
        if safety
        else "no config: the delivery stacks"
    )
    found.append(
        Risk(
            "Is data deleted when its stack is?",
            RISK if unretained else OK,
            f"{len(unretained)} stateful resources are deleted with their stack ({decision}): {code_list(unretained)}"
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
            RISK if wildcard or nag_findings else OK,
            f"{len(wildcard)} of {len(roles)} roles have a wildcard, each acknowledged with its reason in "
            f"cdk-nag.md; unacknowledged cdk-nag findings: {nag_findings}",
            "iam.md, cdk-nag.md",
        )
    )
    rights = stop_and_delete_rows(roles)
    unlimited = sorted({row[0] for row in rights if RISK in row[2]})
    if safety:
        found.append(
            Risk(
                "May a role stop, delete, update or re-tag another environment's models, jobs or throughputs?",
                RISK if unlimited else OK,
                f"{len(unlimited)} role(s) may, in the whole account: {', '.join(unlimited)}"
                if unlimited
                else "no: each such right needs the environment's tag or names one resource",
                "iam.md (Isolation and data protection)",
            )
        )
    linted = Risk(
        "Do the templates pass cfn-lint?",
        RISK if lint_findings else OK,
        f"{lint_findings} findings" if lint_findings else "no findings",
        "cfn-lint.md",
    )
    if not safety:  # the delivery stacks: no config of their own
        return [*found, linted]
    acknowledged_changes = list(safety.get("acknowledged_replacements", []))
    found.append(
        Risk(
            "Which deletions or replacements of stateful resources has config acknowledged?",
            RISK if acknowledged_changes else OK,
            code_list(acknowledged_changes) if acknowledged_changes else "none",
            "docs/delivery.md (Replacement guard)",
        )
    )
    retired = list(safety.get("retired", []))
    found.append(
        Risk(
            "Which stacks are retired (deployed empty, to be destroyed)?",
            RISK if retired else OK,
            code_list(retired) if retired else "none",
            "docs/training-cluster.md (retiring a stack)",
        )
    )
    return [*found, linted]


def render_risks(name: str, found: Sequence[Risk]) -> str:
    flagged = sum(1 for r in found if r.status == RISK)
    return document(
        f"Risks: {name}",
        f"What an auditor asks first, answered from this environment's templates and config. {flagged} of "
        f"{len(found)} flagged {RISK} (a flag asks for a look, not necessarily a fix); {OK}: nothing to look at.",
        table(["Question", "", "Answer", "Detail"], [[r.question, r.status, r.answer, r.detail] for r in found]),
    )
