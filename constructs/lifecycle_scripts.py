"""HyperPod lifecycle scripts, copied at deploy time to a bucket HyperPod can read.

HyperPod's managed instance policy reads only buckets whose names start with
``sagemaker-``, so this is the one bucket in the app with a chosen name. Only EKS groups have
lifecycle scripts (HyperPod requires an OnCreate script for EKS; Slurm groups use its AMI-based setup).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy

from constructs import Construct
from constructs.hyperpod_cluster import LifecycleScripts
from constructs.nag_acknowledgements import (
    BUCKET_READ_ACTIONS,
    BUCKET_WRITE_ACTIONS,
    acknowledge,
    acknowledge_bucket_grants,
    nag_environment,
)

LIFECYCLE_ROOT = Path(__file__).resolve().parent.parent / "lifecycle"
PREFIX = "lifecycle/"


@dataclass(frozen=True)
class LifecycleScriptsBucketProps:
    environment: str
    flavour: str  # the folder under lifecycle/ ("eks")
    key: kms.IKey
    access_logs_bucket: s3.IBucket
    retain: bool


class LifecycleScriptsBucket(Construct):
    """Attributes: ``bucket`` and ``scripts`` (what ``HyperPodCluster`` takes)."""

    def __init__(self, scope: Construct, construct_id: str, props: LifecycleScriptsBucketProps) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=f"sagemaker-lc-{props.environment}-{stack.account}-{stack.region}",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=props.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=props.access_logs_bucket,
            server_access_logs_prefix="lifecycle/",
            removal_policy=cdk.RemovalPolicy.RETAIN if props.retain else cdk.RemovalPolicy.DESTROY,
            auto_delete_objects=not props.retain,
        )
        sources = [s3deploy.Source.asset(str(LIFECYCLE_ROOT / props.flavour))]
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            destination_key_prefix=PREFIX,
            sources=sources,
            prune=True,
            retain_on_delete=False,
            memory_limit=256,
        )
        self.scripts = LifecycleScripts(bucket=self.bucket, prefix=PREFIX)
        self._read_policy = iam.ManagedPolicy(self, "ReadPolicy", description="Read HyperPod lifecycle scripts")
        self.bucket.grant_read(self._read_policy)
        acknowledge_bucket_grants(self._read_policy, [self.bucket], write=False)
        self._acknowledge_deployment_handler()

    def grant_read(self, role: iam.IRole) -> None:
        role.add_managed_policy(self._read_policy)

    def _acknowledge_deployment_handler(self) -> None:
        """aws-cdk-lib's BucketDeployment runs one shared Lambda per stack; its findings are the library's."""
        stack = cdk.Stack.of(self)
        handler = next(c for c in stack.node.children if c.node.id.startswith("Custom::CDKBucketDeployment"))
        partition, region, account = nag_environment(self)
        assets_bucket = f"arn:{partition}:s3:::cdk-hnb659fds-assets-{account}-{region}/*"
        acknowledge(
            handler,
            "aws-cdk-lib's BucketDeployment handler: basic Lambda logging through the AWS managed policy, "
            "its runtime chosen by the library, and object-level grants on the CDK assets bucket and the "
            "lifecycle bucket it copies between.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "AwsSolutions-L1",
            *[f"AwsSolutions-IAM5[Action::{a}]" for a in BUCKET_READ_ACTIONS + BUCKET_WRITE_ACTIONS],
            f"AwsSolutions-IAM5[Resource::{assets_bucket}]",
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self.bucket.node.default_child)}.Arn>/*]",  # type: ignore[arg-type]
        )
        acknowledge(
            handler,
            "aws-cdk-lib's BucketDeployment handler runs only during deployments, invoked by CloudFormation: "
            "no concurrency limit or dead-letter queue applies, its policy is the library's, it reaches S3 "
            "outside the VPC, and its log group holds copy logs only (AWS-owned encryption).",
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "NIST.800.53.R5-LambdaConcurrency",
            "NIST.800.53.R5-LambdaDLQ",
            "NIST.800.53.R5-LambdaInsideVPC",
            "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
        )
        acknowledge(
            self.bucket,
            "Lifecycle scripts are rebuilt from this repository on every deployment; replicating them adds nothing.",
            "NIST.800.53.R5-S3BucketReplicationEnabled",
        )
