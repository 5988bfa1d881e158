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
replacement-guard``). Exit code 1 when a finding is not acknowledged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from auditing.assembly import Environment, load_environments

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
)
# "Update requires: Replacement" in the CloudFormation documentation beyond the schemas' createOnlyProperties
# (AWS::FSx::FileSystem LustreConfiguration DeploymentType and StorageType; AWS::KMS::Key KeySpec and KeyUsage).
EXTRA_REPLACING: Mapping[str, tuple[str, ...]] = {
    "AWS::FSx::FileSystem": ("LustreConfiguration/DeploymentType", "StorageType"),
    "AWS::KMS::Key": ("KeySpec", "KeyUsage"),
}


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
        what = f"replaced ({self.property_path} changes)" if self.property_path else "deleted"
        return f"{self.environment}: {self.key} ({self.resource_type}) would be {what}"


@cache
def create_only_paths(resource_type: str) -> tuple[str, ...]:
    """The schema's createOnlyProperties (``/properties/A/B`` -> ``A/B``), and the documented extras."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

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


def _stateful(resource: Mapping[str, Any]) -> bool:
    kind = resource.get("Type")
    if kind == "AWS::Logs::LogGroup":
        return "KmsKeyId" in resource.get("Properties", {})
    return kind in STATEFUL_TYPES


def compare(base: Iterable[Environment], new: Iterable[Environment]) -> list[Finding]:
    """Stateful resources of ``base`` that ``new`` deletes or replaces (environments and stacks matched by name)."""
    new_stacks = {(env.name, stack.stack_id): stack.template for env in new for stack in env.stacks}
    findings = []
    for env in base:
        for stack in env.stacks:
            after = new_stacks.get((env.name, stack.stack_id), {}).get("Resources", {})
            for logical_id, resource in sorted(stack.template.get("Resources", {}).items()):
                if not _stateful(resource):
                    continue
                kind = resource["Type"]
                if logical_id not in after or after[logical_id].get("Type") != kind:
                    findings.append(Finding(env.name, stack.stack_id, logical_id, kind, None))
                    continue
                before_props, after_props = resource.get("Properties", {}), after[logical_id].get("Properties", {})
                for path in create_only_paths(kind):
                    if json.dumps(_at(before_props, path), sort_keys=True) != json.dumps(
                        _at(after_props, path), sort_keys=True
                    ):
                        findings.append(Finding(env.name, stack.stack_id, logical_id, kind, path))
    return findings


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
    return Verdict(
        unacknowledged=tuple(f for f in findings if (f.environment, f.key) not in acknowledged),
        acknowledged=tuple(f for f in findings if (f.environment, f.key) in acknowledged),
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


def _acknowledgements(config_dir: Path | None) -> dict[str, tuple[str, ...]]:
    from config.loader import ENVIRONMENTS_DIR
    from config.loader import load_environments as load_configs

    return {c.name: c.acknowledged_replacements for c in load_configs(config_dir or ENVIRONMENTS_DIR)}


def synthesize_at(ref: str, workdir: Path) -> Path:
    """The assembly of the merge-base of HEAD and ``ref``, synthesized in a temporary worktree."""
    base = subprocess.run(["git", "merge-base", "HEAD", ref], capture_output=True, text=True, check=True).stdout.strip()
    tree = workdir / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], check=True, capture_output=True)
    try:
        out = workdir / "base.out"
        env = {**os.environ, "CDK_OUTDIR": str(out), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        subprocess.run([sys.executable, "app.py"], cwd=tree, env=env, check=True)
        return out
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False, capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auditing.replacements", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", type=Path, help="the base assembly (a cdk.out)")
    source.add_argument("--base-ref", help="synthesize the merge-base of HEAD and this git ref as the base")
    parser.add_argument("--new", type=Path, help="the change's assembly (default: synthesize this tree)")
    parser.add_argument("--config-dir", type=Path, help="environments folder (default: config/environments)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        base = args.base or synthesize_at(args.base_ref, Path(workdir))
        new = args.new
        if new is None:
            from auditing.synth import synthesize

            new = synthesize(Path(workdir) / "new.out", config_dir=args.config_dir)
        verdict = judge(compare(load_environments(base), load_environments(new)), _acknowledgements(args.config_dir))
    print(verdict.report())
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
