"""Shared fixtures: each app is synthesized once per test session (per xdist worker)."""

from __future__ import annotations

import os

# Before jsii starts: Node 20's end-of-life banner would otherwise flood every test's output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import json
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Synthesized:
    """A synthesized app: its construct tree, its output folder and templates by environment and stack id."""

    app: cdk.App
    outdir: Path
    templates: dict[str, dict[str, Template]] = field(default_factory=dict)
    template_files: list[Path] = field(default_factory=list)

    def template(self, env: str, stack: str) -> Template:
        return self.templates[env][stack]


def synthesize(outdir: Path, context: dict[str, str] | None = None) -> Synthesized:
    """Synthesize without the cdk-nag gate, so that tests can run the packs and print findings."""
    app = build_app(context=context, outdir=str(outdir), gates=False)
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


@pytest.fixture(scope="session")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every environment in config/environments."""
    return synthesize(tmp_path_factory.mktemp("committed"))


@pytest.fixture(scope="session")
def fixture_envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """The test-only environments: one pinned to an account and region, one in an existing VPC."""
    return {
        name: synthesize(tmp_path_factory.mktemp(name), {"config_dir": str(FIXTURES / name)})
        for name in ("pinned", "existing_vpc")
    }
