"""The workflow's Lambda steps: their code, environment, permissions and cdk-nag acknowledgements.

Every step but the evaluation shares one code asset (``lambda/customization_steps`` with the
recipe loader, the recipes, the EKS access client and PyYAML) and reads the environment
variables named in ``customization.contract.Env``; the evaluation takes its event only.
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

from constructs import Construct
from constructs.bundled_python_code import REPO, bundled_python_code, pure_python_package
from constructs.data_stores import DataStores
from constructs.hyperpod_helm_chart import NovaJobTarget
from constructs.nag_acknowledgements import LAMBDA_BASIC_EXECUTION_FINDING, acknowledge, nag_environment
from constructs.workflow_evaluation import BATCH_TIMEOUT_MINUTES, EVALUATIONS_AT_ONCE, REPORT_TIMEOUT_MINUTES
from constructs.workflow_perms import (
    clean_up_statements,
    cluster_read_statement,
    evaluation_statement,
    model_key_statements,
    model_key_use_statement,
    other_environments_denied,
    prepare_statements,
)
from customization.contract import PUBLIC_HUB, Env

STEPS_ROOT = REPO / "lambda" / "customization_steps"
EVALUATION_ROOT = REPO / "lambda" / "model_evaluation"
EKS_ACCESS = REPO / "lambda" / "eks_access" / "eks_access"
# The public Powertools for AWS Lambda (Python) layer, v3, for the functions' runtime and architecture.
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:27"
RUNTIME = lambda_.Runtime.PYTHON_3_13


def steps_code() -> lambda_.Code:
    """One asset for every step function: the steps, the recipe loader and contract, the recipes and PyYAML."""
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
class WorkflowStepsProps:
    environment: str
    """Names the functions' Powertools service (``<environment>-customization``); the tag value of what the
    steps create, and the only one the clean-up may stop or delete (``ENVIRONMENT_TAG``)."""
    stores: DataStores
    """Prepare writes recipes to artifacts; Evaluate reads datasets and writes results."""
    key: kms.IKey
    """Encrypts the functions' logs; Prepare writes recipes and records with it."""
    lineage_table: dynamodb.ITable
    """Prepare claims the run's name in it."""
    bedrock_role: iam.IRole
    """Prepare starts Bedrock customization jobs as this role (and passes it)."""
    platforms: Sequence[str]
    """The platforms wired here (``Env.PLATFORMS``); Validate rejects the others."""
    vpc: ec2.IVpc
    """The training VPC."""
    subnets: Sequence[ec2.ISubnet]
    """Where the HyperPod jobs step runs (the cluster's endpoint is private)."""
    cluster_security_group: ec2.ISecurityGroup
    """Admits the HyperPod jobs step on 443 (the cluster's API)."""
    log_retention: logs.RetentionDays
    """How long each function's log group keeps its logs."""
    max_training_hours: int
    """A HyperPod job's deadline (``activeDeadlineSeconds``)."""
    evaluation_concurrency: int
    """Batches one run's evaluation scores at once (``workflow.evaluation.max_concurrency``)."""
    inference_profile_prefix: str = ""
    """How the evaluation invokes base models (``Env.INFERENCE_PROFILE_PREFIX``); default in-Region."""
    hyperpod: NovaJobTarget | None = None
    """The restricted instance group Nova jobs run on; default none (no HyperPod jobs step)."""


class WorkflowSteps:
    """``validate_fn``, ``check_dataset_fn`` (the evaluation dataset, before anything is claimed), ``prepare_fn``,
    ``locate_fn``, ``evaluate_fn`` (one batch of an evaluation's records),
    ``report_fn`` (the evaluation's summary, gate and report), ``clean_up_fn`` and, with a restricted instance
    group, ``hyperpod_fn``; ``functions`` lists them all.

    Built into the workflow's scope (no node of its own), so the functions keep their logical ids.
    """

    def __init__(self, scope: Construct, props: WorkflowStepsProps) -> None:
        self._scope = scope
        self._props = props
        stack = cdk.Stack.of(scope)
        self._code = steps_code()
        self._layer = lambda_.LayerVersion.from_layer_version_arn(
            scope, "Powertools", POWERTOOLS_LAYER.format(partition=stack.partition, region=stack.region)
        )
        environment = self._steps_environment()
        self.validate_fn = self._steps_function("ValidateStep", "customization_steps.steps.validate", environment)
        self.prepare_fn = self._steps_function("PrepareStep", "customization_steps.steps.prepare", environment)
        self.clean_up_fn = self._steps_function("CleanUpStep", "customization_steps.steps.clean_up_run", environment)
        self.locate_fn = self._steps_function("LocateCheckpointStep", "customization_steps.steps.locate", environment)
        self.hyperpod_fn = self._hyperpod_function(props.hyperpod) if props.hyperpod is not None else None
        evaluation_code = lambda_.Code.from_asset(str(EVALUATION_ROOT), exclude=["**/__pycache__"])
        # Each run's map calls it max_concurrency times at once; room for EVALUATIONS_AT_ONCE runs evaluating together.
        self.evaluate_fn = self._function(
            "EvaluateStep",
            "model_evaluation.handler.batch_handler",
            evaluation_code,
            timeout=cdk.Duration.minutes(BATCH_TIMEOUT_MINUTES),
            reserved_concurrency=EVALUATIONS_AT_ONCE * props.evaluation_concurrency,
        )
        self.check_dataset_fn = self._function(
            "EvaluationDatasetCheckStep",
            "model_evaluation.handler.check_handler",
            evaluation_code,
            timeout=cdk.Duration.minutes(5),
        )
        self.report_fn = self._function(
            "EvaluationReportStep",
            "model_evaluation.handler.report_handler",
            evaluation_code,
            timeout=cdk.Duration.minutes(REPORT_TIMEOUT_MINUTES),
            memory_size=1024,
        )
        self._grant()
        self._acknowledge()

    @property
    def functions(self) -> list[lambda_.Function]:
        found = [self.validate_fn, self.check_dataset_fn, self.prepare_fn, self.locate_fn, self.evaluate_fn]
        found += [self.report_fn, self.clean_up_fn]
        return found + ([self.hyperpod_fn] if self.hyperpod_fn is not None else [])

    def _steps_environment(self) -> dict[str, str]:
        """What the steps read through ``Settings.from_environment``."""
        props = self._props
        environment = {
            Env.DATASETS_BUCKET: props.stores.datasets_bucket.bucket_name,
            Env.ARTIFACTS_BUCKET: props.stores.artifacts_bucket.bucket_name,
            Env.PLATFORMS: ",".join(props.platforms),
            Env.RUNS_TABLE: props.lineage_table.table_name,
            Env.CUSTOMIZATION_ROLE_ARN: props.bedrock_role.role_arn,
            Env.KEY_ARN: props.key.key_arn,
            Env.ENVIRONMENT: props.environment,
            Env.INFERENCE_PROFILE_PREFIX: props.inference_profile_prefix,
        }
        target = props.hyperpod
        if target is not None:
            environment |= {
                Env.HYPERPOD_NAMESPACE: target.namespace,
                Env.HYPERPOD_INSTANCE_TYPE: target.instance_type,
                Env.HYPERPOD_MAX_NODES: str(target.max_nodes),
                Env.MAX_TRAINING_SECONDS: str(props.max_training_hours * 3600),
                Env.ACCOUNT_ID: cdk.Stack.of(self._scope).account,
            }
        return environment

    def _steps_function(self, construct_id: str, handler: str, environment: dict[str, str]) -> lambda_.Function:
        return self._function(
            construct_id, handler, self._code, timeout=cdk.Duration.minutes(2), environment=environment
        )

    def _hyperpod_function(self, target: NovaJobTarget) -> lambda_.Function:
        """Creates, watches and deletes a run's Kubernetes objects; in the VPC, as the endpoint is private.

        An access entry maps its role to the group the cluster's workflow Role is bound to
        (``Custom::HyperPodWorkflowAccess`` in the Training stack): no EKS access policy.
        """
        scope, props = self._scope, self._props
        # Its own group: HTTPS out (the cluster endpoint, STS and EKS), nothing else, and the cluster admits it on
        # 443 only (the training nodes' group admits itself on every port, for EFA).
        security_group = ec2.SecurityGroup(
            scope,
            "HyperPodJobsStepSecurityGroup",
            vpc=props.vpc,
            allow_all_outbound=False,
            description="Customization workflow HyperPod jobs step: HTTPS to the Kubernetes and AWS APIs",
        )
        security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "Kubernetes API, STS and EKS")
        # L1, in this stack: the L2 rule would land in the Network stack, which this stack depends on.
        ec2.CfnSecurityGroupIngress(
            scope,
            "ClusterAdmitsHyperPodJobsStep",
            group_id=props.cluster_security_group.security_group_id,
            source_security_group_id=security_group.security_group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="Workflow HyperPod jobs step to the Kubernetes API",
        )
        function = self._function(
            "HyperPodJobsStep",
            "customization_steps.hyperpod_steps.handle",
            self._code,
            timeout=cdk.Duration.minutes(2),
            environment={Env.CLUSTER_NAME: target.cluster.cluster_name, Env.HYPERPOD_NAMESPACE: target.namespace},
            memory_size=512,
            security_group=security_group,
        )
        function.add_to_role_policy(cluster_read_statement(target.cluster.cluster_arn))
        role = function.role
        assert role is not None  # a Function made here always has its own role
        eks.CfnAccessEntry(
            scope,
            "HyperPodJobsAccess",
            cluster_name=target.cluster.cluster_name,
            principal_arn=role.role_arn,
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
        reserved_concurrency: int = 10,
    ) -> lambda_.Function:
        """A step function; with ``security_group``, in the VPC's training subnets (else outside the VPC)."""
        scope, props = self._scope, self._props
        log_group = logs.LogGroup(scope, f"{construct_id}Logs", retention=props.log_retention, encryption_key=props.key)
        in_vpc = security_group is not None
        return lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            handler=handler,
            code=code,
            layers=[self._layer],
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            reserved_concurrent_executions=reserved_concurrency,
            environment={"POWERTOOLS_SERVICE_NAME": f"{props.environment}-customization", **(environment or {})},
            description=f"Customization workflow step: {construct_id}",
            vpc=props.vpc if in_vpc else None,
            vpc_subnets=ec2.SubnetSelection(subnets=list(props.subnets)) if in_vpc else None,
            security_groups=[security_group] if security_group is not None else None,
        )

    def _grant(self) -> None:
        props = self._props
        stack = cdk.Stack.of(self._scope)
        props.stores.grant_read_write_artifacts(self.prepare_fn)
        self.prepare_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[props.lineage_table.table_arn])
        )
        props.key.grant_encrypt_decrypt(self.prepare_fn)
        # It tags what it creates: it must not re-tag another environment's model as its own.
        for statement in prepare_statements(stack, props.environment) + other_environments_denied(
            stack, props.environment
        ):
            self.prepare_fn.add_to_role_policy(statement)
        props.bedrock_role.grant_pass_role(self.prepare_fn.grant_principal)
        # CreateModelCustomizationJob with customModelKmsKeyId: Bedrock takes a grant on the key for the caller.
        for statement in model_key_statements(stack, props.key.key_arn):
            self.prepare_fn.add_to_role_policy(statement)
        for statement in clean_up_statements(stack, props.environment):
            self.clean_up_fn.add_to_role_policy(statement)
        props.stores.grant_read_artifacts(self.locate_fn)
        props.key.grant_decrypt(self.locate_fn)
        # A batch's records arrive in its event (the map reads the dataset), text-to-SQL records' databases are in
        # the datasets bucket; the base-answer cache and each batch's answers are in the artifacts bucket, which the
        # report reads back.
        props.stores.grant_read_datasets(self.evaluate_fn)
        props.stores.grant_read_datasets(self.check_dataset_fn)
        props.key.grant_decrypt(self.check_dataset_fn)
        for function in (self.evaluate_fn, self.report_fn):
            props.stores.grant_read_write_artifacts(function)
            props.key.grant_encrypt_decrypt(function)
        self.evaluate_fn.add_to_role_policy(evaluation_statement(stack))
        # The check tries the base model and the judge once each, as the evaluation will invoke them (with what a
        # caller of a model Bedrock keeps encrypted with the platform key needs, through Bedrock only).
        self.check_dataset_fn.add_to_role_policy(evaluation_statement(stack))
        self.check_dataset_fn.add_to_role_policy(model_key_use_statement(stack, props.key.key_arn))

    def _acknowledge(self) -> None:
        partition, region, account = nag_environment(self._scope)

        def bedrock(resource: str, owner: str = account) -> str:
            return f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:{region}:{owner}:{resource}]"

        def sagemaker(resource: str) -> str:
            return f"AwsSolutions-IAM5[Resource::arn:{partition}:sagemaker:{region}:{account}:{resource}]"

        kms_grant = ["AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "AwsSolutions-IAM5[Action::kms:ReEncrypt*]"]
        evaluation_invokes = [
            # Cross-Region inference profiles route to the foundation model in any of their Regions.
            f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:*::foundation-model/*]",
            bedrock("inference-profile/*"),
            bedrock("custom-model/*"),
            bedrock("custom-model-deployment/*"),
            bedrock("imported-model/*"),
            bedrock("provisioned-model/*"),
        ]
        run_scoped = {
            self.validate_fn: [],
            self.locate_fn: [],
            self.prepare_fn: [
                *kms_grant,
                f"AwsSolutions-IAM5[Resource::arn:{partition}:sagemaker:{region}:aws:hub-content/{PUBLIC_HUB}/*]",
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
                bedrock("provisioned-model/*"),
            ],
            self.report_fn: [*kms_grant],
            self.check_dataset_fn: evaluation_invokes,
            self.evaluate_fn: [*kms_grant, *evaluation_invokes],
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
