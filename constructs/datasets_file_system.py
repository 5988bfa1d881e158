"""FSx for Lustre PERSISTENT_2: datasets imported from their bucket, output exported to its own.

Training nodes read datasets at file-system speed below ``file_system_path``. That link only imports: a node
cannot change or delete a dataset through the file system (IAM gives nodes read-only access to the bucket, and an
exporting link would bypass it). What jobs write below ``output_path`` is exported to the artifacts bucket under
``OUTPUT_PREFIX``, so nothing lives only on the file system.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_fsx as fsx
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs import Construct

SYNC_EVENTS = ["NEW", "CHANGED", "DELETED"]
OUTPUT_PREFIX = "fsx-output/"

# The key actions S3 needs when FSx's service-linked role reads and writes SSE-KMS objects.
FSX_S3_KEY_ACTIONS = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
]


@dataclass(frozen=True)
class DatasetsFileSystemProps:
    vpc: ec2.IVpc
    subnet: ec2.ISubnet
    security_group: ec2.ISecurityGroup
    datasets_bucket: s3.IBucket
    key: kms.Key
    storage_capacity_gib: int
    throughput_mbps_per_tib: int
    file_system_path: str
    retain: bool
    output_bucket: s3.IBucket  # what jobs write below output_path is exported there
    output_path: str


class DatasetsFileSystem(Construct):
    """Attributes: ``file_system`` (with ``dns_name`` and ``mount_name``) and ``file_system_path``."""

    def __init__(self, scope: Construct, construct_id: str, props: DatasetsFileSystemProps) -> None:
        super().__init__(scope, construct_id)
        self.file_system_path = props.file_system_path
        self._removal = cdk.RemovalPolicy.RETAIN if props.retain else cdk.RemovalPolicy.DESTROY
        self.file_system = fsx.LustreFileSystem(
            self,
            "FileSystem",
            vpc=props.vpc,
            vpc_subnet=props.subnet,
            security_group=props.security_group,
            storage_capacity_gib=props.storage_capacity_gib,
            kms_key=props.key,
            file_system_type_version=fsx.FileSystemTypeVersion.V_2_15,
            lustre_configuration=fsx.LustreConfiguration(
                deployment_type=fsx.LustreDeploymentType.PERSISTENT_2,
                per_unit_storage_throughput=props.throughput_mbps_per_tib,
                data_compression_type=fsx.LustreDataCompressionType.LZ4,
            ),
            removal_policy=self._removal,
        )
        # Each link states both directions, "none" as no events: an update that only dropped a policy need not turn
        # an existing link's import or export off.
        self._link("DatasetsLink", props.file_system_path, props.datasets_bucket.s3_url_for_object(), SYNC_EVENTS, [])
        self._link(
            "OutputLink", props.output_path, props.output_bucket.s3_url_for_object(OUTPUT_PREFIX), [], SYNC_EVENTS
        )
        self._allow_fsx_service_role_to_use_key(props.key)

    def _link(
        self, construct_id: str, path: str, repository: str, imports: list[str], exports: list[str]
    ) -> fsx.CfnDataRepositoryAssociation:
        link = fsx.CfnDataRepositoryAssociation(
            self,
            construct_id,
            file_system_id=self.file_system.file_system_id,
            file_system_path=path,
            data_repository_path=repository,
            batch_import_meta_data_on_create=True,
            s3=fsx.CfnDataRepositoryAssociation.S3Property(
                auto_import_policy=fsx.CfnDataRepositoryAssociation.AutoImportPolicyProperty(events=imports),
                auto_export_policy=fsx.CfnDataRepositoryAssociation.AutoExportPolicyProperty(events=exports),
            ),
        )
        link.apply_removal_policy(self._removal)
        return link

    def _allow_fsx_service_role_to_use_key(self, key: kms.Key) -> None:
        """FSx links a bucket through a per-file-system service-linked role whose name holds the
        file system id; naming it in the key policy would make the key depend on the file
        system that depends on the key, so the policy matches the role by ARN pattern."""
        stack = cdk.Stack.of(self)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowFsxDataRepositoryAccessThroughS3",
                principals=[iam.AnyPrincipal()],
                actions=FSX_S3_KEY_ACTIONS,
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:CallerAccount": stack.account,
                        "kms:ViaService": f"s3.{stack.region}.amazonaws.com",
                    },
                    "ArnLike": {
                        "aws:PrincipalArn": f"arn:{stack.partition}:iam::{stack.account}:role/aws-service-role/"
                        "s3.data-source.lustre.fsx.amazonaws.com/AWSServiceRoleForFSxS3Access_*"
                    },
                },
            )
        )
