"""The model the platform serves: a base model on demand (nothing made, nothing billed while idle), or a
customized model through an on-demand custom model deployment or a provisioned throughput bought for it,
through a custom resource (CloudFormation has no type for either). See lambda/bedrock_serving.

Creation is asynchronous: the Provider framework polls ``is_complete`` every minute, so no Lambda sleeps.
CloudFormation waits for a custom resource one hour at most (``ServiceTimeout`` 3600 s; aws-cdk-lib documents
the Provider's ``totalTimeout`` maximum as one hour): the handler gives up at 45 minutes and deletes what it made,
and the Provider's own timeout (50 minutes) answers CloudFormation before CloudFormation stops listening, with
the resource's ARN, so a rollback can delete it.
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
from constructs.nag_acknowledgements import acknowledge, nag_arn, nag_environment
from constructs.workflow_perms import model_key_statements, other_environments_denied
from customization.contract import ENVIRONMENT_TAG

HANDLER_ROOT = Path(__file__).resolve().parent.parent / "lambda" / "bedrock_serving"
PROVIDER_TIMEOUT = cdk.Duration.minutes(50)
CLOUDFORMATION_WAIT = cdk.Duration.hours(1)
# Per mode: the custom resource Kind, the ARN type it makes, and the actions that make and change it (Service
# Authorization Reference, Amazon Bedrock: Create* and Update* name the model too, TagResource the new resource).
MODES = {
    "provisioned-throughput": (
        "ProvisionedThroughput",
        "provisioned-model",
        ["bedrock:CreateProvisionedModelThroughput", "bedrock:UpdateProvisionedModelThroughput"],
        ["bedrock:DeleteProvisionedModelThroughput", "bedrock:GetProvisionedModelThroughput"],
    ),
    "on-demand": (
        "CustomModelDeployment",
        "custom-model-deployment",
        ["bedrock:CreateCustomModelDeployment", "bedrock:UpdateCustomModelDeployment"],
        ["bedrock:DeleteCustomModelDeployment", "bedrock:GetCustomModelDeployment"],
    ),
}
INVOKE_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


@dataclass(frozen=True)
class ServedModelProps:
    model_arn: str
    """The model to serve: a custom model ARN, or a foundation model ARN (served on demand, nothing made). A
    deploy-time value with ``model_source: lineage``."""
    base_model_id: str
    """The base model's on-demand id (``amazon.nova-lite-v1:0``): what is invoked while ``model_arn`` is a
    foundation model."""
    name_prefix: str
    """Names of what is made: ``<prefix>-<8 characters of the request id>``."""
    model_key: kms.IKey
    """The key customized models are encrypted with (the platform key)."""
    log_key: kms.IKey
    log_retention: logs.RetentionDays
    inference_profile_prefix: str = ""
    """``us.``, ``eu.`` or ``apac.``: the base model through its cross-Region profile (default: in-Region)."""
    mode: str = "on-demand"
    """How a customized model is served: ``on-demand`` (a custom model deployment) or ``provisioned-throughput``."""
    model_units: int = 1
    """Provisioned throughput only."""
    commitment_duration: str = "None"
    """Provisioned throughput only: None, OneMonth or SixMonths. A committed throughput is retained when the
    stack is deleted or the resource replaced: Bedrock refuses to delete it during its term."""
    expire_after_hours: int | None = None
    """Provisioned throughput without commitment only: deleted this long after each create or update."""
    tags: dict[str, str] | None = None
    revision: str = ""
    """Changes when what is served may change (a digest of the serving settings, the lineage generation among
    them): consumers put it in their own templates so that they are deployed again and read ``invoke_arn`` anew."""


class ServedModel(Construct):
    """Attributes: ``invoke_arn`` (what agents call: the base model or profile, the deployment or the throughput)
    and ``model_arn``; ``grant_invoke``."""

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
        stack = cdk.Stack.of(self)
        self.model_arn = props.model_arn
        self.revision = props.revision
        self._props = props
        self.base_invoke_arn = (
            stack.format_arn(
                service="bedrock",
                resource="inference-profile",
                resource_name=f"{props.inference_profile_prefix}{props.base_model_id}",
            )
            if props.inference_profile_prefix
            else stack.format_arn(
                service="bedrock", account="", resource="foundation-model", resource_name=props.base_model_id
            )
        )
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
        kind, arn_type, change_actions, _ = MODES[props.mode]
        self._arn_type = arn_type
        made = stack.format_arn(service="bedrock", resource=arn_type, resource_name="*")
        custom_models = stack.format_arn(service="bedrock", resource="custom-model", resource_name="*")
        # A throughput is authorized on its custom model and on the foundation model it was customized from (Service
        # Authorization Reference, Amazon Bedrock: CreateProvisionedModelThroughput, UpdateProvisionedModelThroughput).
        foundation_models = stack.format_arn(
            service="bedrock", account="", resource="foundation-model", resource_name="*"
        )
        on_event = handlers["OnEvent"]
        changed = [props.model_arn, made] + ([foundation_models] if props.mode == "provisioned-throughput" else [])
        on_event.add_to_role_policy(iam.PolicyStatement(actions=change_actions, resources=changed))
        on_event.add_to_role_policy(
            iam.PolicyStatement(actions=["bedrock:TagResource", "bedrock:UntagResource"], resources=[made])
        )
        # Whether two custom models share a base (a throughput moves only between those).
        on_event.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:GetCustomModel"], resources=[custom_models]))
        for statement in model_key_statements(stack, props.model_key.key_arn):
            on_event.add_to_role_policy(statement)
        # Either kind may be read and deleted, whatever the mode: after a change of mode, the resource of the other
        # kind is deleted by these handlers.
        for handler in handlers.values():
            for _, other_type, _, other_actions in MODES.values():
                other = stack.format_arn(service="bedrock", resource=other_type, resource_name="*")
                handler.add_to_role_policy(iam.PolicyStatement(actions=other_actions, resources=[other]))
        # What it makes carries the environment's tag (props.tags); it may delete nothing without that tag, as the
        # workflow's clean-up may not: another environment's deployment or throughput in a shared account is safe.
        environment = (props.tags or {}).get(ENVIRONMENT_TAG)
        if environment:
            for handler in handlers.values():
                for denied in other_environments_denied(stack, environment):
                    handler.add_to_role_policy(denied)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=handlers["IsComplete"],
            query_interval=cdk.Duration.minutes(1),
            total_timeout=PROVIDER_TIMEOUT,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=props.log_retention, encryption_key=props.log_key),
        )
        committed = props.commitment_duration != "None"
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::BedrockServedModel",
            properties=_properties(kind, props, self.base_invoke_arn),
            service_timeout=CLOUDFORMATION_WAIT,
            # Bedrock refuses to delete a committed throughput during its term: deleting the stack (or replacing the
            # resource) would fail. It is kept instead; it bills until its term ends, and is deleted by hand after.
            removal_policy=cdk.RemovalPolicy.RETAIN if committed else cdk.RemovalPolicy.DESTROY,
        )
        self.invoke_arn = self.resource.get_att_string("InvokeArn")
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
                arn=f"arn:{cdk.Stack.of(self).partition}:scheduler:::aws-sdk:bedrock:deleteProvisionedModelThroughput",
                role_arn=role.role_arn,
                input=cdk.Stack.of(self).to_json_string({"ProvisionedModelId": self.invoke_arn}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=10),
            ),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Invoke what is served: the deployment or throughput and its model, or the base model (through its
        profile: the profile and the foundation model in every Region it routes to, Bedrock user guide,
        "Prerequisites for inference profiles"); decrypt a customized model's key through Bedrock."""
        resources = [self.invoke_arn, self.model_arn, self.base_invoke_arn]
        if self._props.inference_profile_prefix:
            resources.append(
                cdk.Stack.of(self).format_arn(
                    service="bedrock",
                    region="*",
                    account="",
                    resource="foundation-model",
                    resource_name=self._props.base_model_id,
                )
            )
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=INVOKE_ACTIONS, resource_arns=resources)
        if self._props.inference_profile_prefix and isinstance(grantee.grant_principal, iam.Role):
            partition = nag_environment(self)[0]
            acknowledge(
                grantee.grant_principal,
                "A cross-Region inference profile routes each request to the model in one of its geography's "
                'Regions, and the caller must be allowed the model in each (Bedrock user guide, "Prerequisites for '
                'inference profiles"): the Region is the wildcard, the model is named.',
                f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:*::foundation-model/{self._props.base_model_id}]",
            )
        via_bedrock = {"kms:ViaService": f"bedrock.{cdk.Stack.of(self).region}.amazonaws.com"}
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[self._props.model_key.key_arn],
                conditions={"StringEquals": via_bedrock},
            )
        )
        return grant

    def _acknowledge(self, handlers: dict[str, lambda_.Function], provider: cr.Provider) -> None:
        basic = (
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
        )
        made = [
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'bedrock', arn_type + '/*')}]"
            for _, arn_type, _, _ in MODES.values()
        ]
        for handler in handlers.values():
            acknowledge(
                handler,
                "Throughput and deployment ARNs are generated by Bedrock at create time, so management is scoped "
                "to this account's resources of that type; basic Lambda logging uses the AWS managed policy. "
                "Invoked only by the provider during deployments: no dead-letter queue or VPC applies.",
                basic,
                *made,
                "NIST.800.53.R5-LambdaDLQ",
                "NIST.800.53.R5-LambdaInsideVPC",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )
        acknowledge(
            handlers["OnEvent"],
            "GetCustomModel reads the base of the model served before an update and of the one served after: "
            "either may be any approved model of this account, known only at deploy time (read-only).",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'bedrock', 'custom-model/*')}]",
        )
        if self._props.mode == "provisioned-throughput":
            partition, region, _ = nag_environment(self)
            acknowledge(
                handlers["OnEvent"],
                "A throughput is authorized on the foundation model its custom model was customized from, which is "
                "known only when the approved model is read at deploy time (any foundation model of this Region).",
                f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:{region}::foundation-model/*]",
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


def _properties(kind: str, props: ServedModelProps, base_invoke_arn: str) -> dict[str, object]:
    common: dict[str, object] = {
        "Kind": kind,
        "ModelId": props.model_arn,
        "BaseInvokeArn": base_invoke_arn,
        "NamePrefix": props.name_prefix,
        "Tags": props.tags or {},
    }
    if kind == "CustomModelDeployment":
        return common
    throughput = {**common, "ModelUnits": props.model_units, "CommitmentDuration": props.commitment_duration}
    if props.expire_after_hours is not None:
        throughput["ExpireAfterHours"] = props.expire_after_hours
    return throughput
