"""Synthesizing an app for tests: its construct tree, output folder and templates by environment and stack."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_app

# The documented `cdk synth -c nist=true` (docs/delivery.md): every committed environment with both cdk-nag packs.
# tests/infra/test_hermetic_synth.py runs it once, without a network, and the documented-command test relies on that
# run rather than synthesizing the same app a second time.
HERMETIC_CLI_SYNTH = ("synth", "-c", "nist=true")


@dataclass
class Synthesized:
    """A synthesized app: its construct tree, its output folder and templates by environment and stack id."""

    app: cdk.App
    outdir: Path
    templates: dict[str, dict[str, Template]] = field(default_factory=dict)
    template_files: list[Path] = field(default_factory=list)

    def template(self, env: str, stack: str) -> Template:
        return self.templates[env][stack]


def synthesize(outdir: Path, context: dict[str, str] | None = None, *, validate_templates: bool = False) -> Synthesized:
    """Synthesize without the cdk-nag gate, so that tests can run the packs and print findings. Without aws-cdk-lib's
    CloudFormation validation unless asked: the CLI tests run it over the committed environments and the pinned
    fixture (test_hermetic_synth, test_documented_commands), and the documented audit over existing_vpc."""
    app = build_app(context=context, outdir=str(outdir), gates=False, validate_templates=validate_templates)
    assembly = app.synth()
    result = Synthesized(app=app, outdir=outdir)
    for stage in assembly.nested_assemblies:
        env = stage.hierarchical_id.removeprefix("assembly-")
        for stack in stage.nested_assembly.stacks:
            path = Path(stack.template_full_path)
            result.template_files.append(path)
            short_id = stack.hierarchical_id.split("/")[-1]
            result.templates.setdefault(env, {})[short_id] = Template.from_json(json.loads(path.read_text()))
    return result


def uploaded_templates(outdir: Path) -> dict[Path, str]:
    """Every template an asset manifest under ``outdir`` uploads -> the hash (S3 key) it is uploaded under."""
    found = {}
    for assets_file in outdir.rglob("*.assets.json"):
        for asset_hash, asset in json.loads(assets_file.read_text())["files"].items():
            path = assets_file.parent / asset["source"]["path"]
            if path.name.endswith(".template.json"):
                found[path] = asset_hash
    return found
