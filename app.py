#!/usr/bin/env python3
"""Builds one Stage per environment in config/environments.

``cdk synth`` writes every environment; ``-c environments=dev,staging`` narrows it and
``-c nist=true`` adds the NIST 800-53 R5 pack to the AwsSolutions gate, and
``-c config_dir=path`` reads environments from another folder (tests use fixtures), and
``-c github_repository=owner/name`` adds the GitHubDeploy stack (OIDC deploy roles).
``config/pipeline.yaml`` (or ``-c pipeline_config=path``), when present, adds the
DeliveryPipeline stack, which deploys the same environment Stages in waves.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from config.delivery import REPOSITORY_PATTERN
from config.loader import ENVIRONMENTS_DIR, PIPELINE_FILE, ConfigError, load_environments, load_pipeline
from customization.problems import Problem
from stacks.delivery_pipeline_stack import DeliveryPipelineStack
from stacks.environment_stage import EnvironmentStage
from stacks.github_deploy_stack import GitHubDeployStack
from stacks.security_gates import add_security_gates, gate_failures

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"
# "<dotted key>: <value> is not allowed; expected <what>" (customization/problems.py)
CONFIG_ERROR_FORMAT = re.compile(r"^[a-z][a-z_.\[\]0-9]*: .* is not allowed; expected ")
# What the CDK CLI turns on for every synth (reserved keys, so not in cdk.json): with them,
# `python app.py` writes the same bytes as `cdk synth`.
CLI_DEFAULTS = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def project_context() -> dict[str, Any]:
    """cdk.json's context (feature flags), so ``python app.py`` and tests synthesize what the CLI does.

    Context given to ``App`` ranks below the CLI's ``-c`` values, so those still win.
    """
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


def build_app(
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
    *,
    gates: bool = True,
    validate_templates: bool = True,
) -> cdk.App:
    """The whole app. Tests pass ``gates=False`` and run the cdk-nag packs themselves, to report findings, and
    ``validate_templates=False`` where a CLI test already runs aws-cdk-lib's CloudFormation validation over the same
    environments (about 1.5 s per 18 templates, plus 2 s to start its engine once per process)."""
    app = cdk.App(
        context={**CLI_DEFAULTS, **project_context(), **(context or {})},
        outdir=outdir,
        builtin_cloud_formation_validation=validate_templates,
    )
    selection = app.node.try_get_context("environments")
    only = [name.strip() for name in str(selection).split(",") if name.strip()] if selection else None
    config_dir = app.node.try_get_context("config_dir")
    directory = Path(config_dir).resolve() if config_dir else ENVIRONMENTS_DIR
    environments = load_environments(directory, only=only)
    # What configures the delivery stacks is checked before any stack is built, so a mistake is reported at once.
    repository = app.node.try_get_context("github_repository")
    if repository and not REPOSITORY_PATTERN.match(str(repository)):
        raise ValueError(str(Problem("github_repository", repository, "<owner>/<name> of a GitHub repository")))
    pipeline_config = app.node.try_get_context("pipeline_config")
    pipeline_file = Path(pipeline_config).resolve() if pipeline_config else PIPELINE_FILE
    pipeline = None
    if pipeline_file.exists():
        if only:
            raise ValueError(f"environments: {selection!r} is not allowed with a pipeline; the pipeline needs them all")
        pipeline = load_pipeline(pipeline_file, [e.name for e in environments])
    elif pipeline_config:
        raise FileNotFoundError(f"pipeline_config: {pipeline_config!r} is not a file; expected a pipeline YAML file")
    stages = [EnvironmentStage(app, config) for config in environments]
    if pipeline is not None:
        DeliveryPipelineStack(app, "DeliveryPipeline", config=pipeline, stages=stages)
    if repository:
        GitHubDeployStack(
            app,
            "GitHubDeploy",
            repository=str(repository),
            environments=[e.name for e in environments],
            qualifiers={e.name: e.bootstrap_qualifier for e in environments},
            placements={e.name: (e.account, e.region) for e in environments},
        )
    # `make synth-fast` (-c skip_gates=true): a local iteration path that skips the cdk-nag packs; the templates are
    # the same bytes (tested), and CI, `make synth` and the pipeline never pass it.
    if gates and str(app.node.try_get_context("skip_gates")).lower() != "true":
        add_security_gates(app, nist_800_53_r5=str(app.node.try_get_context("nist")).lower() == "true")
    return app


def main() -> int:
    """``python app.py`` (what ``cdk synth`` runs): a broken config is one block of problems on stderr and exit code 2,
    not a traceback."""
    try:
        app = build_app()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        # A rule only the constructs can check (e.g. a training subnet block against the VPC's subnets) raises in the
        # config error format; anything else is a fault and keeps its traceback.
        if not CONFIG_ERROR_FORMAT.match(str(error)):
            raise
        print(f"error: invalid environment config: {error}", file=sys.stderr)
        return 2
    return synthesize_gated(app)


def synthesize_gated(app: cdk.App) -> int:
    """Synthesize; exit code 1 when a gate (a cdk-nag pack, or aws-cdk-lib's CloudFormation validation) found something
    no acknowledgement covers (listed on stderr)."""
    app.synth()
    failures = gate_failures(str(app.outdir))
    if failures:
        print("error: the gates found what no acknowledgement covers:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
