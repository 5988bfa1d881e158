"""The customization workflow: validate -> prepare -> train -> import -> evaluate -> gate -> deploy -> record -> notify.

A Standard state machine, because runs last hours to days and each one must be auditable.
Training runs as a SageMaker training job (``.sync``) or a Bedrock customization job (polled,
Step Functions has no ``.sync`` for it). A Bedrock model can only be invoked once it exists in
Bedrock, so the model is imported (SageMaker path) and given a temporary on-demand deployment
*before* evaluation; a failed gate deletes both. Every failure path stops what the run
started, deletes what it half-made, marks the lineage record failed and notifies.

Input, output and errors are documented in README ("Running a customization").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
import yaml
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.bundled_python_code import REPO, bundled_python_code, pure_python_package
from constructs.data_stores import DataStores
from constructs.hyperpod_helm_chart import NovaJobTarget
from constructs.nag_acknowledgements import LAMBDA_BASIC_EXECUTION_FINDING, acknowledge, nag_arn, nag_environment
from constructs.workflow_perms import (
    clean_up_statements,
    cluster_read_statement,
    evaluation_statement,
    model_key_statement,
    prepare_statements,
    training_job_statements,
)
from constructs.workflow_polling import PollSpec, poll_until

STEPS_ROOT = REPO / "lambda" / "customization_steps"
EVALUATION_ROOT = REPO / "lambda" / "model_evaluation"
EKS_ACCESS = REPO / "lambda" / "eks_access" / "eks_access"
# The public Powertools for AWS Lambda (Python) layer, v3, for the functions' runtime and architecture.
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:27"
RUNTIME = lambda_.Runtime.PYTHON_3_13
# The platforms the definition always has a training branch for; HyperPod is added when the
# environment has a restricted instance group. Validate rejects the others.
WIRED_PLATFORMS = ("sagemaker-training-job", "bedrock")
HYPERPOD = "hyperpod"
# The technique of an open-weight import (Bedrock Custom Model Import), which trains nothing.
IMPORT = "import"
APPROVED_INDEX = "approved-models"
# The index partition of approved customized models, which Serving deploys (Prepare sets it per run;
# imported models go to APPROVED_IMPORTED).
APPROVED = "APPROVED"
# Errors worth another try: throttling and the service's own transient failures.
LAMBDA_TRANSIENT_ERRORS = ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException"]
TRANSIENT_ERRORS = [
    *LAMBDA_TRANSIENT_ERRORS,
    "Bedrock.ThrottlingException",
    "Bedrock.ServiceUnavailableException",
    "Bedrock.InternalServerException",
    "SageMaker.ThrottlingException",
    "ThrottlingException",
    "KubeApiTransientError",
]


def steps_code() -> lambda_.Code:
    """One asset for every step function: the steps, the recipe loader, the recipes and PyYAML."""
    return bundled_python_code(
        STEPS_ROOT,
        {
            "customization": REPO / "customization",
            "recipes": REPO / "recipes",
            "eks_access": EKS_ACCESS,
            "yaml": pure_python_package(yaml),
        },
    )


@dataclass(frozen=True)
class CustomizationWorkflowProps:
    environment: str
    stores: DataStores
    key: kms.IKey
    vpc: ec2.IVpc
    subnets: Sequence[ec2.ISubnet]
    security_group: ec2.ISecurityGroup
    judge_model_id: str
    judge_rubric: str
    inference_profile_prefix: str
    training_instance_type: str
    max_training_hours: int
    provisioned_model_units: int
    log_retention: logs.RetentionDays
    retain_lineage: bool = True
    notification_email: str | None = None
    hyperpod: NovaJobTarget | None = None


class CustomizationWorkflow(Construct):
    """Attributes: ``state_machine``, ``lineage_table`` (runs, queryable by an auditor; approved models in the
    ``approved-models`` index), ``topic`` and ``platforms`` (where runs can train here)."""

    def __init__(self, scope: Construct, construct_id: str, props: CustomizationWorkflowProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        self._steps_code = steps_code()
        self.platforms = WIRED_PLATFORMS + ((HYPERPOD,) if props.hyperpod is not None else ())
        stack = cdk.Stack.of(self)
        # Table (not TableV2): TableV2 with a customer managed key cannot render in a region-agnostic stack.
        self.lineage_table = dynamodb.Table(
            self,
            "Lineage",
            partition_key=dynamodb.Attribute(name="run_name", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=props.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=props.retain_lineage,
            removal_policy=cdk.RemovalPolicy.RETAIN if props.retain_lineage else cdk.RemovalPolicy.DESTROY,
        )
        # Only runs that passed the gate carry ``approval``: a sparse index of approved models, newest last.
        self.lineage_table.add_global_secondary_index(
            index_name=APPROVED_INDEX,
            partition_key=dynamodb.Attribute(name="approval", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="completed_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=["model_arn", "run_name"],
        )
        acknowledge(
            self.lineage_table,
            "Point-in-time recovery (35 days) protects the lineage table; an AWS Backup plan is an organization-"
            "wide choice this platform leaves to its users.",
            "NIST.800.53.R5-DynamoDBInBackupPlan",
        )
        self.topic = sns.Topic(self, "Notifications", master_key=props.key, enforce_ssl=True)
        if props.notification_email:
            sns.Subscription(
                self,
                "Email",
                topic=self.topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=props.notification_email,
            )
        self.training_role = self._training_role()
        self.bedrock_role = self._bedrock_role()
        self._layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", POWERTOOLS_LAYER.format(partition=stack.partition, region=stack.region)
        )
        self.validate_fn = self._steps_function("ValidateStep", "customization_steps.steps.validate")
        self.prepare_fn = self._steps_function("PrepareStep", "customization_steps.steps.prepare")
        self.clean_up_fn = self._steps_function("CleanUpStep", "customization_steps.steps.clean_up_run")
        self.locate_fn = self._steps_function("LocateCheckpointStep", "customization_steps.steps.locate")
        self.hyperpod_fn = self._hyperpod_function(props.hyperpod) if props.hyperpod is not None else None
        self.evaluate_fn = self._function(
            "EvaluateStep",
            "model_evaluation.handler.lambda_handler",
            lambda_.Code.from_asset(str(EVALUATION_ROOT), exclude=["**/__pycache__"]),
            timeout=cdk.Duration.minutes(15),
        )
        self._grant_functions()
        log_group = logs.LogGroup(self, "Logs", retention=props.log_retention, encryption_key=props.key)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(props.key),
            comment=f"Customization runs of {props.environment}",
        )
        # Bedrock encrypts the custom or imported model with the platform key on the caller's behalf.
        self.state_machine.add_to_role_policy(model_key_statement(stack, props.key.key_arn))
        self._acknowledge()

    # --- roles ------------------------------------------------------------------------------------------------

    def _training_role(self) -> iam.IRole:
        """What a SageMaker training job needs: read datasets and the rendered recipe, write outputs, pull the
        Nova image, log, and run in the VPC. The task may not add to it (it would add s3 and ECR on ``*``)."""
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "TrainingJobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training jobs of the customization workflow",
        )
        self._props.stores.grant_read_datasets(role)
        self._props.stores.grant_read_write_artifacts(role)
        self._props.key.grant_encrypt_decrypt(role)
        for statement in training_job_statements(stack):
            role.add_to_policy(statement)
        partition, region, _ = nag_environment(self)
        acknowledge(
            role,
            "SageMaker training jobs in a VPC: ecr:GetAuthorizationToken, PutMetricData (limited to the training "
            "namespace) and the ENI and VPC describe calls have no resource-level permissions; Nova images live "
            "in AWS-owned registries whose account differs per region, so pulls are scoped to repositories in "
            "this region; training logs go to SageMaker's fixed log group. KMS wildcards are aws-cdk-lib's "
            "encrypt/decrypt grant on the platform key.",
            "AwsSolutions-IAM5[Resource::*]",
            f"AwsSolutions-IAM5[Resource::arn:{partition}:ecr:{region}:*:repository/*]",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', 'log-group:/aws/sagemaker/TrainingJobs:*')}]",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        return role.without_policy_updates()

    def _bedrock_role(self) -> iam.Role:
        """Bedrock assumes it to read training data, write job output and read artifacts to import a model."""
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "BedrockJobRole",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Bedrock customization and model import of the customization workflow",
        )
        self._props.stores.grant_read_datasets(role)
        self._props.stores.grant_read_write_artifacts(role)
        return role

    # --- functions --------------------------------------------------------------------------------------------

    def _steps_function(self, construct_id: str, handler: str) -> lambda_.Function:
        return self._function(
            construct_id,
            handler,
            self._steps_code,
            timeout=cdk.Duration.minutes(2),
            environment=self._steps_environment(),
        )

    def _steps_environment(self) -> dict[str, str]:
        """What the steps read through ``Settings.from_environment`` (the evaluation takes its event only)."""
        stores = self._props.stores
        environment = {
            "DATASETS_BUCKET": stores.datasets_bucket.bucket_name,
            "ARTIFACTS_BUCKET": stores.artifacts_bucket.bucket_name,
            "PLATFORMS": ",".join(self.platforms),
            "RUNS_TABLE": self.lineage_table.table_name,
            "CUSTOMIZATION_ROLE_ARN": self.bedrock_role.role_arn,
            "KEY_ARN": self._props.key.key_arn,
        }
        target = self._props.hyperpod
        if target is not None:
            environment |= {
                "HYPERPOD_NAMESPACE": target.namespace,
                "HYPERPOD_INSTANCE_TYPE": target.instance_type,
                "HYPERPOD_MAX_NODES": str(target.max_nodes),
                "MAX_TRAINING_SECONDS": str(self._props.max_training_hours * 3600),
                "ACCOUNT_ID": cdk.Stack.of(self).account,
            }
        return environment

    def _hyperpod_function(self, target: NovaJobTarget) -> lambda_.Function:
        """Creates, watches and deletes a run's Kubernetes objects; in the VPC, as the endpoint is private.

        An access entry maps its role to the group the cluster's workflow Role is bound to
        (``Custom::HyperPodWorkflowAccess`` in the Training stack): no EKS access policy.
        """
        props = self._props
        # Its own group: HTTPS out (the cluster endpoint, STS and EKS), nothing else, and the cluster admits it on
        # 443 only (the training nodes' group admits itself on every port, for EFA).
        security_group = ec2.SecurityGroup(
            self,
            "HyperPodJobsStepSecurityGroup",
            vpc=props.vpc,
            allow_all_outbound=False,
            description="Customization workflow HyperPod jobs step: HTTPS to the Kubernetes and AWS APIs",
        )
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "Kubernetes API, STS and EKS")
        # L1, in this stack: the L2 rule would land in the Network stack, which this stack depends on.
        ec2.CfnSecurityGroupIngress(
            self,
            "ClusterAdmitsHyperPodJobsStep",
            group_id=props.security_group.security_group_id,
            source_security_group_id=security_group.security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="Workflow HyperPod jobs step to the Kubernetes API",
        )
        function = self._function(
            "HyperPodJobsStep",
            "customization_steps.hyperpod_steps.handle",
            self._steps_code,
            timeout=cdk.Duration.minutes(2),
            environment={"CLUSTER_NAME": target.cluster.cluster_name, "HYPERPOD_NAMESPACE": target.namespace},
            memory_size=512,
            security_group=security_group,
        )
        function.add_to_role_policy(cluster_read_statement(target.cluster.cluster_arn))
        eks.CfnAccessEntry(
            self,
            "HyperPodJobsAccess",
            cluster_name=target.cluster.cluster_name,
            principal_arn=function.role.role_arn,  # type: ignore[union-attr]
            kubernetes_groups=[target.group],
            type="STANDARD",
        )
        return function

    def _function(
        self,
        construct_id: str,
        handler: str,
        code: lambda_.Code,
        *,
        timeout: cdk.Duration,
        environment: dict[str, str] | None = None,
        memory_size: int = 1024,
        security_group: ec2.ISecurityGroup | None = None,
    ) -> lambda_.Function:
        """A step function; with ``security_group``, in the VPC's training subnets (else outside the VPC)."""
        props = self._props
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=props.log_retention, encryption_key=props.key)
        network: dict[str, object] = (
            {
                "vpc": props.vpc,
                "vpc_subnets": ec2.SubnetSelection(subnets=list(props.subnets)),
                "security_groups": [security_group],
            }
            if security_group is not None
            else {}
        )
        return lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            handler=handler,
            code=code,
            layers=[self._layer],
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            reserved_concurrent_executions=10,
            environment={"POWERTOOLS_SERVICE_NAME": f"{props.environment}-customization", **(environment or {})},
            description=f"Customization workflow step: {construct_id}",
            **network,  # type: ignore[arg-type]
        )

    def _grant_functions(self) -> None:
        stack = cdk.Stack.of(self)
        stores = self._props.stores
        stores.grant_read_write_artifacts(self.prepare_fn.role)  # type: ignore[arg-type]
        self.prepare_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[self.lineage_table.table_arn])
        )
        self._props.key.grant_encrypt_decrypt(self.prepare_fn)
        for statement in prepare_statements(stack):
            self.prepare_fn.add_to_role_policy(statement)
        self.bedrock_role.grant_pass_role(self.prepare_fn.grant_principal)
        for statement in clean_up_statements(stack):
            self.clean_up_fn.add_to_role_policy(statement)
        stores.grant_read_artifacts(self.locate_fn.role)  # type: ignore[arg-type]
        self._props.key.grant_decrypt(self.locate_fn)
        stores.grant_read_datasets(self.evaluate_fn.role)  # type: ignore[arg-type]
        stores.grant_read_write_artifacts(self.evaluate_fn.role)  # type: ignore[arg-type]
        self._props.key.grant_encrypt_decrypt(self.evaluate_fn)
        self.evaluate_fn.add_to_role_policy(evaluation_statement(stack))

    # --- definition -------------------------------------------------------------------------------------------

    def _guarded(self, state: sfn.TaskStateBase) -> sfn.TaskStateBase:
        """Transient errors are retried with back-off; anything else goes down the failure path."""
        state.add_retry(errors=TRANSIENT_ERRORS, interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=5)
        state.add_catch(self._failure, errors=["States.ALL"], result_path="$.error")
        return state

    def _definition(self) -> sfn.IChainable:
        self._failure = self._failure_path()

        rejected = sfn.Fail(self, "Rejected", error="InvalidRunRequest", cause_path="$.error.Cause")
        validate = tasks.LambdaInvoke(
            self,
            "Validate",
            lambda_function=self.validate_fn,
            payload=sfn.TaskInput.from_object(
                {
                    "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                    "execution": sfn.JsonPath.string_at("$$.Execution.Name"),
                }
            ),
            payload_response_only=True,
            result_path="$.request",
        )
        validate.add_retry(
            errors=LAMBDA_TRANSIENT_ERRORS, interval=cdk.Duration.seconds(2), backoff_rate=2, max_attempts=3
        )
        notify_rejected = self._notify("Notify rejected", "REJECTED").next(rejected)
        validate.add_catch(notify_rejected, errors=["InvalidRunRequestError"], result_path="$.error")
        validate.add_catch(self._failure, errors=["States.ALL"], result_path="$.error")
        prepare = tasks.LambdaInvoke(
            self,
            "Prepare",
            lambda_function=self.prepare_fn,
            payload=sfn.TaskInput.from_object(
                {
                    "request": sfn.JsonPath.object_at("$.request"),
                    "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                }
            ),
            payload_response_only=True,
            result_path="$.prepared",
        )
        # A run name another execution holds: reject, touching nothing of that run (no clean-up, no record).
        prepare.add_catch(notify_rejected, errors=["RunNameTakenError"], result_path="$.error")
        self._guarded(prepare)
        evaluation = self._evaluation_chain()
        import_chain = self._import_chain(evaluation)
        platform = sfn.Choice(self, "Where to train?")
        # An open-weight import has no training: Bedrock imports the weights, then the run is evaluated.
        platform.when(sfn.Condition.string_equals("$.request.technique", IMPORT), self._open_weight_import())
        branches = {
            "sagemaker-training-job": lambda: self._sagemaker_path(import_chain),
            "bedrock": lambda: self._bedrock_path(evaluation),
            HYPERPOD: lambda: self._hyperpod_path(import_chain),
        }
        for name in self.platforms:
            platform.when(sfn.Condition.string_equals("$.request.platform", name), branches[name]())
        platform.otherwise(
            sfn.Fail(
                self,
                "Platform not wired here",
                error="UnsupportedPlatform",
                cause="This environment's workflow trains on " + ", ".join(self.platforms),
            )
        )
        return validate.next(prepare).next(platform)

    def _sagemaker_path(self, import_chain: sfn.IChainable) -> sfn.IChainable:
        props = self._props
        train = tasks.SageMakerCreateTrainingJob(
            self,
            "Train on SageMaker",
            training_job_name=sfn.JsonPath.string_at("$.prepared.sagemaker.job_name"),
            role=self.training_role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_json_expression(
                    sfn.JsonPath.string_at("$.prepared.sagemaker.training_image")
                ),
                training_input_mode=tasks.InputMode.FILE,
            ),
            hyperparameters={
                "sagemaker_recipe_local_path": sfn.JsonPath.string_at(
                    "$.prepared.sagemaker.hyperparameters.sagemaker_recipe_local_path"
                ),
                "base_model": sfn.JsonPath.string_at("$.prepared.sagemaker.hyperparameters.base_model"),
            },
            input_data_config=[
                tasks.Channel(
                    channel_name="recipe",
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=tasks.S3Location.from_json_expression("$.prepared.sagemaker.recipe_prefix"),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                        )
                    ),
                )
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_json_expression("$.prepared.sagemaker.output_path"),
                encryption_key=props.key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=sfn.JsonPath.number_at("$.prepared.sagemaker.instance_count"),
                instance_type=ec2.InstanceType(props.training_instance_type.removeprefix("ml.")),
                volume_size=cdk.Size.gibibytes(500),
                volume_encryption_key=props.key,
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=cdk.Duration.hours(props.max_training_hours)),
            vpc_config=tasks.VpcConfig(vpc=props.vpc, subnets=ec2.SubnetSelection(subnets=list(props.subnets))),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_selector={"model_artifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts")},
            result_path="$.training",
        )
        locate = tasks.LambdaInvoke(
            self,
            "Locate checkpoint",
            lambda_function=self.locate_fn,
            payload=sfn.TaskInput.from_object(
                {"model_artifacts": sfn.JsonPath.string_at("$.training.model_artifacts")}
            ),
            payload_response_only=True,
            result_path="$.checkpoint",
        )
        self._guarded(train)
        self._guarded(locate)
        return train.next(locate).next(import_chain)

    def _hyperpod_path(self, import_chain: sfn.IChainable) -> sfn.IChainable:
        """Create the run's Kubernetes objects, wait for its job, delete them (PPO's servers hold GPUs
        until then), then import from the checkpoint the job's manifest names."""
        submit = self._guarded(self._hyperpod_step("Submit HyperPod job", "submit", "$.hyperpod_submitted"))
        check = self._guarded(self._hyperpod_step("Check HyperPod job", "status", "$.hyperpod_job"))
        release = self._guarded(self._hyperpod_step("Release HyperPod job", "remove", "$.hyperpod_released"))
        locate = self._guarded(
            tasks.LambdaInvoke(
                self,
                "Locate HyperPod checkpoint",
                lambda_function=self.locate_fn,
                payload=sfn.TaskInput.from_object(
                    {"manifest_uri": sfn.JsonPath.string_at("$.prepared.hyperpod.manifest_uri")}
                ),
                payload_response_only=True,
                result_path="$.checkpoint",
            )
        )
        failed = sfn.Pass(
            self,
            "HyperPod job failed",
            parameters={
                "Error": "HyperPodJobFailed",
                "Cause": sfn.JsonPath.format(
                    "A PyTorchJob of the run failed: {}", sfn.JsonPath.string_at("$.hyperpod_job.detail")
                ),
            },
            result_path="$.error",
        ).next(self._failure)
        loop = poll_until(
            self,
            "HyperPod job",
            PollSpec(
                key="hyperpod",
                check=check,
                status_path="$.hyperpod_job.status",
                done=["Succeeded"],
                failed=["Failed"],
                first_wait_seconds=300,
            ),
            on_done=release.next(locate).next(import_chain),
            on_failed=failed,
        )
        return submit.next(loop)

    def _hyperpod_step(self, construct_id: str, action: str, result_path: str) -> tasks.LambdaInvoke:
        assert self.hyperpod_fn is not None
        return tasks.LambdaInvoke(
            self,
            construct_id,
            lambda_function=self.hyperpod_fn,
            payload=sfn.TaskInput.from_object(
                {"action": action, "hyperpod": sfn.JsonPath.object_at("$.prepared.hyperpod")}
            ),
            payload_response_only=True,
            result_path=result_path,
        )

    def _import_chain(self, evaluation: sfn.IChainable) -> sfn.IChainable:
        """Import a Nova checkpoint (``$.checkpoint.uri``) into Bedrock and wait until it is active."""
        props = self._props
        import_model = tasks.CallAwsService(
            self,
            "Import into Bedrock",
            service="bedrock",
            action="createCustomModel",
            parameters={
                "ModelName": sfn.JsonPath.format("{}-model", sfn.JsonPath.string_at("$.request.run_name")),
                "ModelSourceConfig": {"S3DataSource": {"S3Uri": sfn.JsonPath.string_at("$.checkpoint.uri")}},
                "RoleArn": self.bedrock_role.role_arn,
                "ModelKmsKeyArn": props.key.key_arn,
            },
            iam_resources=[self._arn("custom-model/*")],
            additional_iam_statements=[
                iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.bedrock_role.role_arn])
            ],
            result_selector={"model_arn": sfn.JsonPath.string_at("$.ModelArn")},
            result_path="$.imported",
        )
        check = tasks.CallAwsService(
            self,
            "Check import",
            service="bedrock",
            action="getCustomModel",
            parameters={"ModelIdentifier": sfn.JsonPath.string_at("$.imported.model_arn")},
            iam_resources=[self._arn("custom-model/*")],
            result_selector={"status": sfn.JsonPath.string_at("$.ModelStatus")},
            result_path="$.import_status",
        )
        self._guarded(import_model)
        self._guarded(check)
        failed = sfn.Pass(
            self,
            "Import failed",
            result=sfn.Result.from_object(
                {"Error": "ImportFailed", "Cause": "Bedrock reported the model import Failed"}
            ),
            result_path="$.error",
        ).next(self._failure)
        loop = poll_until(
            self,
            "Import",
            PollSpec(
                key="import", check=check, status_path="$.import_status.status", done=["Active"], failed=["Failed"]
            ),
            on_done=evaluation,
            on_failed=failed,
        )
        return import_model.next(loop)

    def _bedrock_path(self, evaluation: sfn.IChainable) -> sfn.IChainable:
        check = self._guarded(
            tasks.CallAwsService(
                self,
                "Check customization job",
                service="bedrock",
                action="getModelCustomizationJob",
                parameters={"JobIdentifier": sfn.JsonPath.string_at("$.prepared.bedrock.job_arn")},
                iam_resources=[self._arn("model-customization-job/*")],
                result_selector={
                    "status": sfn.JsonPath.string_at("$.Status"),
                    "model_arn": sfn.JsonPath.string_at("$.OutputModelArn"),
                },
                result_path="$.customization",
            )
        )
        # OutputModelArn exists only once the job completed; read it then.
        completed = sfn.Pass(
            self, "Customized model", parameters={"model_arn.$": "$.customization.model_arn"}, result_path="$.imported"
        )
        failed = sfn.Pass(
            self,
            "Customization failed",
            result=sfn.Result.from_object(
                {"Error": "CustomizationFailed", "Cause": "Bedrock reported the customization job Failed or Stopped"}
            ),
            result_path="$.error",
        ).next(self._failure)
        return poll_until(
            self,
            "Customization",
            PollSpec(
                key="customization",
                check=check,
                status_path="$.customization.status",
                done=["Completed"],
                failed=["Failed", "Stopped"],
                first_wait_seconds=300,
            ),
            on_done=completed.next(evaluation),
            on_failed=failed,
        )

    def _evaluation_chain(self) -> sfn.IChainable:
        props = self._props
        deploy_for_evaluation = self._guarded(
            tasks.CallAwsService(
                self,
                "Deploy for evaluation",
                service="bedrock",
                action="createCustomModelDeployment",
                parameters={
                    "ModelDeploymentName": sfn.JsonPath.format("{}-eval", sfn.JsonPath.string_at("$.request.run_name")),
                    "ModelArn": sfn.JsonPath.string_at("$.imported.model_arn"),
                    "ClientRequestToken": sfn.JsonPath.format("{}-eval", sfn.JsonPath.string_at("$.request.run_name")),
                },
                iam_resources=[self._arn("custom-model/*"), self._arn("custom-model-deployment/*")],
                result_selector={"arn": sfn.JsonPath.string_at("$.CustomModelDeploymentArn")},
                result_path="$.evaluation_deployment",
            )
        )
        check = self._guarded(
            tasks.CallAwsService(
                self,
                "Check evaluation deployment",
                service="bedrock",
                action="getCustomModelDeployment",
                parameters={"CustomModelDeploymentIdentifier": sfn.JsonPath.string_at("$.evaluation_deployment.arn")},
                iam_resources=[self._arn("custom-model-deployment/*")],
                result_selector={"status": sfn.JsonPath.string_at("$.Status")},
                result_path="$.deployment_status",
            )
        )
        evaluate = self._guarded(
            tasks.LambdaInvoke(
                self,
                "Evaluate",
                lambda_function=self.evaluate_fn,
                payload=sfn.TaskInput.from_object(
                    {
                        "run_id": sfn.JsonPath.string_at("$.request.run_name"),
                        "evaluation_dataset": sfn.JsonPath.string_at("$.request.evaluation_dataset"),
                        "candidates": {
                            "base": {
                                "model_id": sfn.JsonPath.format(
                                    props.inference_profile_prefix + "{}",
                                    sfn.JsonPath.string_at("$.request.base_model"),
                                )
                            },
                            "customized": {"model_id": sfn.JsonPath.string_at("$.candidate.model_id")},
                        },
                        "judge": {"model_id": props.judge_model_id, "rubric": props.judge_rubric},
                        "results_uri": sfn.JsonPath.format(
                            "{}evaluation/", sfn.JsonPath.string_at("$.prepared.output_uri")
                        ),
                    }
                ),
                payload_response_only=True,
                result_path="$.evaluation",
            )
        )
        failed = sfn.Pass(
            self,
            "Evaluation deployment failed",
            result=sfn.Result.from_object(
                {"Error": "DeploymentFailed", "Cause": "Bedrock reported the evaluation deployment Failed"}
            ),
            result_path="$.error",
        ).next(self._failure)
        loop = poll_until(
            self,
            "Evaluation deployment",
            PollSpec(
                key="evaluation_deployment",
                check=check,
                status_path="$.deployment_status.status",
                done=["Active"],
                failed=["Failed"],
            ),
            on_done=sfn.Pass(
                self,
                "Evaluate the deployment",
                parameters={"model_id.$": "$.evaluation_deployment.arn"},
                result_path="$.candidate",
            ).next(evaluate),
            on_failed=failed,
        )
        evaluate.next(self._gate())
        self._evaluate = evaluate
        return deploy_for_evaluation.next(loop)

    def _gate(self) -> sfn.IChainable:
        # A metric the dataset does not measure (no tool schemas, say) is absent and does not block.
        metrics = ["exact_match", "token_f1", "rouge_l", "tool_call_valid", "judge_score"]
        passes = [
            sfn.Condition.or_(
                sfn.Condition.is_not_present(f"$.evaluation.customized.{m}"),
                sfn.Condition.number_greater_than_equals_json_path(
                    f"$.evaluation.customized.{m}", f"$.request.thresholds.{m}"
                ),
            )
            for m in metrics
        ]
        passes.append(
            sfn.Condition.number_greater_than_equals_json_path(
                "$.evaluation.improvement.judge_score", "$.request.thresholds.min_judge_improvement"
            )
        )
        gate = sfn.Choice(self, "Quality gate")
        failed_gate = sfn.Pass(
            self,
            "Gate failed",
            parameters={
                "Error": "QualityGateFailed",
                "Cause": sfn.JsonPath.format(
                    "Customized model below a threshold; see {}", sfn.JsonPath.string_at("$.evaluation.results")
                ),
            },
            result_path="$.error",
        )
        gate.when(sfn.Condition.and_(*passes), self._deploy())
        gate.otherwise(failed_gate.next(self._failure))
        return gate

    def _deploy(self) -> sfn.IChainable:
        props = self._props
        record = self._record_success()
        provision = self._guarded(
            tasks.CallAwsService(
                self,
                "Provision throughput",
                service="bedrock",
                action="createProvisionedModelThroughput",
                parameters={
                    "ProvisionedModelName": sfn.JsonPath.string_at("$.request.run_name"),
                    "ModelId": sfn.JsonPath.string_at("$.imported.model_arn"),
                    "ModelUnits": props.provisioned_model_units,
                    "ClientRequestToken": sfn.JsonPath.format("{}-serve", sfn.JsonPath.string_at("$.request.run_name")),
                },
                iam_resources=[self._arn("custom-model/*"), self._arn("provisioned-model/*")],
                result_selector={"arn": sfn.JsonPath.string_at("$.ProvisionedModelArn")},
                result_path="$.serving",
            )
        )
        check = self._guarded(
            tasks.CallAwsService(
                self,
                "Check throughput",
                service="bedrock",
                action="getProvisionedModelThroughput",
                parameters={"ProvisionedModelId": sfn.JsonPath.string_at("$.serving.arn")},
                iam_resources=[self._arn("provisioned-model/*")],
                result_selector={"status": sfn.JsonPath.string_at("$.Status")},
                result_path="$.serving_status",
            )
        )
        drop_evaluation_deployment = self._guarded(
            tasks.CallAwsService(
                self,
                "Remove evaluation deployment",
                service="bedrock",
                action="deleteCustomModelDeployment",
                parameters={"CustomModelDeploymentIdentifier": sfn.JsonPath.string_at("$.evaluation_deployment.arn")},
                iam_resources=[self._arn("custom-model-deployment/*")],
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        keep_deployment = sfn.Pass(
            self, "Serve on demand", parameters={"arn.$": "$.evaluation_deployment.arn"}, result_path="$.serving"
        )
        no_serving = sfn.Pass(
            self, "No deployment", result=sfn.Result.from_object({"arn": "none"}), result_path="$.serving"
        )
        failed = sfn.Pass(
            self,
            "Provisioning failed",
            result=sfn.Result.from_object(
                {"Error": "ProvisioningFailed", "Cause": "Bedrock reported the provisioned throughput Failed"}
            ),
            result_path="$.error",
        ).next(self._failure)
        loop = poll_until(
            self,
            "Throughput",
            PollSpec(
                key="throughput",
                check=check,
                status_path="$.serving_status.status",
                done=["InService"],
                failed=["Failed"],
            ),
            on_done=drop_evaluation_deployment,
            on_failed=failed,
        )
        drop_evaluation_deployment.next(record)
        mode = sfn.Choice(self, "Deploy how?")
        mode.when(sfn.Condition.string_equals("$.request.technique", IMPORT), self._serve_imported(record))
        mode.when(sfn.Condition.string_equals("$.request.deploy_mode", "provisioned-throughput"), provision.next(loop))
        mode.when(sfn.Condition.string_equals("$.request.deploy_mode", "on-demand"), keep_deployment.next(record))
        mode.otherwise(no_serving.next(drop_evaluation_deployment))
        return mode

    def _serve_imported(self, record: sfn.IChainable) -> sfn.IChainable:
        """An imported model needs no deployment: on demand, it is invoked by its own ARN."""
        on_demand = sfn.Pass(
            self,
            "Serve imported model on demand",
            parameters={"arn.$": "$.imported.model_arn"},
            result_path="$.serving",
        )
        not_served = sfn.Pass(
            self, "Imported model not served", result=sfn.Result.from_object({"arn": "none"}), result_path="$.serving"
        )
        serve = sfn.Choice(self, "Serve imported model?")
        serve.when(sfn.Condition.string_equals("$.request.deploy_mode", "on-demand"), on_demand.next(record))
        serve.otherwise(not_served.next(record))
        return serve

    def _open_weight_import(self) -> sfn.IChainable:
        """``CreateModelImportJob`` from the run's ``model_data`` folder, polled until the model exists."""
        props = self._props
        start = self._guarded(
            tasks.CallAwsService(
                self,
                "Import open-weight model",
                service="bedrock",
                action="createModelImportJob",
                parameters={
                    "JobName": sfn.JsonPath.string_at("$.prepared.import.job_name"),
                    "ImportedModelName": sfn.JsonPath.string_at("$.prepared.import.model_name"),
                    "RoleArn": self.bedrock_role.role_arn,
                    "ModelDataSource": {"S3DataSource": {"S3Uri": sfn.JsonPath.string_at("$.request.model_data")}},
                    "ImportedModelKmsKeyId": props.key.key_arn,
                    "ClientRequestToken": sfn.JsonPath.string_at("$.prepared.import.client_token"),
                },
                iam_resources=[self._arn("model-import-job/*"), self._arn("imported-model/*")],
                additional_iam_statements=[
                    iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.bedrock_role.role_arn])
                ],
                result_selector={"job_arn": sfn.JsonPath.string_at("$.JobArn")},
                result_path="$.model_import",
            )
        )
        check = self._guarded(
            tasks.CallAwsService(
                self,
                "Check model import",
                service="bedrock",
                action="getModelImportJob",
                parameters={"JobIdentifier": sfn.JsonPath.string_at("$.model_import.job_arn")},
                iam_resources=[self._arn("model-import-job/*")],
                result_selector={"status": sfn.JsonPath.string_at("$.Status")},
                result_path="$.model_import_status",
            )
        )
        # ImportedModelArn is there once the job completed; read it then.
        read = self._guarded(
            tasks.CallAwsService(
                self,
                "Read imported model",
                service="bedrock",
                action="getModelImportJob",
                parameters={"JobIdentifier": sfn.JsonPath.string_at("$.model_import.job_arn")},
                iam_resources=[self._arn("model-import-job/*")],
                result_selector={"model_arn": sfn.JsonPath.string_at("$.ImportedModelArn")},
                result_path="$.imported",
            )
        )
        candidate = sfn.Pass(
            self,
            "Evaluate the imported model",
            parameters={"model_id.$": "$.imported.model_arn"},
            result_path="$.candidate",
        )
        failed = sfn.Pass(
            self,
            "Model import failed",
            result=sfn.Result.from_object(
                {"Error": "ModelImportFailed", "Cause": "Bedrock reported the model import job Failed"}
            ),
            result_path="$.error",
        ).next(self._failure)
        loop = poll_until(
            self,
            "Model import",
            PollSpec(
                key="model_import",
                check=check,
                status_path="$.model_import_status.status",
                done=["Completed"],
                failed=["Failed"],
            ),
            on_done=read.next(candidate).next(self._evaluate),
            on_failed=failed,
        )
        return start.next(loop)

    def _record_success(self) -> sfn.IChainable:
        record = tasks.DynamoUpdateItem(
            self,
            "Record lineage",
            table=self.lineage_table,
            key={"run_name": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.request.run_name"))},
            update_expression=(
                "SET #status = :status, model_arn = :model, serving_arn = :serving, evaluation = :evaluation, "
                "approval = :approved, completed_at = :completed"
            ),
            expression_attribute_names={"#status": "status"},
            expression_attribute_values={
                ":status": tasks.DynamoAttributeValue.from_string("SUCCEEDED"),
                ":model": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.imported.model_arn")),
                ":serving": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.serving.arn")),
                ":evaluation": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.evaluation.results")),
                # APPROVED (what Serving deploys) or APPROVED_IMPORTED, as Prepare decided for the run.
                ":approved": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.prepared.approval")),
                ":completed": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        record.add_retry(
            errors=["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException"],
            backoff_rate=2,
            max_attempts=5,
        )
        done = sfn.Succeed(self, "Customized")
        return record.next(self._notify("Notify success", "SUCCEEDED")).next(done)

    def _failure_path(self) -> sfn.IChainable:
        """One shared path: clean up, mark the run failed, notify, fail with the original error."""
        clean_up = tasks.LambdaInvoke(
            self, "Clean up", lambda_function=self.clean_up_fn, payload_response_only=True, result_path="$.cleanup"
        )
        clean_up.add_retry(errors=TRANSIENT_ERRORS, interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=5)
        record = tasks.DynamoUpdateItem(
            self,
            "Record failure",
            table=self.lineage_table,
            key={"run_name": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.request.run_name"))},
            update_expression="SET #status = :status, failure = :cause, execution_arn = :execution",
            # Never over another execution's record (a run that failed before claiming its name).
            condition_expression="attribute_not_exists(run_name) OR execution_arn = :execution",
            expression_attribute_names={"#status": "status"},
            expression_attribute_values={
                ":execution": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.Execution.Id")),
                ":status": tasks.DynamoAttributeValue.from_string("FAILED"),
                ":cause": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.error"))
                ),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        record.add_retry(
            errors=["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException"],
            backoff_rate=2,
            max_attempts=5,
        )
        failed = sfn.Fail(self, "Failed", error_path="$.error.Error", cause_path="$.error.Cause")
        notify = self._notify("Notify failure", "FAILED")
        # Clean-up and bookkeeping must not hide the run's own error: their failures go straight on.
        clean_up.add_catch(record, errors=["States.ALL"], result_path="$.cleanup_error")
        record.add_catch(notify, errors=["States.ALL"], result_path="$.record_error")
        clean_up.next(record).next(notify).next(failed)
        if self.hyperpod_fn is None:
            return clean_up
        remove = self._hyperpod_step("Remove HyperPod job", "remove", "$.hyperpod_released")
        remove.add_retry(errors=TRANSIENT_ERRORS, interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=5)
        remove.add_catch(clean_up, errors=["States.ALL"], result_path="$.hyperpod_cleanup_error")
        started = sfn.Choice(self, "HyperPod job to remove?")
        started.when(sfn.Condition.is_present("$.prepared.hyperpod"), remove.next(clean_up))
        started.otherwise(clean_up)
        return started

    def _notify(self, construct_id: str, outcome: str) -> tasks.SnsPublish:
        publish = tasks.SnsPublish(
            self,
            construct_id,
            topic=self.topic,
            subject=f"Customization run {outcome.lower()}",
            message=sfn.TaskInput.from_text(
                sfn.JsonPath.format("{} {}", outcome, sfn.JsonPath.json_to_string(sfn.JsonPath.entire_payload))
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        # A notification may be sent twice; it must not be lost to a throttled call.
        publish.add_retry(
            errors=["States.TaskFailed"], interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=3
        )
        return publish

    def _acknowledge(self) -> None:
        partition, region, account = nag_environment(self)

        def bedrock(resource: str, owner: str = account) -> str:
            return f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:{region}:{owner}:{resource}]"

        def sagemaker(resource: str) -> str:
            return f"AwsSolutions-IAM5[Resource::arn:{partition}:sagemaker:{region}:{account}:{resource}]"

        kms_grant = ["AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "AwsSolutions-IAM5[Action::kms:ReEncrypt*]"]
        run_scoped = {
            self.validate_fn: [],
            self.locate_fn: [],
            self.prepare_fn: [
                *kms_grant,
                sagemaker("hub-content/*"),
                bedrock("model-customization-job/*"),
                bedrock("custom-model/*"),
                bedrock("foundation-model/*", owner=""),
            ],
            self.clean_up_fn: [
                sagemaker("training-job/*"),
                bedrock("model-customization-job/*"),
                bedrock("custom-model/*"),
                bedrock("custom-model-deployment/*"),
                bedrock("imported-model/*"),
            ],
            self.evaluate_fn: [
                *kms_grant,
                bedrock("foundation-model/*", owner=""),
                bedrock("inference-profile/*"),
                bedrock("custom-model/*"),
                bedrock("custom-model-deployment/*"),
                bedrock("imported-model/*"),
            ],
        }
        for function, wildcards in run_scoped.items():
            acknowledge(
                function,
                "A workflow step: jobs, models and deployments are named per run at run time, so access is scoped "
                "to this account's resources of each type; X-Ray trace writes have no resource-level permission; "
                "Python 3.13 matches the pinned Powertools layer; basic logging is the AWS managed policy. Step "
                "Functions invokes it and handles its errors (no dead-letter queue); it calls AWS APIs only, "
                "so it runs outside the VPC.",
                "AwsSolutions-L1",
                LAMBDA_BASIC_EXECUTION_FINDING,
                "AwsSolutions-IAM5[Resource::*]",
                *wildcards,
                "NIST.800.53.R5-LambdaDLQ",
                "NIST.800.53.R5-LambdaInsideVPC",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )
        if self.hyperpod_fn is not None:
            acknowledge(
                self.hyperpod_fn,
                "The HyperPod jobs step: in the VPC for the cluster's private endpoint, so the AWS managed "
                "basic and VPC access execution policies apply (logs, ENIs); X-Ray trace writes have no "
                "resource-level permission; Python 3.13 matches the pinned Powertools layer. Step Functions "
                "invokes it and handles its errors (no dead-letter queue).",
                "AwsSolutions-L1",
                LAMBDA_BASIC_EXECUTION_FINDING,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "AwsSolutions-IAM5[Resource::*]",
                "NIST.800.53.R5-LambdaDLQ",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )
        stack = cdk.Stack.of(self)
        functions = [self.validate_fn, self.prepare_fn, self.locate_fn, self.evaluate_fn, self.clean_up_fn]
        if self.hyperpod_fn is not None:
            functions.append(self.hyperpod_fn)
        acknowledge(
            self.state_machine,
            "The state machine's role: aws-cdk-lib's grants for invoking the step functions (any version), log "
            "delivery, X-Ray and the SageMaker .sync integration (no resource-level permissions); jobs, models, "
            "deployments and throughputs are named per run, so they are scoped to this account's of each type.",
            "AwsSolutions-IAM5[Resource::*]",
            *[f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(f.node.default_child)}.Arn>:*]" for f in functions],  # type: ignore[arg-type]
            sagemaker("training-job/*"),
            bedrock("model-customization-job/*"),
            bedrock("custom-model/*"),
            bedrock("custom-model-deployment/*"),
            bedrock("provisioned-model/*"),
            bedrock("model-import-job/*"),
            bedrock("imported-model/*"),
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )

    def _arn(self, resource: str) -> str:
        kind, _, name = resource.partition("/")
        return cdk.Stack.of(self).format_arn(service="bedrock", resource=kind, resource_name=name)
