"""The customization workflow: validate -> prepare -> train -> import -> evaluate -> gate -> deploy -> record -> notify.

A Standard state machine, because runs last hours to days and each one must be auditable.
Training runs as a SageMaker training job (``.sync``), a Bedrock customization job or a
HyperPod job (both polled). Step Functions documents ``.sync`` for
``bedrock:createModelCustomizationJob``, but Prepare starts that job itself (with a client token,
and finds it by name when a retry meets a taken name) so the run is claimed before anything bills,
and aws-cdk-lib's task would render without ``.sync`` anyway; the state machine polls
GetModelCustomizationJob instead. Every failure path stops what the run started, deletes what it
half-made, marks the lineage record failed and notifies.

This construct only wires its parts: the records (``workflow_records``), the job roles
(``workflow_job_roles``), the Lambda steps (``workflow_steps``) and the definition
(``workflow_definition``, built from ``workflow_training`` and ``workflow_release``). The
names they share with the Lambda code are in ``customization.contract``.

Input, output and errors are documented in docs/customization.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.data_stores import DataStores
from constructs.hyperpod_helm_chart import NovaJobTarget
from constructs.nag_acknowledgements import acknowledge, nag_environment
from constructs.workflow_definition import DefinitionParts, customization_definition, run_timeout
from constructs.workflow_evaluation import EvaluationScale, Judge
from constructs.workflow_job_roles import WorkflowJobRoles, WorkflowJobRolesProps
from constructs.workflow_perms import (
    encrypted_targets_statement,
    model_key_statements,
    other_environments_denied,
    tag_on_create_statement,
)
from constructs.workflow_records import WorkflowRecords, WorkflowRecordsProps
from constructs.workflow_steps import WorkflowSteps, WorkflowStepsProps
from constructs.workflow_training import TrainingJobSettings
from customization.contract import ALWAYS_WIRED_PLATFORMS, Platform


@dataclass(frozen=True)
class CustomizationWorkflowProps:
    environment: str
    """The environment's name: in the state machine's comment and the functions' service name."""
    stores: DataStores
    """Datasets the jobs read, artifacts they write."""
    key: kms.IKey
    """The platform key: every store, log, model and training volume of the workflow is encrypted with it."""
    vpc: ec2.IVpc
    """The training VPC (no default)."""
    subnets: Sequence[ec2.ISubnet]
    """Private subnets for training jobs and the HyperPod jobs step."""
    security_group: ec2.ISecurityGroup
    """The training cluster's group; it admits the HyperPod jobs step on 443."""
    judge_model_id: str
    """Bedrock model or inference profile that scores answers."""
    judge_rubric: str
    judge_rubric_sha256: str
    """The rubric file's SHA-256, recorded with every run's evaluation."""
    """What the judge is told a score of 1 to 5 means."""
    inference_profile_prefix: str
    """``us.``, ``eu.``, ``apac.`` to invoke the base model through a cross-Region profile; ``""`` for none."""
    training_instance_type: str
    """SageMaker training jobs' instance type, e.g. ``ml.p5.48xlarge``."""
    max_training_hours: int
    """The stopping condition of training jobs and the deadline of HyperPod jobs."""
    evaluation_scale: EvaluationScale
    """How a run's evaluation scales (batches, concurrency) and what its gate asks for."""
    log_retention: logs.RetentionDays
    """How long the state machine's and the steps' logs are kept."""
    retain_lineage: bool = True
    """Default: the lineage table is retained and deletion-protected."""
    notification_email: str | None = None
    """Default: no email subscription to the run notifications."""
    hyperpod: NovaJobTarget | None = None
    """Default: no HyperPod branch (Nova on HyperPod needs a restricted instance group)."""


class CustomizationWorkflow(Construct):
    """Attributes: ``state_machine``, ``lineage_table`` (runs, queryable by an auditor; approved models in the
    ``approved-models`` index), ``topic``, ``training_role``, ``bedrock_role``, ``steps`` (the Lambda steps)
    and ``platforms`` (where runs can train here)."""

    def __init__(self, scope: Construct, construct_id: str, props: CustomizationWorkflowProps) -> None:
        super().__init__(scope, construct_id)
        self.platforms: tuple[str, ...] = ALWAYS_WIRED_PLATFORMS + (
            (Platform.HYPERPOD,) if props.hyperpod is not None else ()
        )
        records = WorkflowRecords(
            self,
            WorkflowRecordsProps(
                key=props.key, retain_lineage=props.retain_lineage, notification_email=props.notification_email
            ),
        )
        self.lineage_table = records.lineage_table
        self.topic = records.topic
        roles = WorkflowJobRoles(self, WorkflowJobRolesProps(stores=props.stores, key=props.key))
        self.training_role = roles.training_role
        self.bedrock_role = roles.bedrock_role
        self.steps = WorkflowSteps(
            self,
            WorkflowStepsProps(
                environment=props.environment,
                stores=props.stores,
                key=props.key,
                lineage_table=self.lineage_table,
                bedrock_role=self.bedrock_role,
                platforms=self.platforms,
                vpc=props.vpc,
                subnets=props.subnets,
                cluster_security_group=props.security_group,
                log_retention=props.log_retention,
                max_training_hours=props.max_training_hours,
                evaluation_concurrency=props.evaluation_scale.max_concurrency,
                inference_profile_prefix=props.inference_profile_prefix,
                hyperpod=props.hyperpod,
            ),
        )
        definition = customization_definition(
            self,
            DefinitionParts(
                steps=self.steps,
                training_job=TrainingJobSettings(
                    role=self.training_role,
                    key=props.key,
                    vpc=props.vpc,
                    subnets=props.subnets,
                    instance_type=props.training_instance_type,
                    max_training_hours=props.max_training_hours,
                    environment=props.environment,
                ),
                bedrock_role=self.bedrock_role,
                key=props.key,
                lineage_table=self.lineage_table,
                topic=self.topic,
                platforms=self.platforms,
                judge=Judge(
                    model_id=props.judge_model_id, rubric=props.judge_rubric, rubric_sha256=props.judge_rubric_sha256
                ),
                inference_profile_prefix=props.inference_profile_prefix,
                evaluation_scale=props.evaluation_scale,
                artifacts=props.stores.artifacts_bucket,
                environment=props.environment,
            ),
        )
        log_group = logs.LogGroup(self, "Logs", retention=props.log_retention, encryption_key=props.key)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=run_timeout(props.max_training_hours, props.evaluation_scale),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(props.key),
            comment=f"Customization runs of {props.environment}",
        )
        # The evaluation's map reads the dataset and writes its results itself (ItemReader, ResultWriter).
        props.stores.grant_read_datasets(self.state_machine)
        props.stores.grant_read_write_artifacts(self.state_machine)
        # Bedrock encrypts the custom or imported model with the platform key on the caller's behalf.
        for statement in model_key_statements(cdk.Stack.of(self), props.key.key_arn):
            self.state_machine.add_to_role_policy(statement)
        # The topic and the table are encrypted with the platform key, and the tasks' own grants name only
        # sns:Publish and dynamodb:UpdateItem: publishing and writing need the key too.
        self.state_machine.add_to_role_policy(encrypted_targets_statement(cdk.Stack.of(self), props.key.key_arn))
        # What the states create is tagged with the environment; what they (and aws-cdk-lib's .sync integration)
        # stop or delete must carry that tag.
        self.state_machine.add_to_role_policy(
            tag_on_create_statement(
                cdk.Stack.of(self),
                props.environment,
                ["custom-model", "model-import-job", "imported-model", "custom-model-deployment", "provisioned-model"],
            )
        )
        for denied in other_environments_denied(cdk.Stack.of(self), props.environment):
            self.state_machine.add_to_role_policy(denied)
        self._acknowledge()

    def _acknowledge(self) -> None:
        partition, region, account = nag_environment(self)
        stack = cdk.Stack.of(self)

        def bedrock(resource: str) -> str:
            return f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:{region}:{account}:{resource}]"

        # The Distributed Map's own executions (aws-cdk-lib's DistributedMapPolicy): named by Step Functions per run.
        machine = self.state_machine.node.default_child
        assert isinstance(machine, cdk.CfnElement)
        name = '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"' + stack.get_logical_id(machine) + '"}]}]}'
        executions = f"arn:{partition}:states:{region}:{account}:execution:{name}"
        invoked = [
            f"AwsSolutions-IAM5[Resource::{executions}:*]",
            f"AwsSolutions-IAM5[Resource::{executions}/*:*]",
        ]
        for function in self.steps.functions:
            resource = function.node.default_child
            assert isinstance(resource, cdk.CfnElement)
            invoked.append(f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(resource)}.Arn>:*]")
        acknowledge(
            self.state_machine,
            "The state machine's role: aws-cdk-lib's grants for invoking the step functions (any version), log "
            "delivery, X-Ray and the SageMaker .sync integration (no resource-level permissions), and "
            "bedrock:CreateCustomModel and bedrock:CreateModelImportJob, which take no resource type (Service "
            "Authorization Reference); jobs, models, deployments and throughputs are named per run, so they are "
            "scoped to this account's of each type; the evaluation's Distributed Map describes and stops its own "
            "child executions (this state machine's only), as aws-cdk-lib grants it.",
            "AwsSolutions-IAM5[Resource::*]",
            *invoked,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:sagemaker:{region}:{account}:training-job/*]",
            bedrock("model-customization-job/*"),
            bedrock("custom-model/*"),
            bedrock("custom-model-deployment/*"),
            bedrock("provisioned-model/*"),
            # CreateProvisionedModelThroughput on a custom model is authorized on its base model too.
            f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:{region}::foundation-model/*]",
            bedrock("model-import-job/*"),
            bedrock("imported-model/*"),
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
