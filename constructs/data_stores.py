"""Where training data, model artifacts and access logs live.

Other constructs receive this object and call its ``grant_*`` methods, which attach a
customer managed policy of this stack (bucket and KMS key permissions together) to the
grantee's role. Shared policies rather than statements on every role: roles in other stacks
attach them by ARN, so no grant points back across stacks, and each policy's cdk-nag findings
(aws-cdk-lib's ``s3:GetObject*`` and ``<bucket>/*``) are acknowledged once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge, acknowledge_bucket_grants


@dataclass(frozen=True)
class DataStoresProps:
    """No defaults: the stack derives every value from the environment's config (``data`` section)."""

    key: kms.IKey
    """The platform key; the datasets and artifacts buckets are SSE-KMS with it."""
    retain: bool
    """Keep the buckets (and their objects) when the stack is deleted; false only in throwaway environments."""
    noncurrent_version_expiration: cdk.Duration
    """How long an overwritten or deleted object version is kept."""
    incomplete_upload_expiration: cdk.Duration
    """When an unfinished multipart upload is aborted."""
    access_log_expiration: cdk.Duration
    """How long server access logs are kept."""


@dataclass(frozen=True)
class _Access:
    """A shared access policy and the aws-cdk-lib grant that wrote its statements."""

    policy: iam.ManagedPolicy
    grant: iam.Grant


class DataStores(Construct):
    """Three buckets: ``datasets_bucket``, ``artifacts_bucket`` and ``access_logs_bucket``.

    Data buckets are KMS-encrypted with the platform key; the access-log bucket uses
    SSE-S3 because S3 server access logging cannot deliver to SSE-KMS buckets.
    """

    def __init__(self, scope: Construct, construct_id: str, props: DataStoresProps) -> None:
        super().__init__(scope, construct_id)
        self.key = props.key
        self._props = props
        self.access_logs_bucket = self._bucket(
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            extra_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=props.access_log_expiration)],
        )
        acknowledge(
            self.access_logs_bucket,
            "This bucket is the server access log destination; logging it to itself would loop.",
            "AwsSolutions-S1",
        )
        acknowledge(
            self.access_logs_bucket,
            "S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS.",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
        )
        self.datasets_bucket = self._bucket("Datasets", encryption=s3.BucketEncryption.KMS, log_prefix="datasets/")
        self.artifacts_bucket = self._bucket("Artifacts", encryption=s3.BucketEncryption.KMS, log_prefix="artifacts/")
        # Access as customer managed policies in this stack: roles elsewhere attach them by ARN, so
        # grants never point back across stacks and each policy's findings are acknowledged once, here.
        self._datasets_read = self._access_policy("DatasetsRead", "Read datasets", self.datasets_bucket, write=False)
        self._datasets_read_write = self._access_policy(
            "DatasetsReadWrite", "Read and write datasets", self.datasets_bucket, write=True
        )
        self._artifacts_read = self._access_policy(
            "ArtifactsRead", "Read artifacts", self.artifacts_bucket, write=False
        )
        self._artifacts_read_write = self._access_policy(
            "ArtifactsReadWrite", "Read and write artifacts", self.artifacts_bucket, write=True
        )
        acknowledge(
            self,
            "Buckets are versioned and retained outside throwaway environments; cross-region replication is a "
            "disaster-recovery choice this platform does not make for its users yet (see docs/limitations.md).",
            "NIST.800.53.R5-S3BucketReplicationEnabled",
        )

    def _bucket(
        self,
        construct_id: str,
        *,
        encryption: s3.BucketEncryption,
        log_prefix: str | None = None,
        extra_rules: list[s3.LifecycleRule] | None = None,
    ) -> s3.Bucket:
        props = self._props
        kms_encrypted = encryption == s3.BucketEncryption.KMS
        return s3.Bucket(
            self,
            construct_id,
            encryption=encryption,
            encryption_key=props.key if kms_encrypted else None,
            bucket_key_enabled=kms_encrypted or None,
            server_access_logs_bucket=self.access_logs_bucket if log_prefix else None,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=props.noncurrent_version_expiration,
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=props.incomplete_upload_expiration,
                ),
                *(extra_rules or []),
            ],
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN if props.retain else cdk.RemovalPolicy.DESTROY,
            auto_delete_objects=not props.retain,
        )

    def _access_policy(self, construct_id: str, description: str, bucket: s3.Bucket, *, write: bool) -> _Access:
        policy = iam.ManagedPolicy(self, construct_id, description=description)
        grant = bucket.grant_read_write(policy) if write else bucket.grant_read(policy)
        acknowledge_bucket_grants(policy, [bucket], write=write)
        return _Access(policy, grant)

    def grant_read_datasets(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read training, validation and evaluation data."""
        return _attach(self._datasets_read, grantee)

    def grant_read_write_datasets(self, grantee: iam.IGrantable) -> iam.Grant:
        """Curate datasets (data preparation jobs)."""
        return _attach(self._datasets_read_write, grantee)

    def grant_read_artifacts(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read checkpoints, model outputs and evaluation results (import, serving)."""
        return _attach(self._artifacts_read, grantee)

    def grant_read_write_artifacts(self, grantee: iam.IGrantable) -> iam.Grant:
        """Write checkpoints, model outputs and evaluation results (training, evaluation)."""
        return _attach(self._artifacts_read_write, grantee)


def _attach(access: _Access, grantee: iam.IGrantable) -> iam.Grant:
    """Attaches the shared policy to the grantee's role and returns the grant that wrote the policy's bucket
    statements (its key statements are in the same policy). Every grantee of one access level gets that same
    grant, whose ``apply_before(x)`` orders ``x`` after the policy, not after the attachment: the attachment is
    the role's ``ManagedPolicyArns``, so what needs the access at deploy time depends on the role. A grantee
    with no role (a service principal, an account) raises: these stores grant to roles only."""
    principal = grantee.grant_principal
    attach = getattr(principal, "add_managed_policy", None)
    if attach is None:
        raise TypeError(f"grantee: {principal} is not allowed; expected a role or something acting as one")
    attach(access.policy)
    return access.grant
