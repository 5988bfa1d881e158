"""The model the Serving stack serves when config says ``model_source: lineage``: resolved at deploy time.

Synth is offline, so the newest approved model cannot be written into the template; a custom
resource reads the workflow's lineage table when the stack deploys (see lambda/model_source)
and falls back to a base model until a run has passed the quality gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr

from constructs import Construct
from constructs.nag_acknowledgements import LAMBDA_BASIC_EXECUTION_FINDING, acknowledge

HANDLER_ROOT = Path(__file__).resolve().parent.parent / "lambda" / "model_source"


@dataclass(frozen=True)
class ApprovedModelProps:
    """``generation``: bump it to make a deploy look again (an unchanged resource is not re-read)."""

    lineage_table: dynamodb.ITable
    index_name: str
    approval: str
    fallback_model_arn: str
    generation: int
    key: kms.IKey
    log_retention: logs.RetentionDays
    on_demand_techniques: tuple[str, ...] | None = None
    """When the model is served on demand: the techniques whose models Bedrock serves that way (others are
    refused at deploy time with the run named). None: any."""


class ApprovedModel(Construct):
    """Attributes: ``model_arn`` (a deploy-time value) and ``source`` (``lineage:<run>`` or ``fallback``)."""

    def __init__(self, scope: Construct, construct_id: str, props: ApprovedModelProps) -> None:
        super().__init__(scope, construct_id)
        if props.generation < 1:
            raise ValueError(f"ApprovedModel: generation {props.generation}; allowed: 1 or more")
        reader = lambda_.Function(
            self,
            "Reader",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="model_source.handler.on_event",
            code=lambda_.Code.from_asset(str(HANDLER_ROOT), exclude=["**/__pycache__"]),
            timeout=cdk.Duration.minutes(1),
            log_group=logs.LogGroup(self, "ReaderLogs", retention=props.log_retention, encryption_key=props.key),
            reserved_concurrent_executions=1,
            description="Reads the newest approved model from the customization lineage table",
        )
        reader.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[f"{props.lineage_table.table_arn}/index/{props.index_name}"],
            )
        )
        if props.on_demand_techniques:  # the approved run's technique
            reader.add_to_role_policy(
                iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[props.lineage_table.table_arn])
            )
        props.key.grant_decrypt(reader)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=reader,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=props.log_retention, encryption_key=props.key),
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::ApprovedModel",
            properties={
                "TableName": props.lineage_table.table_name,
                "IndexName": props.index_name,
                "Approval": props.approval,
                "FallbackModelArn": props.fallback_model_arn,
                "Generation": str(props.generation),
                **({"OnDemandTechniques": list(props.on_demand_techniques)} if props.on_demand_techniques else {}),
            },
        )
        self.model_arn = self.resource.get_att_string("ModelArn")
        self.source = self.resource.get_att_string("Source")
        stack = cdk.Stack.of(self)
        acknowledge(
            reader,
            "Reads one index of the lineage table at deploy time, invoked only by the provider: basic logging uses "
            "the AWS managed policy; no dead-letter queue or VPC applies.",
            LAMBDA_BASIC_EXECUTION_FINDING,
            "NIST.800.53.R5-LambdaDLQ",
            "NIST.800.53.R5-LambdaInsideVPC",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        acknowledge(
            provider,
            "aws-cdk-lib's custom resource provider framework: its runtime, managed policy and invoke permission "
            "on the reader's versions are the library's.",
            LAMBDA_BASIC_EXECUTION_FINDING,
            "AwsSolutions-L1",
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(reader.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "NIST.800.53.R5-LambdaDLQ",
            "NIST.800.53.R5-LambdaConcurrency",
            "NIST.800.53.R5-LambdaInsideVPC",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
