"""The roles the workflow's jobs run as: SageMaker training jobs and Bedrock jobs."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.data_stores import DataStores
from constructs.nag_acknowledgements import acknowledge, nag_arn, nag_environment
from constructs.workflow_perms import escrow_read_statement, model_key_statements, training_job_statements


@dataclass(frozen=True)
class WorkflowJobRolesProps:
    stores: DataStores
    """Jobs read datasets and read and write artifacts (no default)."""
    key: kms.IKey
    """The platform key: training output, volumes and Bedrock's models are encrypted with it (no default)."""


class WorkflowJobRoles:
    """``training_role`` (SageMaker training jobs; the state machine passes it) and ``bedrock_role``
    (customization and import jobs; Prepare and the state machine pass it).

    Built into the workflow's scope (no node of its own), so the roles keep their logical ids.
    """

    def __init__(self, scope: Construct, props: WorkflowJobRolesProps) -> None:
        self.training_role = _training_role(scope, props)
        self.bedrock_role = _bedrock_role(scope, props)


def _training_role(scope: Construct, props: WorkflowJobRolesProps) -> iam.IRole:
    """What a SageMaker training job needs: read datasets and the rendered recipe, write outputs, pull the
    Nova image, log, and run in the VPC. The task may not add to it (it would add s3 and ECR on ``*``)."""
    stack = cdk.Stack.of(scope)
    role = iam.Role(
        scope,
        "TrainingJobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker training jobs of the customization workflow",
    )
    props.stores.grant_read_datasets(role)
    props.stores.grant_read_write_artifacts(role)
    props.key.grant_encrypt_decrypt(role)
    for statement in training_job_statements(stack):
        role.add_to_policy(statement)
    partition, region, _ = nag_environment(scope)
    acknowledge(
        role,
        "SageMaker training jobs in a VPC: ecr:GetAuthorizationToken, PutMetricData (limited to the training "
        "namespace) and the ENI and VPC describe calls have no resource-level permissions; Nova images live "
        "in AWS-owned registries whose account differs per region, so pulls are scoped to repositories in "
        "this region; training logs go to SageMaker's fixed log group. KMS wildcards are aws-cdk-lib's "
        "encrypt/decrypt grant on the platform key.",
        "AwsSolutions-IAM5[Resource::*]",
        f"AwsSolutions-IAM5[Resource::arn:{partition}:ecr:{region}:*:repository/*]",
        f"AwsSolutions-IAM5[Resource::{nag_arn(scope, 'logs', 'log-group:/aws/sagemaker/TrainingJobs:*')}]",
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
        "NIST.800.53.R5-IAMNoInlinePolicy",
    )
    return role.without_policy_updates()


def _bedrock_role(scope: Construct, props: WorkflowJobRolesProps) -> iam.Role:
    """Bedrock assumes it to read training data, write job output and read artifacts to import a model."""
    stack = cdk.Stack.of(scope)
    role = iam.Role(
        scope,
        "BedrockJobRole",
        assumed_by=iam.ServicePrincipal(
            "bedrock.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
        ),
        description="Bedrock customization and model import of the customization workflow",
    )
    props.stores.grant_read_datasets(role)
    props.stores.grant_read_write_artifacts(role)
    role.add_to_policy(escrow_read_statement(stack))
    # CreateCustomModel and CreateModelImportJob: the service role "must have permissions to use" the model key.
    for statement in model_key_statements(stack, props.key.key_arn):
        role.add_to_policy(statement)
    partition, _, account = nag_environment(scope)
    escrow = f"arn:{partition}:s3:::customer-escrow-{account}"
    acknowledge(
        role,
        "Nova checkpoints land in AWS-owned escrow buckets named customer-escrow-<account>-<platform>-<id>, one per "
        "job platform, created by AWS: reads are scoped to this account's escrow buckets, as the Nova Forge SDK's "
        "Bedrock execution role scopes them.",
        f"AwsSolutions-IAM5[Resource::{escrow}*]",
        f"AwsSolutions-IAM5[Resource::{escrow}*/*]",
        "NIST.800.53.R5-IAMNoInlinePolicy",
    )
    return role
