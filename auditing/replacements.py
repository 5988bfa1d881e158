"""The replacement guard: which stateful resources a change would delete or replace, and whether config says so.

A reviewer sees a renamed bucket or a moved file system only as a line in a long snapshot diff. This compares the
templates of a change with a base (what is, or will be, deployed: the merge-base's synthesized templates in a pull
request, or the templates CloudFormation holds for a stage's stacks before it deploys) and reports, per environment:

- a stateful resource whose logical id is gone (CloudFormation deletes it; a new id is a new resource);
- a change to a property CloudFormation must replace the resource for: the resource schema's ``createOnlyProperties``
  (cfn-lint ships the schemas), and the few the CloudFormation documentation marks "Update requires: Replacement"
  beyond them (``EXTRA_REPLACING``, cited there).

A finding passes when the environment's config lists it under ``acknowledged_replacements`` as
``<stack>/<logical id>`` (a deletion) or ``<stack>/<logical id>/<property path>``; an acknowledgement with no finding is
stale (its change is in the base already) and is reported so that it can be removed.

``python -m auditing.replacements --base <assembly> --new <assembly>`` compares two synthesized assemblies;
``--base-ref <git ref>`` synthesizes the merge-base with that ref in a temporary worktree first (``make
replacement-guard``); ``--deployed <environment> --new <assembly>`` takes as the base what CloudFormation holds for
that environment's stacks (the pipeline's step before each stage). Exit code 1 when a finding is not acknowledged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from auditing.assembly import AssemblyStack, Environment, load_environments

STATEFUL_TYPES = (
    "AWS::S3::Bucket",
    "AWS::FSx::FileSystem",
    "AWS::DynamoDB::Table",
    "AWS::KMS::Key",
    "AWS::SageMaker::Cluster",
    "AWS::EKS::Cluster",
    "AWS::Cognito::UserPool",
    "AWS::BedrockAgentCore::Memory",
    "AWS::Logs::LogGroup",  # when encrypted: its content is readable only with its key
    # Not data, but a replacement buys a new throughput (with a commitment, a new term) or deployment.
    "Custom::BedrockServedModel",
)
# "Update requires: Replacement" in the CloudFormation documentation beyond the schemas' createOnlyProperties
# (AWS::FSx::FileSystem LustreConfiguration DeploymentType and StorageType; AWS::KMS::Key KeySpec and KeyUsage;
# AWS::DynamoDB::Table KeySchema and LocalSecondaryIndexes, "a local secondary index can only be created when its
# parent table is created"; AWS::Cognito::UserPool AliasAttributes and UsernameAttributes, the sign-in options the
# Cognito developer guide lists under "Settings you can't change" in "Updating user pool and app client
# configuration"), and what lambda/bedrock_serving replaces rather than updates (kinds.py updates_in_place: the
# kind, the name prefix, a throughput's model units and commitment; a model of another base is known only live).
EXTRA_REPLACING: Mapping[str, tuple[str, ...]] = {
    "AWS::FSx::FileSystem": ("LustreConfiguration/DeploymentType", "StorageType"),
    "AWS::KMS::Key": ("KeySpec", "KeyUsage"),
    "AWS::DynamoDB::Table": ("KeySchema", "LocalSecondaryIndexes"),
    "AWS::Cognito::UserPool": ("AliasAttributes", "UsernameAttributes"),
    "Custom::BedrockServedModel": ("Kind", "NamePrefix", "ModelUnits", "CommitmentDuration"),
}
# A stateful resource that stops being retained is one stack deletion away from being lost: reported as a change of
# these resource attributes to Delete (or to nothing, which is Delete for these types).
RETENTION_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy")
RETAINING = ("Retain", "RetainExceptOnCreate", "Snapshot")
STACK = "AWS::CloudFormation::Stack"


@dataclass(frozen=True)
class Finding:
    environment: str
    stack: str
    logical_id: str
    resource_type: str
    property_path: str | None  # None: the resource is deleted

    @property
    def key(self) -> str:
        return f"{self.stack}/{self.logical_id}" + (f"/{self.property_path}" if self.property_path else "")

    def __str__(self) -> str:
        if self.resource_type == STACK:
            return (
                f"{self.environment}: stack {self.stack} left the app with its resources; `cdk deploy` never deletes "
                "it, so they would keep running unseen: list it under `retired:` instead (an acknowledgement cannot "
                "pass this)"
            )
        if self.property_path in RETENTION_ATTRIBUTES:
            what = f"deleted with its stack or on replacement ({self.property_path} no longer retains it)"
        else:
            what = f"replaced ({self.property_path} changes)" if self.property_path else "deleted"
        return f"{self.environment}: {self.key} ({self.resource_type}) would be {what}"


@cache
def create_only_paths(resource_type: str) -> tuple[str, ...]:
    """The schema's createOnlyProperties (``/properties/A/B`` -> ``A/B``), and the documented extras."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

    # Custom resources get cfn-lint's generic schema.
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    paths = [p.removeprefix("/properties/") for p in schema.get("createOnlyProperties", [])]
    return tuple(dict.fromkeys([*paths, *EXTRA_REPLACING.get(resource_type, ())]))


def _at(properties: Mapping[str, Any], path: str) -> Any:
    value: Any = properties
    for part in path.split("/"):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def is_stateful(resource: Mapping[str, Any]) -> bool:
    kind = resource.get("Type")
    if kind == "AWS::Logs::LogGroup":
        return "KmsKeyId" in resource.get("Properties", {})
    return kind in STATEFUL_TYPES


def _changed_paths(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [
        path
        for path in create_only_paths(kind)
        if json.dumps(_at(before, path), sort_keys=True) != json.dumps(_at(after, path), sort_keys=True)
    ]


def _references(value: Any) -> Iterator[tuple[str, str]]:
    """What a template value points at: ("Ref", logical id) or ("Output", output name) of another stack."""
    if isinstance(value, Mapping):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield "Ref", value["Ref"]
        elif "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            yield "Ref", str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        elif "Fn::GetStackOutput" in value:
            yield "Output", str(value["Fn::GetStackOutput"].get("OutputName", ""))
        else:
            for item in value.values():
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _resources_of(template: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    resources: Mapping[str, Mapping[str, Any]] = template.get("Resources", {})
    return resources


def compare(base: Iterable[Environment], new: Iterable[Environment]) -> list[Finding]:
    """Stateful resources of ``base`` that ``new`` deletes or replaces (environments and stacks matched by name),
    including those replaced through a reference: a create-only property that refers to a resource being replaced
    (in its stack, or in another through an output) gets a new value when that stack next updates, although its own
    template text is unchanged (the CDK's cross-stack references are Fn::GetStackOutput)."""
    new_by_env = {env.name: {stack.stack_id: stack.template for stack in env.stacks} for env in new}
    findings = []
    for env in base:
        before = {stack.stack_id: stack.template for stack in env.stacks}
        findings += _environment_findings(env.name, before, new_by_env.get(env.name, {}))
    return findings


def _environment_findings(
    environment: str, before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[Finding]:
    replaced: dict[tuple[str, str], str] = {}  # (stack, logical id) -> why
    found: dict[tuple[str, str, str | None], Finding] = {}

    def replace(stack: str, logical_id: str, kind: str, path: str | None, why: str) -> None:
        replaced.setdefault((stack, logical_id), why)
        if is_stateful(_resources_of(before[stack])[logical_id]):
            found.setdefault((stack, logical_id, path), Finding(environment, stack, logical_id, kind, path))

    for stack, template in before.items():
        if stack not in after:
            if any(r.get("Type") != "AWS::CDK::Metadata" for r in _resources_of(template).values()):
                found[(stack, "", None)] = Finding(environment, stack, "", STACK, None)
            continue
        later = _resources_of(after[stack])
        for logical_id, resource in sorted(_resources_of(template).items()):
            kind = str(resource.get("Type"))
            if logical_id not in later or later[logical_id].get("Type") != kind:
                replace(stack, logical_id, kind, None, "deleted")
                continue
            for path in _changed_paths(kind, resource.get("Properties", {}), later[logical_id].get("Properties", {})):
                replace(stack, logical_id, kind, path, path)
            for attribute in RETENTION_ATTRIBUTES:
                kept = resource.get(attribute) in RETAINING
                if is_stateful(resource) and kept and later[logical_id].get(attribute) not in RETAINING:
                    found.setdefault(
                        (stack, logical_id, attribute), Finding(environment, stack, logical_id, kind, attribute)
                    )
    # Outputs of each stack (after the change) and the resources they expose.
    exposes = {
        name: (stack, {target for kind, target in _references(output.get("Value")) if kind == "Ref"})
        for stack, template in after.items()
        for name, output in template.get("Outputs", {}).items()
    }
    grown = True
    while grown:  # until nothing more is replaced through a reference
        grown = False
        for stack, template in before.items():
            later = _resources_of(after.get(stack, {}))
            for logical_id, resource in sorted(_resources_of(template).items()):
                if (stack, logical_id) in replaced or logical_id not in later:
                    continue
                kind = str(resource.get("Type"))
                for path in create_only_paths(kind):
                    for how, target in _references(_at(later[logical_id].get("Properties", {}), path)):
                        if how == "Ref":
                            sources = [(stack, target)]
                        else:
                            owner, targets = exposes.get(target, ("", set()))
                            sources = [(owner, t) for t in targets]
                        through = [source for source in sources if source in replaced]
                        if through and (stack, logical_id) not in replaced:
                            replace(stack, logical_id, kind, path, "through " + "/".join(through[0]))
                            grown = True
    return sorted(found.values(), key=lambda f: (f.stack, f.logical_id, f.property_path or ""))


@dataclass(frozen=True)
class Verdict:
    unacknowledged: tuple[Finding, ...]
    acknowledged: tuple[Finding, ...]
    stale: tuple[tuple[str, str], ...]  # (environment, acknowledgement) with no finding

    @property
    def passed(self) -> bool:
        return not self.unacknowledged

    def report(self) -> str:
        lines = [f"not acknowledged: {f}" for f in self.unacknowledged]
        lines += [f"acknowledged: {f}" for f in self.acknowledged]
        lines += [
            f"stale acknowledgement: {env}: {key} (no such change against the base; remove it)"
            for env, key in self.stale
        ]
        return "\n".join(lines) or "no stateful resource is deleted or replaced"


def judge(findings: Sequence[Finding], acknowledgements: Mapping[str, Sequence[str]]) -> Verdict:
    """``acknowledgements``: per environment, the ``acknowledged_replacements`` of its config."""
    keys = {(f.environment, f.key) for f in findings}
    acknowledged = {(env, key) for env, keys_ in acknowledgements.items() for key in keys_}

    def passes(finding: Finding) -> bool:  # a stack that left the app is retired, never acknowledged
        return finding.resource_type != STACK and (finding.environment, finding.key) in acknowledged

    return Verdict(
        unacknowledged=tuple(f for f in findings if not passes(f)),
        acknowledged=tuple(f for f in findings if passes(f)),
        stale=tuple(sorted(acknowledged - keys)),
    )


def deployed_templates(cloudformation: Any, stack_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What CloudFormation holds for these stacks (the base before a pipeline stage deploys); a stack that does not
    exist yet has nothing to replace and is left out."""
    templates = {}
    for name in stack_names:
        try:
            body = cloudformation.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        except cloudformation.exceptions.ClientError as error:
            if "does not exist" in str(error):
                continue
            raise
        templates[name] = body if isinstance(body, dict) else json.loads(body)
    return templates


GUARD_SESSION = "replacement-guard"
UNKNOWN = ("", "unknown-account", "unknown-region")


def lookup_role(stack: AssemblyStack, caller: Mapping[str, str], default_region: str) -> tuple[str, str]:
    """(the CDK bootstrap lookup role's ARN, the Region) of ``stack``; an environment-agnostic stack deploys where the
    caller's credentials are (``caller``: GetCallerIdentity's response). The lookup role has AWS's ReadOnlyAccess
    (cloudformation:GetTemplate among it) and trusts the bootstrapped account and those given to ``cdk bootstrap
    --trust``, without an external id (the aws-cdk CLI's bootstrap-template.yaml, LookupRole)."""
    account, _, region = stack.environment.removeprefix("aws://").partition("/")
    account = caller["Account"] if account in UNKNOWN else account
    region = default_region if region in UNKNOWN else region
    partition = caller["Arn"].split(":")[1]
    if not stack.lookup_role_arn:
        raise ValueError(f"{stack.stack_name}: the assembly names no lookup role (a DefaultStackSynthesizer's)")
    arn = stack.lookup_role_arn
    for placeholder, value in (("${AWS::Partition}", partition), ("${AWS::AccountId}", account)):
        arn = arn.replace(placeholder, value)
    return arn.replace("${AWS::Region}", region), region


def deployed_environment(environment: Environment, sts: Any, cloudformation_in: Any) -> Environment:
    """The base before a pipeline stage deploys: ``environment``'s stacks as CloudFormation holds them, each read
    through its account's lookup role; a stack not deployed yet is left out (nothing to replace).
    ``cloudformation_in(region, credentials)`` makes the CloudFormation client (AssumeRole's ``Credentials``)."""
    caller = sts.get_caller_identity()
    stacks = []
    for stack in environment.stacks:
        role, region = lookup_role(stack, caller, sts.meta.region_name)
        credentials = sts.assume_role(RoleArn=role, RoleSessionName=GUARD_SESSION)["Credentials"]
        deployed = deployed_templates(cloudformation_in(region, credentials), [stack.stack_name])
        if stack.stack_name in deployed:
            stacks.append(dataclasses.replace(stack, template=deployed[stack.stack_name]))
    return Environment(environment.name, tuple(stacks))


def _boto3_cloudformation(region: str, credentials: Mapping[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "cloudformation",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _acknowledgements(config_dir: Path | None) -> dict[str, tuple[str, ...]]:
    from config.loader import ENVIRONMENTS_DIR
    from config.loader import load_environments as load_configs

    return {c.name: c.acknowledged_replacements for c in load_configs(config_dir or ENVIRONMENTS_DIR)}


# What decides the base's templates besides its code: a change to these (an aws-cdk-lib bump, a feature flag) must
# be synthesized with the base's own, or the upgrade's own replacements are hidden.
SYNTH_DEPENDENCIES = ("requirements.txt", "cdk.json")


def dependencies_differ(base: str, head: str = "HEAD", cwd: Path | None = None) -> bool:
    """Whether the synthesizing libraries or the CDK feature flags changed between the two commits."""
    diff = subprocess.run(["git", "diff", "--quiet", base, head, "--", *SYNTH_DEPENDENCIES], cwd=cwd, check=False)
    return diff.returncode != 0


def _base_python(tree: Path, workdir: Path, own_dependencies: bool) -> str:
    """This interpreter, or a virtualenv with the base's own requirements.txt when they differ from HEAD's."""
    if not own_dependencies:
        return sys.executable
    venv = workdir / "base-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    print("requirements.txt or cdk.json changed: synthesizing the base with its own dependencies", file=sys.stderr)
    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"]
    subprocess.run(install, cwd=tree, check=True)
    return python


def synthesize_at(ref: str, workdir: Path) -> Path:
    """The assembly of the merge-base of HEAD and ``ref``, synthesized in a temporary worktree (with the base's own
    dependencies when they differ from HEAD's)."""
    base = subprocess.run(["git", "merge-base", "HEAD", ref], capture_output=True, text=True, check=True).stdout.strip()
    tree = workdir / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], check=True, capture_output=True)
    try:
        out = workdir / "base.out"
        env = {**os.environ, "CDK_OUTDIR": str(out), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        python = _base_python(tree, workdir, dependencies_differ(base))
        subprocess.run([python, "app.py"], cwd=tree, env=env, check=True)
        return out
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False, capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auditing.replacements", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", type=Path, help="the base assembly (a cdk.out)")
    source.add_argument("--base-ref", help="synthesize the merge-base of HEAD and this git ref as the base")
    source.add_argument("--deployed", metavar="ENVIRONMENT", help="the base is what CloudFormation holds for it")
    parser.add_argument("--new", type=Path, help="the change's assembly (default: synthesize this tree)")
    parser.add_argument("--config-dir", type=Path, help="environments folder (default: config/environments)")
    args = parser.parse_args(argv)
    if args.deployed and args.new is None:
        parser.error("--deployed needs --new: the assembly the stage is about to deploy")
    with tempfile.TemporaryDirectory() as workdir:
        new = args.new
        if new is None:
            from auditing.synth import synthesize

            new = synthesize(Path(workdir) / "new.out", config_dir=args.config_dir)
        changed = load_environments(new)
        if args.deployed:
            import boto3

            changed = [e for e in changed if e.name == args.deployed]
            if not changed:
                parser.error(f"--deployed: {args.deployed!r} is not an environment of {new}")
            before = [deployed_environment(changed[0], boto3.client("sts"), _boto3_cloudformation)]
        else:
            before = load_environments(args.base or synthesize_at(args.base_ref, Path(workdir)))
        verdict = judge(compare(before, changed), _acknowledgements(args.config_dir))
    print(verdict.report())
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
