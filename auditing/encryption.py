"""Encryption at rest: every data store in the templates and the key that protects it.

The key column says one of three things: the customer managed KMS key (``Stack/LogicalId`` when the
key is in this app, its ARN or alias otherwise), ``AWS managed`` (an ``aws/<service>`` key), or
``none`` (no KMS key: the detail column says whether the service still encrypts with keys it owns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditing.cfn import Resource, TemplateSet, as_list
from auditing.markdown import code, document, table

AWS_MANAGED = "AWS managed"
NONE = "none"


@dataclass(frozen=True, order=True)
class DataStore:
    stack_id: str
    logical_id: str
    type: str
    what: str
    key: str
    detail: str = ""


def key_of(templates: TemplateSet, stack_id: str, value: Any) -> str:
    """The key a ``KmsKeyId``-like property names: ``Stack/LogicalId`` for a key of this app."""
    if value is None or value == "":
        return NONE
    if isinstance(value, str) and value.startswith("alias/aws/"):
        return AWS_MANAGED
    target = templates.target(stack_id, value)
    if target is not None:
        return f"{target.stack_id}/{target.logical_id}"
    return templates.display(stack_id, value)


def _bucket(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    rules = as_list(r.properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"))
    default = rules[0].get("ServerSideEncryptionByDefault", {}) if rules and isinstance(rules[0], Mapping) else {}
    algorithm = default.get("SSEAlgorithm")
    if algorithm in ("aws:kms", "aws:kms:dsse"):
        key = key_of(templates, r.stack_id, default.get("KMSMasterKeyID"))
        yield DataStore(
            r.stack_id, r.logical_id, r.type, "S3 bucket", AWS_MANAGED if key == NONE else key, f"SSE-KMS ({algorithm})"
        )
    elif algorithm == "AES256":
        yield DataStore(r.stack_id, r.logical_id, r.type, "S3 bucket", NONE, "SSE-S3 (S3-managed keys)")
    else:
        yield DataStore(
            r.stack_id,
            r.logical_id,
            r.type,
            "S3 bucket",
            NONE,
            "no encryption configured (S3 applies SSE-S3 by default)",
        )


def _file_system(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    kind = templates.display(r.stack_id, r.properties.get("FileSystemType", ""))
    key = key_of(templates, r.stack_id, r.properties.get("KmsKeyId"))
    yield DataStore(
        r.stack_id,
        r.logical_id,
        r.type,
        f"FSx for {kind.capitalize()} file system",
        AWS_MANAGED if key == NONE else key,
        "aws/fsx when no key is given" if key == NONE else "",
    )


def _table(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    spec = r.properties.get("SSESpecification", {})
    if spec.get("SSEEnabled") is True:
        key = key_of(templates, r.stack_id, spec.get("KMSMasterKeyId"))
        yield DataStore(
            r.stack_id, r.logical_id, r.type, "DynamoDB table", AWS_MANAGED if key == NONE else key, "SSE-KMS"
        )
    else:
        yield DataStore(
            r.stack_id, r.logical_id, r.type, "DynamoDB table", NONE, "DynamoDB-owned key (service default)"
        )


def _simple_key(
    what: str, prop: str, default_detail: str, *, absent: str = NONE, within: str = ""
) -> Callable[[TemplateSet, Resource], Iterator[DataStore]]:
    """A store whose key is one property (inside the ``within`` block when given)."""

    def build(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
        block = r.properties.get(within, {}) if within else r.properties
        key = key_of(templates, r.stack_id, block.get(prop))
        yield DataStore(
            r.stack_id,
            r.logical_id,
            r.type,
            what,
            absent if key == NONE else key,
            default_detail if key == NONE else "",
        )

    return build


def _queue(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    key = key_of(templates, r.stack_id, r.properties.get("KmsMasterKeyId"))
    if key != NONE:
        yield DataStore(r.stack_id, r.logical_id, r.type, "SQS queue", key, "SSE-KMS")
    elif r.properties.get("SqsManagedSseEnabled") is False:
        yield DataStore(r.stack_id, r.logical_id, r.type, "SQS queue", NONE, "unencrypted at rest")
    else:
        yield DataStore(r.stack_id, r.logical_id, r.type, "SQS queue", NONE, "SSE-SQS (SQS-owned keys)")


def _eks(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    for config in as_list(r.properties.get("EncryptionConfig")):
        if "secrets" in as_list(config.get("Resources")):
            key = key_of(templates, r.stack_id, config.get("Provider", {}).get("KeyArn"))
            yield DataStore(r.stack_id, r.logical_id, r.type, "EKS Kubernetes secrets", key, "envelope encryption")
            return
    yield DataStore(
        r.stack_id,
        r.logical_id,
        r.type,
        "EKS Kubernetes secrets",
        NONE,
        "no envelope encryption (etcd volume encryption only)",
    )


def _hyperpod(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    groups = [*as_list(r.properties.get("InstanceGroups")), *as_list(r.properties.get("RestrictedInstanceGroups"))]
    for group in groups:
        name = templates.display(r.stack_id, group.get("InstanceGroupName"))
        for storage in as_list(group.get("InstanceStorageConfigs")):
            ebs = storage.get("EbsVolumeConfig") if isinstance(storage, Mapping) else None
            if isinstance(ebs, Mapping):
                key = key_of(templates, r.stack_id, ebs.get("VolumeKmsKeyId"))
                size = templates.display(r.stack_id, ebs.get("VolumeSizeInGB", "?"))
                detail = "" if key != NONE else "no customer key in the template (HyperPod default encryption)"
                yield DataStore(
                    r.stack_id, r.logical_id, r.type, f"EBS volumes of group {name} ({size} GB each)", key, detail
                )
        lustre = group.get("EnvironmentConfig", {}).get("FSxLustreConfig")
        if isinstance(lustre, Mapping):
            size = templates.display(r.stack_id, lustre.get("SizeInGiB", "?"))
            detail = "HyperPod-managed file system; the template cannot name a key"
            yield DataStore(
                r.stack_id,
                r.logical_id,
                r.type,
                f"FSx for Lustre of restricted group {name} ({size} GiB)",
                NONE,
                detail,
            )


def _state_machine(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    config = r.properties.get("EncryptionConfiguration", {})
    key = key_of(templates, r.stack_id, config.get("KmsKeyId"))
    detail = "" if key != NONE else "AWS-owned key (Step Functions default)"
    yield DataStore(r.stack_id, r.logical_id, r.type, "Step Functions execution data", key, detail)


def _parameter(templates: TemplateSet, r: Resource) -> Iterator[DataStore]:
    kind = templates.display(r.stack_id, r.properties.get("Type", "String"))
    yield DataStore(
        r.stack_id,
        r.logical_id,
        r.type,
        f"SSM parameter ({kind})",
        NONE,
        "plain text (CloudFormation cannot create SecureString)",
    )


RULES: Mapping[str, Callable[[TemplateSet, Resource], Iterator[DataStore]]] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::FSx::FileSystem": _file_system,
    "AWS::DynamoDB::Table": _table,
    "AWS::Logs::LogGroup": _simple_key(
        "CloudWatch Logs log group", "KmsKeyId", "CloudWatch Logs service-side encryption"
    ),
    "AWS::SNS::Topic": _simple_key("SNS topic", "KmsMasterKeyId", "unencrypted at rest"),
    "AWS::SQS::Queue": _queue,
    "AWS::EKS::Cluster": _eks,
    "AWS::BedrockAgentCore::Memory": _simple_key(
        "AgentCore memory", "EncryptionKeyArn", "AWS-owned key (service default)"
    ),
    "AWS::BedrockAgentCore::Gateway": _simple_key(
        "AgentCore gateway configuration", "KmsKeyArn", "AWS-owned key (service default)"
    ),
    "AWS::SageMaker::Cluster": _hyperpod,
    "AWS::SecretsManager::Secret": _simple_key(
        "Secrets Manager secret", "KmsKeyId", "aws/secretsmanager", absent=AWS_MANAGED
    ),
    "AWS::Kinesis::Stream": _simple_key("Kinesis stream", "KeyId", "unencrypted at rest", within="StreamEncryption"),
    "AWS::ECR::Repository": _simple_key(
        "ECR repository", "KmsKey", "AES-256 (ECR default)", within="EncryptionConfiguration"
    ),
    "AWS::EFS::FileSystem": _simple_key("EFS file system", "KmsKeyId", "aws/elasticfilesystem when Encrypted is true"),
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::SSM::Parameter": _parameter,
}


def data_stores(templates: TemplateSet) -> list[DataStore]:
    """Every data store the audit knows how to read, ordered by stack, logical id and description."""
    found: list[DataStore] = []
    for resource in templates.resources(*RULES):
        found += RULES[resource.type](templates, resource)
    return sorted(found)


def render_encryption(environment: str, templates: TemplateSet) -> str:
    """encryption.md: one row per data store, and a count by kind of key."""
    stores = data_stores(templates)
    customer = sum(1 for s in stores if s.key not in (AWS_MANAGED, NONE))
    managed = sum(1 for s in stores if s.key == AWS_MANAGED)
    none = sum(1 for s in stores if s.key == NONE)
    intro = (
        f"{len(stores)} data stores: {customer} with a customer managed KMS key, {managed} with an AWS managed key, "
        f"{none} without a KMS key. Keys of this app are shown as `Stack/LogicalId`."
    )
    rows = [
        [
            code(f"{s.stack_id}/{s.logical_id}"),
            code(s.type),
            s.what,
            code(s.key) if s.key not in (AWS_MANAGED, NONE) else s.key,
            s.detail,
        ]
        for s in stores
    ]
    return document(
        f"Encryption at rest: {environment}", intro, table(["Resource", "Type", "Data", "Key", "Detail"], rows)
    )
