"""The delivery pipeline's stack: it lives in the tooling account and region named in config/pipeline.yaml."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk

from config.delivery import PipelineConfig
from constructs import Construct
from constructs.delivery_pipeline import DeliveryPipeline, DeliveryPipelineProps, PipelineWave
from stacks.environment_stage import EnvironmentStage
from stacks.template_hygiene import CleanTemplateSynthesizer

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"


def pinned_cdk_cli() -> str:
    """The CLI version package.json pins, so the pipeline's self-mutation runs the CLI developers run."""
    version: str = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["devDependencies"]["aws-cdk"]
    return version


class DeliveryPipelineStack(cdk.Stack):
    """``stages`` are the app's own environment Stages, so the pipeline deploys the stacks, names and
    templates that ``cdk synth`` writes to ``cdk.out/assembly-<env>/``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        stages: Sequence[EnvironmentStage],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=cdk.Environment(account=config.account, region=config.region),
            description="Self-mutating delivery pipeline: test, audit, then each environment in order",
            analytics_reporting=False,
            synthesizer=CleanTemplateSynthesizer(),
        )
        by_name = {stage.config.name: stage for stage in stages}
        self.delivery = DeliveryPipeline(
            self,
            "Delivery",
            DeliveryPipelineProps(
                repository=config.repository,
                branch=config.branch,
                connection_arn=config.connection_arn,
                cdk_cli_version=pinned_cdk_cli(),
                waves=[
                    PipelineWave(stage=by_name[name], approval=name in config.approval_before) for name in config.waves
                ],
            ),
        )
