"""What the customization workflow keeps and says: the lineage table and the notification topic."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge
from customization.contract import APPROVED_INDEX


@dataclass(frozen=True)
class WorkflowRecordsProps:
    key: kms.IKey
    """Encrypts the table and the topic (no default: the platform key)."""
    retain_lineage: bool = True
    """Keep the table (deletion protection, ``Retain``) when the stack goes; false only where data is throwaway."""
    notification_email: str | None = None
    """Subscribed to the topic (the address confirms by mail); default none."""


class WorkflowRecords:
    """``lineage_table`` (runs, queryable by an auditor; approved models in the ``approved-models`` index)
    and ``topic`` (run outcomes).

    It builds into the workflow's scope, not a node of its own, so the table keeps the logical id it
    had before the workflow was split: it is retained data, and a new id would leave it behind.
    """

    def __init__(self, scope: Construct, props: WorkflowRecordsProps) -> None:
        # Table (not TableV2): TableV2 with a customer managed key cannot render in a region-agnostic stack.
        self.lineage_table = dynamodb.Table(
            scope,
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
        self.topic = sns.Topic(scope, "Notifications", master_key=props.key, enforce_ssl=True)
        if props.notification_email:
            sns.Subscription(
                scope,
                "Email",
                topic=self.topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=props.notification_email,
            )
