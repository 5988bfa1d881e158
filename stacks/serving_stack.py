"""Model serving of one environment: the base model on demand until a customized model exists, then that model
through an on-demand deployment or a throughput of its own. The Serving stack is the one owner of what serves a
model: the workflow approves and records models, and never leaves a deployment or throughput behind."""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import aws_kms as kms

from config.model import EnvironmentConfig
from constructs import Construct
from constructs.approved_model import ApprovedModel, ApprovedModelProps
from constructs.customization_workflow import CustomizationWorkflow
from constructs.served_model import ServedModel, ServedModelProps
from customization.contract import APPROVED_INDEX, Approval
from customization.nova import ON_DEMAND_TECHNIQUES
from stacks.platform_stack import PlatformStack


class ServingStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        workflow: CustomizationWorkflow | None = None,
    ) -> None:
        super().__init__(scope, construct_id, config=config, description="Bedrock model serving")
        assert config.serving is not None  # the Stage adds this stack only when the section exists
        serving = config.serving
        # The customized model once the workflow has produced one; a base model until then.
        base_model_arn = self.format_arn(
            service="bedrock", account="", resource="foundation-model", resource_name=serving.base_model_id
        )
        model_arn = serving.model_arn or base_model_arn
        if serving.model_source == "lineage":
            assert workflow is not None  # config requires a workflow section for this source
            self.approved_model = ApprovedModel(
                self,
                "ApprovedModel",
                ApprovedModelProps(
                    lineage_table=workflow.lineage_table,
                    index_name=APPROVED_INDEX,
                    approval=Approval.APPROVED,
                    fallback_model_arn=base_model_arn,
                    generation=serving.lineage_generation,
                    key=key,
                    log_retention=self.log_retention,
                    on_demand_techniques=tuple(sorted(ON_DEMAND_TECHNIQUES)) if serving.mode == "on-demand" else None,
                ),
            )
            model_arn = self.approved_model.model_arn
        self.model = ServedModel(
            self,
            "Model",
            ServedModelProps(
                model_arn=model_arn,
                base_model_id=serving.base_model_id,
                inference_profile_prefix=serving.inference_profile_prefix,
                name_prefix=f"{config.name}-serving",
                model_key=key,
                mode=serving.mode,
                model_units=serving.model_units,
                commitment_duration=serving.commitment_duration,
                expire_after_hours=serving.expire_after_hours,
                log_key=key,
                log_retention=self.log_retention,
                tags=config.tags.as_aws_tags(),
                revision=hashlib.sha256(repr(serving).encode("utf-8")).hexdigest()[:16],
            ),
        )
        if serving.model_source == "lineage":
            cdk.CfnOutput(
                self,
                "ServedModelSource",
                description="The approved run served (lineage:<run>), or fallback; newer runs passed over are named",
                value=self.approved_model.source,
            )
