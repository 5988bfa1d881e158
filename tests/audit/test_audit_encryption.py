"""Encryption report: each data store with its KMS key, "AWS managed" or "none"."""

from __future__ import annotations

from auditing.cfn import TemplateSet
from auditing.encryption import AWS_MANAGED, NONE, data_stores, render_encryption


def bucket(default=None):
    properties = {}
    if default is not None:
        properties["BucketEncryption"] = {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": default}]
        }
    return {"Type": "AWS::S3::Bucket", "Properties": properties}


def keys(templates):
    return {s.logical_id: s.key for s in data_stores(templates)}


def test_a_bucket_with_kms_shows_its_key_and_one_without_shows_none():
    key_arn = {"Fn::GetAtt": ["Key", "Arn"]}
    templates = TemplateSet.of(
        {
            "Data": {
                "Resources": {
                    "Key": {"Type": "AWS::KMS::Key"},
                    "Encrypted": bucket({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}),
                    "Plain": bucket(),
                    "S3Managed": bucket({"SSEAlgorithm": "AES256"}),
                }
            }
        }
    )
    assert keys(templates) == {"Encrypted": "Data/Key", "Plain": NONE, "S3Managed": NONE}
    rows = {
        line.split(" | ")[0]: line
        for line in render_encryption("dev", templates).splitlines()
        if line.startswith("| `")
    }
    assert "`Data/Key`" in rows["| `Data/Encrypted`"]
    assert "| none |" in rows["| `Data/Plain`"]


def test_a_key_in_another_stack_is_found_through_the_stack_output():
    data = {
        "Resources": {"Key": {"Type": "AWS::KMS::Key"}},
        "Outputs": {"KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}}},
    }
    agent = {
        "Resources": {
            "Memory": {
                "Type": "AWS::BedrockAgentCore::Memory",
                "Properties": {
                    "EncryptionKeyArn": {"Fn::GetStackOutput": {"StackName": "Data", "OutputName": "KeyArn"}}
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
        }
    }
    assert keys(TemplateSet.of({"Data": data, "Agent": agent})) == {"Memory": "Data/Key", "Topic": AWS_MANAGED}


def test_eks_secrets_without_envelope_encryption_show_none():
    templates = TemplateSet.of({"T": {"Resources": {"Eks": {"Type": "AWS::EKS::Cluster", "Properties": {}}}}})
    (store,) = data_stores(templates)
    assert (store.what, store.key) == ("EKS Kubernetes secrets", NONE)
