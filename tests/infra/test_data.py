"""Data stack, per environment: key, buckets, FSx for Lustre and what is retained."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from config.loader import load_environments

ENVIRONMENTS = {env.name: env for env in load_environments()}
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def data(committed, env):
    return committed.template(env.name, "Data")


def test_platform_key_rotates(committed, env):
    data(committed, env).has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_every_bucket_is_private_versioned_and_encrypted(committed, env):
    buckets = data(committed, env).find_resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == BLOCK_ALL
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]


def test_data_buckets_use_the_platform_key_and_log_access(committed, env):
    template = data(committed, env)
    for prefix in ("datasets/", "artifacts/"):
        template.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": [Match.string_like_regexp("^PlatformKey"), "Arn"]},
                            },
                        }
                    ]
                },
                "LoggingConfiguration": {"DestinationBucketName": Match.any_value(), "LogFilePrefix": prefix},
            },
        )


def test_buckets_expire_noncurrent_versions_and_abort_incomplete_uploads(committed, env):
    for bucket in data(committed, env).find_resources("AWS::S3::Bucket").values():
        rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
        assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": env.data.noncurrent_version_expiration_days
        }
        assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {
            "DaysAfterInitiation": env.data.incomplete_upload_expiration_days
        }


def test_every_bucket_denies_requests_without_tls(committed, env):
    policies = data(committed, env).find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_lustre_is_persistent_2_sized_from_config_and_encrypted(committed, env):
    data(committed, env).has_resource_properties(
        "AWS::FSx::FileSystem",
        {
            "FileSystemType": "LUSTRE",
            "StorageCapacity": env.data.lustre_storage_capacity_gib,
            "KmsKeyId": {"Ref": Match.string_like_regexp("^PlatformKey")},
            "LustreConfiguration": Match.object_like(
                {
                    "DeploymentType": "PERSISTENT_2",
                    "PerUnitStorageThroughput": env.data.lustre_throughput_mbps_per_tib,
                }
            ),
        },
    )


def test_lustre_sits_in_one_private_subnet_behind_the_lustre_group(committed, env):
    fs = next(iter(data(committed, env).find_resources("AWS::FSx::FileSystem").values()))["Properties"]
    [subnet] = fs["SubnetIds"]
    [group] = fs["SecurityGroupIds"]
    assert "trainingSubnet1" in subnet["Fn::GetStackOutput"]["OutputName"]
    assert "LustreSecurityGroup" in group["Fn::GetStackOutput"]["OutputName"]


def test_lustre_only_imports_datasets_and_exports_output_to_the_artifacts_bucket(committed, env):
    """Nothing on a node can change or delete a dataset through /fsx: that link imports only."""
    events = ["NEW", "CHANGED", "DELETED"]
    links = {
        link["Properties"]["FileSystemPath"]: link["Properties"]
        for link in data(committed, env).find_resources("AWS::FSx::DataRepositoryAssociation").values()
    }
    datasets, output = links[env.data.lustre_datasets_path], links["/output"]
    assert "StoresDatasets" in json.dumps(datasets["DataRepositoryPath"])
    # Export explicitly none: an update that only dropped the policy might leave an existing link exporting.
    assert datasets["S3"] == {"AutoImportPolicy": {"Events": events}, "AutoExportPolicy": {"Events": []}}
    assert "StoresArtifacts" in json.dumps(output["DataRepositoryPath"]) and "/fsx-output/" in json.dumps(output)
    assert output["S3"] == {"AutoImportPolicy": {"Events": []}, "AutoExportPolicy": {"Events": events}}


def test_key_lets_only_fsx_link_roles_use_it_through_s3(committed, env):
    data(committed, env).has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowFsxDataRepositoryAccessThroughS3",
                                "Condition": Match.object_like(
                                    {"StringEquals": Match.object_like({"kms:ViaService": Match.any_value()})}
                                ),
                            }
                        )
                    ]
                )
            }
        },
    )


STORE_TYPES = ["AWS::S3::Bucket", "AWS::KMS::Key", "AWS::FSx::FileSystem", "AWS::FSx::DataRepositoryAssociation"]


@pytest.mark.parametrize("resource_type", STORE_TYPES)
def test_data_stores_are_retained_outside_throwaway_environments(committed, env, resource_type):
    expected = "Delete" if env.is_throwaway else "Retain"
    resources = data(committed, env).find_resources(resource_type)
    assert resources
    for resource in resources.values():
        assert resource["DeletionPolicy"] == expected
        assert resource["UpdateReplacePolicy"] == expected


def test_only_throwaway_buckets_empty_themselves_on_delete(committed, env):
    data(committed, env).resource_count_is("Custom::S3AutoDeleteObjects", 3 if env.is_throwaway else 0)


def test_every_taggable_store_carries_the_cost_tags(committed, env):
    expected = [{"Key": k, "Value": v} for k, v in sorted(env.tags.as_aws_tags().items())]
    for resource_type in ("AWS::S3::Bucket", "AWS::FSx::FileSystem", "AWS::KMS::Key"):
        data(committed, env).has_resource_properties(resource_type, {"Tags": Match.array_with(expected)})


def test_key_lets_bedrock_use_it_for_this_accounts_custom_models_only(committed, env):
    """Provisioned throughput for a custom Nova model: Bedrock itself decrypts the model's key."""
    data(committed, env).has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowBedrockForCustomModelsOfThisAccount",
                                "Principal": {"Service": "bedrock.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Condition": {
                                    "ForAnyValue:StringEquals": {
                                        "kms:EncryptionContextKeys": "aws:bedrock:custom-model"
                                    },
                                    "StringEquals": {"aws:SourceAccount": Match.any_value()},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_a_throwaway_environments_log_groups_go_with_its_key(committed):
    """dev's key is deleted with dev; a log group it encrypts would be kept unreadable."""
    for stack in ("Network", "Data", "Training", "Workflow", "Serving", "Agent"):
        try:
            template = committed.template("dev", stack)
        except KeyError:
            continue
        for name, group in template.find_resources("AWS::Logs::LogGroup").items():
            assert group.get("DeletionPolicy", "Delete") == "Delete", (stack, name)
    kept = [
        group
        for group in committed.template("prod", "Network").find_resources("AWS::Logs::LogGroup").values()
        if group.get("DeletionPolicy") == "Retain"
    ]
    assert kept  # a kept environment keeps its flow logs
