"""The model the platform serves: Bedrock provisioned throughput or an on-demand custom model
deployment, through a custom resource (CloudFormation has no type for either).

Creation is asynchronous: the Provider framework polls ``is_complete`` every minute until the
resource is ready, so no Lambda sleeps. See lambda/bedrock_serving for the semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import custom_resources as cr

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge, nag_arn

HANDLER_ROOT = Path(__file__).resolve().parent.parent / "lambda" / "bedrock_serving"
# Per mode: the custom resource Kind, the ARN type it makes, create and manage actions, the ARN attribute.
MODES = {
    "provisioned-throughput": (
        "ProvisionedThroughput",
        "provisioned-model",
        ["bedrock:CreateProvisionedModelThroughput", "bedrock:TagResource"],
        [
            "bedrock:DeleteProvisionedModelThroughput",
            "bedrock:GetProvisionedModelThroughput",
            "bedrock:UpdateProvisionedModelThroughput",
        ],
        "ProvisionedModelArn",
    ),
    "on-demand": (
        "CustomModelDeployment",
        "custom-model-deployment",
        ["bedrock:CreateCustomModelDeployment", "bedrock:TagResource"],
        [
            "bedrock:DeleteCustomModelDeployment",
            "bedrock:GetCustomModelDeployment",
            "bedrock:UpdateCustomModelDeployment",
        ],
        "DeploymentArn",
    ),
}
LAMBDA_BASIC_POLICY = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
INVOKE_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


@dataclass(frozen=True)
class ServedModelProps:
    model_arn: str
    name: str
    log_key: kms.IKey
    log_retention: logs.RetentionDays
    mode: str = "provisioned-throughput"  # or "on-demand" (custom models only)
    model_units: int = 1  # provisioned throughput only
    commitment_duration: str = "None"  # provisioned throughput only: None, OneMonth or SixMonths
    expire_after_hours: int | None = None  # provisioned throughput without commitment only
    tags: dict[str, str] | None = None


class ServedModel(Construct):
    """Attributes: ``invoke_arn`` (what agents call: the throughput or deployment) and ``model_arn``;
    ``grant_invoke``."""

    def __init__(self, scope: Construct, construct_id: str, props: ServedModelProps) -> None:
        super().__init__(scope, construct_id)
        if props.mode not in MODES:
            raise ValueError(f"ServedModel: mode {props.mode!r}; allowed: {', '.join(MODES)}")
        if props.expire_after_hours is not None and (
            props.mode != "provisioned-throughput" or props.commitment_duration != "None"
        ):
            raise ValueError(
                "ServedModel: expire_after_hours is set; allowed only for provisioned throughput without commitment"
            )
        if props.model_units < 1:
            raise ValueError(f"ServedModel: model_units {props.model_units}; allowed: 1 or more")
        if props.commitment_duration not in ("None", "OneMonth", "SixMonths"):
            raise ValueError(
                f"ServedModel: commitment_duration {props.commitment_duration!r}; allowed: None, OneMonth, SixMonths"
            )
        self.model_arn = props.model_arn
        code = lambda_.Code.from_asset(str(HANDLER_ROOT), exclude=["**/__pycache__"])
        handlers = {
            name: lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_14,
                handler=f"bedrock_serving.handler.{entry}",
                code=code,
                timeout=cdk.Duration.minutes(2),
                log_group=logs.LogGroup(
                    self, f"{name}Logs", retention=props.log_retention, encryption_key=props.log_key
                ),
                reserved_concurrent_executions=2,
            )
            for name, entry in (("OnEvent", "handle_event"), ("IsComplete", "handle_is_complete"))
        }
        kind, arn_type, create_actions, manage_actions, arn_attribute = MODES[props.mode]
        self._arn_type = arn_type
        made = cdk.Stack.of(self).format_arn(service="bedrock", resource=arn_type, resource_name="*")
        handlers["OnEvent"].add_to_role_policy(
            iam.PolicyStatement(actions=create_actions, resources=[props.model_arn, made])
        )
        for handler in handlers.values():
            handler.add_to_role_policy(iam.PolicyStatement(actions=manage_actions, resources=[made]))
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=handlers["OnEvent"],
            is_complete_handler=handlers["IsComplete"],
            query_interval=cdk.Duration.minutes(1),
            total_timeout=cdk.Duration.hours(2),
            log_group=logs.LogGroup(self, "ProviderLogs", retention=props.log_retention, encryption_key=props.log_key),
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=f"Custom::Bedrock{kind}",
            properties=_properties(kind, props),
        )
        self.invoke_arn = self.resource.get_att_string(arn_attribute)
        if props.expire_after_hours is not None:
            self._expire(props.log_key)
        self._acknowledge(handlers, provider)

    def _expire(self, key: kms.IKey) -> None:
        """A one-time EventBridge Scheduler call to DeleteProvisionedModelThroughput at ``ExpiresAt``
        (set by the handler on every create or update), so an idle dev throughput stops billing."""
        policy = iam.ManagedPolicy(
            self,
            "ExpiryPolicy",
            description="Delete this one provisioned throughput",
            statements=[
                iam.PolicyStatement(actions=["bedrock:DeleteProvisionedModelThroughput"], resources=[self.invoke_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
            ],
        )
        role = iam.Role(
            self,
            "ExpiryRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            managed_policies=[policy],
        )
        scheduler.CfnSchedule(
            self,
            "Expiry",
            description="Deletes the no-commitment provisioned throughput when its time is up",
            schedule_expression=f"at({self.resource.get_att_string('ExpiresAt')})",
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            kms_key_arn=key.key_arn,
            target=scheduler.CfnSchedule.TargetProperty(
                arn="arn:aws:scheduler:::aws-sdk:bedrock:deleteProvisionedModelThroughput",
                role_arn=role.role_arn,
                input=cdk.Stack.of(self).to_json_string({"ProvisionedModelId": self.invoke_arn}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=10),
            ),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Invoke the model through this throughput or deployment (and the model it serves)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=INVOKE_ACTIONS, resource_arns=[self.invoke_arn, self.model_arn]
        )

    def _acknowledge(self, handlers: dict[str, lambda_.Function], provider: cr.Provider) -> None:
        basic = (
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
        )
        made = f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'bedrock', self._arn_type + '/*')}]"
        for handler in handlers.values():
            acknowledge(
                handler,
                "Throughput and deployment ARNs are generated by Bedrock at create time, so management is scoped "
                "to this account's resources of that type; basic Lambda logging uses the AWS managed policy. "
                "Invoked only by the provider during deployments: no dead-letter queue or VPC applies.",
                basic,
                made,
                "NIST.800.53.R5-LambdaDLQ",
                "NIST.800.53.R5-LambdaInsideVPC",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )
        acknowledge(
            provider,
            "aws-cdk-lib's provider framework (Lambda functions and a waiter state machine): its runtime, "
            "managed policies and invoke permissions on the handlers' versions are the library's.",
            basic,
            "AwsSolutions-L1",
            "AwsSolutions-IAM5[Action::lambda:InvokeFunction]",
            *[
                f"AwsSolutions-IAM5[Resource::<{cdk.Stack.of(self).get_logical_id(f.node.default_child)}.Arn>:*]"  # type: ignore[arg-type]
                for f in [*handlers.values(), *_framework_functions(provider)]
            ],
            "AwsSolutions-SF1",
            "AwsSolutions-SF2",
            "NIST.800.53.R5-LambdaDLQ",
            "NIST.800.53.R5-LambdaConcurrency",
            "NIST.800.53.R5-LambdaInsideVPC",
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "NIST.800.53.R5-StepFunctionStateMachineXray",
        )


def _framework_functions(provider: cr.Provider) -> list[lambda_.Function]:
    """The provider framework's own functions, which its waiter state machine invokes."""
    return [
        child
        for child in provider.node.children
        if child.node.id.startswith("framework-") and isinstance(child, lambda_.Function)
    ]


def _properties(kind: str, props: ServedModelProps) -> dict[str, object]:
    common: dict[str, object] = {"Kind": kind, "ModelId": props.model_arn, "Tags": props.tags or {}}
    if kind == "CustomModelDeployment":
        return {**common, "DeploymentName": props.name}
    throughput = {
        **common,
        "ProvisionedModelName": props.name,
        "ModelUnits": props.model_units,
        "CommitmentDuration": props.commitment_duration,
    }
    if props.expire_after_hours is not None:
        throughput["ExpireAfterHours"] = props.expire_after_hours
    return throughput
