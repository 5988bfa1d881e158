"""The customization workflow of one environment: its state machine, lineage table and notifications."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms

from config.model import EnvironmentConfig
from constructs import Construct
from constructs.customization_workflow import CustomizationWorkflow, CustomizationWorkflowProps
from constructs.data_stores import DataStores
from constructs.hyperpod_helm_chart import NovaJobTarget
from constructs.training_network import TrainingNetwork
from constructs.workflow_evaluation import EvaluationScale
from stacks.platform_stack import PlatformStack


class WorkflowStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        network: TrainingNetwork,
        stores: DataStores,
        key: kms.IKey,
        nova_jobs: NovaJobTarget | None = None,
    ) -> None:
        super().__init__(scope, construct_id, config=config, description="Model customization workflow")
        assert config.workflow is not None  # the Stage adds this stack only when the section exists
        workflow = config.workflow
        self.workflow = CustomizationWorkflow(
            self,
            "Customization",
            CustomizationWorkflowProps(
                environment=config.name,
                stores=stores,
                key=key,
                vpc=network.vpc,
                subnets=[network.training_subnet],
                security_group=network.cluster_security_group,
                judge_model_id=workflow.judge_model_id,
                judge_rubric=workflow.judge_rubric,
                judge_rubric_sha256=workflow.judge_rubric_sha256,
                inference_profile_prefix=workflow.inference_profile_prefix,
                training_instance_type=workflow.training_instance_type,
                max_training_hours=workflow.max_training_hours,
                evaluation_scale=EvaluationScale(
                    max_concurrency=workflow.evaluation.max_concurrency,
                    batch_size=workflow.evaluation.batch_size,
                    max_records=workflow.evaluation.max_records,
                    min_records=workflow.evaluation.min_records,
                    min_scored_fraction=workflow.evaluation.min_scored_fraction,
                ),
                log_retention=self.log_retention,
                retain_lineage=not config.is_throwaway,
                notification_email=workflow.notification_email,
                hyperpod=nova_jobs,
            ),
        )
        machine = self.workflow.state_machine.state_machine_arn
        cdk.CfnOutput(self, "StateMachineArn", value=machine)
        cdk.CfnOutput(
            self,
            "StartRunCommand",
            description="Start a customization run from an example input (examples/*.json)",
            value=f"aws stepfunctions start-execution --state-machine-arn {machine} "
            "--name <run-name> --input file://run.json",
        )
        cdk.CfnOutput(self, "LineageTable", value=self.workflow.lineage_table.table_name)
        cdk.CfnOutput(
            self,
            "DatasetsBucket",
            description="Training, validation and evaluation data go here; examples/*.json name it DATASETS_BUCKET",
            value=stores.datasets_bucket.bucket_name,
        )
