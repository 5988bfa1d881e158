"""IAM roles: who can assume each one and what it may do, with wildcards marked.

A role's permissions come from four places in a template: its inline ``Policies``, ``AWS::IAM::Policy``
resources that list it in ``Roles``, ``AWS::IAM::ManagedPolicy`` resources that list it in ``Roles``,
and ``ManagedPolicyArns`` (a customer managed policy of this app, possibly in another stack, or an AWS
managed policy shown by ARN). A statement is marked as a wildcard when it *allows* an action or a
resource that is ``*`` or contains ``*`` (``NotAction``/``NotResource`` count as wildcards); ``Deny``
statements narrow access and are never marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditing.cfn import Resource, TemplateSet, as_list
from auditing.markdown import code, code_list, document, table

WILDCARD = "⚠ wildcard"


@dataclass(frozen=True)
class Statement:
    """One policy statement, rendered: references shown as logical ids."""

    source: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: str = ""

    @property
    def wildcard_actions(self) -> tuple[str, ...]:
        return (
            tuple(a for a in self.actions if "*" in a or a.startswith("NotAction:")) if self.effect == "Allow" else ()
        )

    @property
    def wildcard_resources(self) -> tuple[str, ...]:
        if self.effect != "Allow":
            return ()
        return tuple(r for r in self.resources if "*" in r or r.startswith("NotResource:"))

    @property
    def wildcard(self) -> bool:
        return bool(self.wildcard_actions or self.wildcard_resources)


@dataclass(frozen=True)
class TrustStatement:
    """One statement of the role's trust policy: principals, the sts actions, and its conditions."""

    effect: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    conditions: str = ""


@dataclass(frozen=True)
class RoleReport:
    stack_id: str
    logical_id: str
    path: str
    trust: tuple[TrustStatement, ...]
    managed_policy_arns: tuple[str, ...]
    statements: tuple[Statement, ...]

    @property
    def wildcard(self) -> bool:
        return any(s.wildcard for s in self.statements)


def _show(templates: TemplateSet, stack_id: str, value: Any) -> str:
    """References as ``Stack/LogicalId``: a role's table mixes policies from several stacks."""
    return templates.display(stack_id, value, qualified=True)


def summarize_conditions(templates: TemplateSet, stack_id: str, condition: Any) -> str:
    """``{"StringEquals": {"aws:SourceAccount": "1"}}`` -> ``StringEquals aws:SourceAccount=1``."""
    if not isinstance(condition, Mapping):
        return ""
    parts = []
    for operator in sorted(condition):
        block = condition[operator]
        if not isinstance(block, Mapping):
            parts.append(f"{operator} {_show(templates, stack_id, block)}")
            continue
        for key in sorted(block):
            values = ",".join(_show(templates, stack_id, v) for v in as_list(block[key]))
            parts.append(f"{operator} {key}={values}")
    return "; ".join(parts)


def principals(templates: TemplateSet, stack_id: str, principal: Any) -> tuple[str, ...]:
    """``{"Service": "x"}`` -> ``("Service: x",)``; a bare ``*`` is anyone."""
    if principal == "*":
        return ("* (anyone)",)
    if not isinstance(principal, Mapping):
        return (_show(templates, stack_id, principal),)
    found = []
    for kind in sorted(principal):
        for value in as_list(principal[kind]):
            found.append(f"{kind}: {_show(templates, stack_id, value)}")
    return tuple(found)


def _statements(templates: TemplateSet, stack_id: str, document_: Any, source: str) -> list[Statement]:
    found = []
    statements = document_.get("Statement", []) if isinstance(document_, Mapping) else []
    for statement in as_list(statements):
        if not isinstance(statement, Mapping):
            continue
        actions = [_show(templates, stack_id, a) for a in as_list(statement.get("Action"))]
        actions += [f"NotAction: {_show(templates, stack_id, a)}" for a in as_list(statement.get("NotAction"))]
        resources = [_show(templates, stack_id, r) for r in as_list(statement.get("Resource"))]
        resources += [f"NotResource: {_show(templates, stack_id, r)}" for r in as_list(statement.get("NotResource"))]
        found.append(
            Statement(
                source,
                str(statement.get("Effect", "Allow")),
                tuple(sorted(set(actions))),
                tuple(sorted(set(resources))),
                summarize_conditions(templates, stack_id, statement.get("Condition")),
            )
        )
    return found


def _policy_statements(templates: TemplateSet, policy: Resource, label: str) -> list[Statement]:
    return _statements(templates, policy.stack_id, policy.properties.get("PolicyDocument"), f"{label} {policy.ref}")


def _attached_to(templates: TemplateSet, policy: Resource, role: Resource) -> bool:
    for value in as_list(policy.properties.get("Roles")):
        target = templates.target(policy.stack_id, value)
        if target and (target.stack_id, target.logical_id) == (role.stack_id, role.logical_id):
            return True
    return False


def _path(templates: TemplateSet, resource: Resource) -> str:
    body = templates.stack(resource.stack_id).resources[resource.logical_id]
    return str(body.get("Metadata", {}).get("aws:cdk:path", ""))


def role_report(templates: TemplateSet, role: Resource) -> RoleReport:
    props = role.properties
    trust = tuple(
        TrustStatement(
            str(s.get("Effect", "Allow")),
            principals(templates, role.stack_id, s.get("Principal")),
            tuple(sorted(_show(templates, role.stack_id, a) for a in as_list(s.get("Action")))),
            summarize_conditions(templates, role.stack_id, s.get("Condition")),
        )
        for s in as_list(props.get("AssumeRolePolicyDocument", {}).get("Statement"))
        if isinstance(s, Mapping)
    )
    statements: list[Statement] = []
    for index, inline in enumerate(as_list(props.get("Policies"))):
        name = _show(templates, role.stack_id, inline.get("PolicyName", index))
        statements += _statements(templates, role.stack_id, inline.get("PolicyDocument"), f"inline {name}")
    managed: set[tuple[str, str]] = set()
    for policy in templates.resources("AWS::IAM::Policy"):
        if _attached_to(templates, policy, role):
            statements += _policy_statements(templates, policy, "AWS::IAM::Policy")
    for policy in templates.resources("AWS::IAM::ManagedPolicy"):
        if _attached_to(templates, policy, role):
            managed.add((policy.stack_id, policy.logical_id))
    arns = []
    for value in as_list(props.get("ManagedPolicyArns")):
        target = templates.target(role.stack_id, value)
        resource = templates.resource(target.stack_id, target.logical_id) if target else None
        if resource is not None and resource.type == "AWS::IAM::ManagedPolicy":
            managed.add((resource.stack_id, resource.logical_id))
        else:
            arns.append(_show(templates, role.stack_id, value))
    for stack_id, logical_id in sorted(managed):
        managed_policy = templates.resource(stack_id, logical_id)
        if managed_policy is not None:
            statements += _policy_statements(templates, managed_policy, "AWS::IAM::ManagedPolicy")
    return RoleReport(
        role.stack_id, role.logical_id, _path(templates, role), trust, tuple(sorted(set(arns))), tuple(statements)
    )


def role_reports(templates: TemplateSet) -> list[RoleReport]:
    """Every ``AWS::IAM::Role`` of the environment, ordered by stack then logical id."""
    return [role_report(templates, role) for role in templates.resources("AWS::IAM::Role")]


def _wildcard_cell(statement: Statement) -> str:
    marks = [
        *(["action"] if statement.wildcard_actions else []),
        *(["resource"] if statement.wildcard_resources else []),
    ]
    return f"{WILDCARD} ({', '.join(marks)})" if marks else ""


def render_role(report: RoleReport) -> str:
    lines = [f"## {report.stack_id}/{report.logical_id}", ""]
    if report.path:
        lines += [f"Construct: {code(report.path)}", ""]
    trust_rows = [
        [t.effect, code_list(t.principals), code_list(t.actions), code(t.conditions) or "none"] for t in report.trust
    ]
    lines += ["Assumed by:", "", table(["Effect", "Principal", "Actions", "Conditions"], trust_rows)]
    if report.managed_policy_arns:
        lines += ["AWS managed policies (or others not defined in this app):", ""]
        lines += [f"- {code(arn)}" for arn in report.managed_policy_arns] + [""]
    if report.statements:
        rows = [
            [s.source, s.effect, code_list(s.actions), code_list(s.resources), code(s.conditions), _wildcard_cell(s)]
            for s in report.statements
        ]
        lines += [
            "Permissions:",
            "",
            table(["Source", "Effect", "Actions", "Resources", "Conditions", "Wildcard"], rows),
        ]
    else:
        lines += ["Permissions: none besides the managed policies above.", ""]
    return "\n".join(lines)


# What one environment could do to another's models and jobs in a shared account, and the tag that prevents it.
# Deleting or stopping, and what takes a resource over first (re-tagging it, pointing it at another model).
DESTRUCTIVE_PREFIXES = (
    "bedrock:Delete",
    "bedrock:Stop",
    "sagemaker:Delete",
    "sagemaker:Stop",
    "bedrock:Update",
    "bedrock:TagResource",
    "bedrock:UntagResource",
)
ENVIRONMENT_RESOURCE_TAG = "aws:ResourceTag/environment"


def stop_and_delete_rows(reports: list[RoleReport]) -> list[list[str]]:
    """Per role, the Bedrock and SageMaker rights that could end or take over a resource, and whether they are
    limited to resources that carry its environment's tag (by the Allow's condition, or by a Deny of any other tag).
    IAM action names are case-insensitive (aws-cdk-lib writes a Step Functions SDK task's as ``bedrock:deleteX``)."""
    prefixes = tuple(p.lower() for p in DESTRUCTIVE_PREFIXES)
    rows = []
    for report in reports:
        denied = {
            action.lower()
            for s in report.statements
            if s.effect == "Deny" and f"StringNotEquals {ENVIRONMENT_RESOURCE_TAG}=" in s.conditions
            for action in s.actions
        }
        for statement in report.statements:
            actions = [
                a
                for a in statement.actions
                if a.lower().startswith(prefixes) or a in ("*", "bedrock:*", "sagemaker:*") or a.startswith("NotAction")
            ]
            if statement.effect != "Allow" or not actions:
                continue
            limited = f"StringEquals {ENVIRONMENT_RESOURCE_TAG}=" in statement.conditions
            # One named resource (a throughput's own ARN, say) is limited by its name.
            named = all("*" not in r and not r.startswith("NotResource") for r in statement.resources)
            tagged = limited or {a.lower() for a in actions} <= denied
            if tagged:
                answer = f"its environment's tag ({code(ENVIRONMENT_RESOURCE_TAG)})"
            else:
                answer = "the named resource only" if named else "⚠ any in the account"
            rows.append([code(f"{report.stack_id}/{report.logical_id}"), code_list(actions), answer])
    return rows


def isolation_section(templates: TemplateSet, reports: list[RoleReport]) -> str:
    """Which CDK bootstrap the stacks deploy through (its roles are the deploy rights), what the roles may stop or
    delete (another environment's models, in a shared account?), and what the nodes can do to the datasets through
    FSx (an exporting link would let them change the bucket IAM keeps read-only)."""
    qualifiers = sorted(
        {
            str(stack.template.get("Parameters", {}).get("BootstrapVersion", {}).get("Default", "")).split("/")[2]
            for stack in templates.stacks
            if "BootstrapVersion" in stack.template.get("Parameters", {})
        }
    )
    rows = []
    for link in templates.resources("AWS::FSx::DataRepositoryAssociation"):
        s3 = link.properties.get("S3", {})
        # A policy with no events is none (the datasets link says so explicitly).
        directions = [
            name
            for name, key in (("import", "AutoImportPolicy"), ("export", "AutoExportPolicy"))
            if s3.get(key, {}).get("Events")
        ]
        rows.append(
            [
                code(link.properties.get("FileSystemPath", "")),
                code(templates.display(link.stack_id, link.properties.get("DataRepositoryPath"), qualified=True)),
                " and ".join(directions) or "none",
            ]
        )
    stop = stop_and_delete_rows(reports)
    lines = [
        "## Isolation and data protection",
        "",
        "Deploys through the CDK bootstrap " + ", ".join(code(q) for q in qualifiers) + " (roles `cdk-<qualifier>-*`): "
        "environments sharing an account and Region share deploy rights whatever their bootstraps, which config "
        "refuses unless each names the others (`shares_account_with`).",
        "",
        "Stop, delete, update and re-tag rights on models, jobs, deployments and throughputs (what the environment "
        "creates carries its `environment` tag):",
        "",
        table(["Role", "Actions", "Limited to"], stop) if stop else "None.",
        "",
        "FSx for Lustre links (a datasets link that exports would let any node change the datasets bucket):",
        "",
        table(["File system path", "Bucket", "Direction"], rows) if rows else "No file system links.",
    ]
    return "\n".join(lines)


def render_iam(environment: str, templates: TemplateSet) -> str:
    """iam.md: a summary table of every role, then each role's trust and permissions."""
    reports = role_reports(templates)
    summary_rows = [
        [
            code(f"{r.stack_id}/{r.logical_id}"),
            ", ".join(code(p) for t in r.trust for p in t.principals),
            str(len(r.statements)),
            str(len(r.managed_policy_arns)),
            WILDCARD if r.wildcard else "",
        ]
        for r in reports
    ]
    wildcards = sum(1 for r in reports if r.wildcard)
    intro = (
        f"{len(reports)} roles; {wildcards} with a wildcard (an Allow statement whose action or resource is `*` "
        "or contains `*`). References are shown as logical ids (`Stack/LogicalId.Attribute` across stacks); "
        "AWS managed policies are listed by ARN, their contents are AWS's."
    )
    table_ = table(["Role", "Assumed by", "Statements", "AWS managed policies", "Wildcard"], summary_rows)
    return document(
        f"IAM roles: {environment}",
        intro,
        table_,
        isolation_section(templates, reports),
        *[render_role(r) for r in reports],
    )
