"""prepare_run end to end with botocore's Stubber on real S3, DynamoDB, SageMaker and Bedrock clients."""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "customization-steps")

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from customization_steps import steps
from customization_steps.request import Limits, RunRequest, check_request
from lambda_context import LambdaContext

from customization.recipes import Recipe, load_all

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
DATASETS = "acme-datasets"
ARTIFACTS = "acme-artifacts"
ROLE = "arn:aws:iam::123456789012:role/acme-customization"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:acme-customization:r1"
TRAIN = f"s3://{DATASETS}/sets/train.jsonl"
EVAL = f"s3://{DATASETS}/sets/eval.jsonl"
VALIDATION = f"s3://{DATASETS}/sets/validation.jsonl"
OUTPUT = f"s3://{ARTIFACTS}/runs/r1/output/"
RECIPE_KEY = "runs/r1/recipe/recipe.yaml"
IMAGE = "708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-fine-tune-repo:SM-TJ-SFT-LORA-latest"
JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-lite-v1:0:300k/abcdefghij12"
TOKEN = "feff9be4981a9970676ed03491dbf2d6"  # sha256("r1/customize")[:32]
SETTINGS = steps.Settings(
    limits=Limits(DATASETS, ARTIFACTS, ("sagemaker-training-job", "bedrock")),
    runs_table="acme-runs",
    customization_role_arn=ROLE,
    key_arn=KEY,
    environment="dev",
)
ENVIRONMENT = {
    "DATASETS_BUCKET": DATASETS,
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "PLATFORMS": "sagemaker-training-job,bedrock",
    "RUNS_TABLE": "acme-runs",
    "CUSTOMIZATION_ROLE_ARN": ROLE,
    "KEY_ARN": KEY,
    "ENVIRONMENT": "dev",
}
HUB_ARN = "arn:aws:sagemaker:us-east-1:aws:hub/SageMakerPublicHub"
HUB_DOCUMENT = {
    "RecipeCollection": [
        {"CustomizationTechnique": "SFT", "Peft": "LORA", "SmtjImageUri": IMAGE, "IsSubscriptionModel": False},
        {"CustomizationTechnique": "SFT", "SmtjImageUri": "full-rank-image", "IsSubscriptionModel": False},
    ]
}


class Captured:
    """Matches any value in a Stubber's expected parameters and keeps it for the test to inspect."""

    value: Any = None

    def __eq__(self, other: object) -> bool:
        self.value = other
        return True


@pytest.fixture(scope="module")
def catalog() -> dict[str, Recipe]:
    return load_all()


@dataclass
class Clients:
    s3: Any
    dynamodb: Any
    sagemaker: Any
    bedrock: Any

    def stubs(self) -> dict[str, Stubber]:
        return {name: Stubber(getattr(self, name)) for name in ("s3", "dynamodb", "sagemaker", "bedrock")}


@pytest.fixture
def clients():
    made = Clients(
        s3=boto3.client("s3", **KEYS),
        dynamodb=boto3.client("dynamodb", **KEYS),
        sagemaker=boto3.client("sagemaker", **KEYS),
        bedrock=boto3.client("bedrock", **KEYS),
    )
    stubs = made.stubs()
    for stub in stubs.values():
        stub.activate()
    yield made, stubs
    for stub in stubs.values():
        stub.deactivate()


def request_for(catalog: dict[str, Recipe], **fields: Any) -> RunRequest:
    event = {
        "run_name": "r1",
        "technique": "sft_lora",
        "base_model": "amazon.nova-lite-v1:0:300k",
        "platform": "sagemaker-training-job",
        "training_data": TRAIN,
        "evaluation_dataset": EVAL,
        **fields,
    }
    return check_request(event, recipes=catalog, limits=SETTINGS.limits, execution_name="unused")


def expect_put_recipe(s3: Stubber, body: Captured, version: str | None = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH") -> None:
    s3.add_response(
        "put_object",
        {"VersionId": version} if version else {},
        {
            "Bucket": ARTIFACTS,
            "Key": RECIPE_KEY,
            "Body": body,
            "ContentType": "application/yaml",
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": KEY,
        },
    )


def hub_content() -> dict[str, Any]:
    return {
        "HubContentName": "nova-textgeneration-lite",
        "HubContentArn": f"{HUB_ARN.replace(':hub/', ':hub-content/')}/Model/nova-textgeneration-lite/1.0.0",
        "HubContentVersion": "1.0.0",
        "HubContentType": "Model",
        "DocumentSchemaVersion": "2.3.0",
        "HubName": "SageMakerPublicHub",
        "HubArn": HUB_ARN,
        "HubContentDocument": json.dumps(HUB_DOCUMENT),
        "HubContentStatus": "Available",
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
    }


def expect_hub(sagemaker: Stubber) -> None:
    sagemaker.add_response(
        "describe_hub_content",
        hub_content(),
        {"HubName": "SageMakerPublicHub", "HubContentType": "Model", "HubContentName": "nova-textgeneration-lite"},
    )


def lineage_item(platform: str, recipe_hash: Any, execution: str = EXECUTION) -> dict[str, Any]:
    return {
        "run_name": {"S": "r1"},
        "status": {"S": "RUNNING"},
        "execution_arn": {"S": execution},
        "technique": {"S": "sft_lora"},
        "platform": {"S": platform},
        "base_model": {"S": "amazon.nova-lite-v1:0:300k"},
        "recipe": {"S": "training/sft_lora"},
        "recipe_uri": {"S": f"s3://{ARTIFACTS}/{RECIPE_KEY}"},
        "recipe_hash": {"S": recipe_hash},
        "training_data": {"S": TRAIN},
        "evaluation_dataset": {"S": EVAL},
        "deploy_mode": {"S": "none"},
    }


def recorded(item: Any, execution: str = EXECUTION) -> dict[str, Any]:
    """PutItem's parameters: the record, written only if no other execution took the run name."""
    return {
        "TableName": "acme-runs",
        "Item": item,
        "ConditionExpression": "attribute_not_exists(run_name) OR execution_arn = :execution",
        "ExpressionAttributeValues": {":execution": {"S": execution}},
    }


def canonical_hash(body: bytes) -> str:
    """The documented recipe hash: SHA-256 of the content as sorted, compact JSON."""
    data = yaml.safe_load(body)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def bedrock_job_request(**extra: Any) -> dict[str, Any]:
    return {
        "jobName": "r1-customize",
        "customModelName": "r1-model",
        "roleArn": ROLE,
        "clientRequestToken": TOKEN,
        "baseModelIdentifier": "amazon.nova-lite-v1:0:300k",
        "customizationType": "FINE_TUNING",
        "trainingDataConfig": {"s3Uri": TRAIN},
        "outputDataConfig": {"s3Uri": OUTPUT},
        "customModelKmsKeyId": KEY,
        "jobTags": [{"key": "environment", "value": "dev"}],
        "customModelTags": [{"key": "environment", "value": "dev"}],
        "hyperParameters": {"epochCount": "2", "learningRate": "1e-05"},
        **extra,
    }


def existing_job() -> dict[str, Any]:
    """A GetModelCustomizationJob response with every member botocore's model requires."""
    return {
        "jobArn": JOB_ARN,
        "jobName": "r1-customize",
        "outputModelName": "r1-model",
        "roleArn": ROLE,
        "creationTime": datetime(2026, 11, 25, tzinfo=UTC),
        "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k",
        "trainingDataConfig": {"s3Uri": TRAIN},
        "validationDataConfig": {"validators": []},
        "outputDataConfig": {"s3Uri": OUTPUT},
    }


def prepare(request: RunRequest, catalog: dict[str, Recipe], made: Clients) -> dict[str, Any]:
    return steps.prepare_run(
        request,
        SETTINGS,
        catalog,
        s3=made.s3,
        dynamodb=made.dynamodb,
        sagemaker=made.sagemaker,
        bedrock=made.bedrock,
        execution_arn=EXECUTION,
    )


def assert_all_used(stubs: dict[str, Stubber]) -> None:
    for stub in stubs.values():
        stub.assert_no_pending_responses()


# --- SageMaker training job --------------------------------------------------------------------------------------


def test_sagemaker_run_puts_the_rendered_recipe_resolves_the_image_and_records_the_run(catalog, clients):
    made, stubs = clients
    body, recipe_hash = Captured(), Captured()
    expect_put_recipe(stubs["s3"], body)
    expect_hub(stubs["sagemaker"])
    item = lineage_item("sagemaker-training-job", recipe_hash)
    stubs["dynamodb"].add_response("put_item", {}, recorded(item))

    plan = prepare(request_for(catalog, overrides={"epochs": 3}), catalog, made)

    assert_all_used(stubs)
    recipe = yaml.safe_load(body.value)
    assert recipe["run"]["data_s3_path"] == TRAIN
    assert recipe["run"]["output_s3_path"] == OUTPUT
    assert recipe["training_config"]["trainer"]["max_epochs"] == 3
    assert recipe["training_config"]["model"]["optim"]["lr"] == 1e-5  # untouched recipe value
    digest = canonical_hash(body.value)
    assert body.value.decode().startswith(
        f"# Rendered from recipes/training/sft_lora.yaml (sft_lora); recipe_hash {digest}\n"
    )
    assert recipe_hash.value == digest
    assert plan == {
        "run_name": "r1",
        "recipe_uri": f"s3://{ARTIFACTS}/{RECIPE_KEY}",
        "recipe_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH",
        "recipe_hash": digest,
        "approval": "APPROVED",  # once it passes the gate, Serving may deploy it
        "output_uri": OUTPUT,
        "artifacts_bucket": ARTIFACTS,
        "sagemaker": {
            "job_name": "r1-train",
            "training_image": IMAGE,
            "recipe_prefix": f"s3://{ARTIFACTS}/runs/r1/recipe/",
            "hyperparameters": {
                "sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/recipe.yaml",
                "base_model": "nova-lite/prod",
            },
            "instance_count": 4,
            "output_path": OUTPUT,
            # Where a Nova job's manifest is (DescribeTrainingJob names no ModelArtifacts for it).
            "output_archive": f"{OUTPUT}r1-train/output/output.tar.gz",
        },
    }


def test_the_same_run_renders_the_same_bytes_and_hash(catalog, clients):
    made, stubs = clients
    bodies = [Captured(), Captured()]
    plans = []
    for body in bodies:
        expect_put_recipe(stubs["s3"], body)
        expect_hub(stubs["sagemaker"])
        stubs["dynamodb"].add_response("put_item", {}, recorded(ANY))
        plans.append(prepare(request_for(catalog), catalog, made))

    assert bodies[0].value == bodies[1].value
    assert plans[0]["recipe_hash"] == plans[1]["recipe_hash"]


def test_a_missing_training_image_fails_the_run_after_its_name_is_claimed(catalog, clients):
    made, stubs = clients
    stubs["dynamodb"].add_response("put_item", {}, recorded(ANY))  # the failure path marks it FAILED
    expect_put_recipe(stubs["s3"], Captured())
    stubs["sagemaker"].add_response(
        "describe_hub_content",
        {**hub_content(), "HubContentDocument": json.dumps({"RecipeCollection": []})},
        {"HubName": "SageMakerPublicHub", "HubContentType": "Model", "HubContentName": "nova-textgeneration-lite"},
    )

    with pytest.raises(steps.images.TrainingImageNotFoundError, match="no SFT recipe \\(LoRA\\)"):
        prepare(request_for(catalog), catalog, made)
    assert_all_used(stubs)


# --- Bedrock -----------------------------------------------------------------------------------------------------


def test_bedrock_run_starts_the_customization_job_with_validation_data(catalog, clients):
    made, stubs = clients
    body, recipe_hash = Captured(), Captured()
    expect_put_recipe(stubs["s3"], body, version=None)
    stubs["bedrock"].add_response(
        "create_model_customization_job",
        {"jobArn": JOB_ARN},
        bedrock_job_request(validationDataConfig={"validators": [{"s3Uri": VALIDATION}]}),
    )
    item = lineage_item("bedrock", recipe_hash)
    stubs["dynamodb"].add_response("put_item", {}, recorded(item))

    plan = prepare(request_for(catalog, platform="bedrock", validation_data=VALIDATION), catalog, made)

    assert_all_used(stubs)  # SageMaker had nothing queued, so it was not called
    assert plan["bedrock"] == {"job_arn": JOB_ARN, "job_name": "r1-customize"}
    assert "sagemaker" not in plan
    assert plan["recipe_version"] == ""  # an unversioned bucket returns no VersionId
    assert plan["recipe_hash"] == recipe_hash.value == canonical_hash(body.value)
    assert "validation" not in body.value.decode()  # the sft_lora recipe has no validation key


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", "The provided job name is currently in use."),
        ("ConflictException", "A job with this name already exists."),
    ],
)
def test_a_retry_finds_the_job_already_started_by_name(catalog, clients, code, message):
    made, stubs = clients
    expect_put_recipe(stubs["s3"], Captured())
    stubs["bedrock"].add_client_error(
        "create_model_customization_job", code, message, 400, expected_params=bedrock_job_request()
    )
    stubs["bedrock"].add_response("get_model_customization_job", existing_job(), {"jobIdentifier": "r1-customize"})
    stubs["dynamodb"].add_response("put_item", {}, recorded(ANY))

    plan = prepare(request_for(catalog, platform="bedrock"), catalog, made)

    assert_all_used(stubs)
    assert plan["bedrock"]["job_arn"] == JOB_ARN


def test_a_real_validation_error_is_not_hidden_by_the_lookup(catalog, clients):
    made, stubs = clients
    stubs["dynamodb"].add_response("put_item", {}, recorded(ANY))
    expect_put_recipe(stubs["s3"], Captured())
    stubs["bedrock"].add_client_error(
        "create_model_customization_job", "ValidationException", "Training data has 3 records; 8 is the minimum", 400
    )
    stubs["bedrock"].add_client_error(
        "get_model_customization_job", "ResourceNotFoundException", "Job r1-customize not found", 404
    )

    with pytest.raises(ClientError) as raised:
        prepare(request_for(catalog, platform="bedrock"), catalog, made)

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "8 is the minimum" in str(raised.value)
    assert_all_used(stubs)


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException", "ServiceQuotaExceededException"])
def test_other_bedrock_errors_propagate_without_a_lookup(catalog, clients, code):
    made, stubs = clients
    stubs["dynamodb"].add_response("put_item", {}, recorded(ANY))
    expect_put_recipe(stubs["s3"], Captured())
    stubs["bedrock"].add_client_error("create_model_customization_job", code, "no", 400)

    with pytest.raises(ClientError) as raised:
        prepare(request_for(catalog, platform="bedrock"), catalog, made)

    assert raised.value.response["Error"]["Code"] == code
    assert_all_used(stubs)


# --- the handler -------------------------------------------------------------------------------------------------


def test_the_prepare_handler_takes_the_validated_state(catalog, clients, monkeypatch):
    made, stubs = clients
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(steps, "client", lambda name: getattr(made, name))
    expect_put_recipe(stubs["s3"], Captured())
    stubs["bedrock"].add_response("create_model_customization_job", {"jobArn": JOB_ARN}, bedrock_job_request())
    stubs["dynamodb"].add_response(
        "put_item", {}, recorded(lineage_item("bedrock", ANY, execution="exec-arn"), execution="exec-arn")
    )
    state = request_for(catalog, platform="bedrock").as_state()

    plan = steps.prepare({"request": state, "execution": "exec-arn"}, LambdaContext())

    assert_all_used(stubs)
    assert plan["bedrock"]["job_arn"] == JOB_ARN
    assert plan["recipe_uri"] == f"s3://{ARTIFACTS}/{RECIPE_KEY}"


# --- open-weight import ------------------------------------------------------------------------------------------


def test_an_open_weight_import_writes_no_recipe_and_records_the_weights_it_imports(catalog, clients):
    made, stubs = clients
    weights = f"s3://{DATASETS}/models/llama-support/"
    item = {
        "run_name": {"S": "r1"},
        "status": {"S": "RUNNING"},
        "execution_arn": {"S": EXECUTION},
        "technique": {"S": "import"},
        "platform": {"S": "bedrock"},
        "base_model": {"S": "meta.llama3-1-8b-instruct-v1:0"},
        "evaluation_dataset": {"S": EVAL},
        "deploy_mode": {"S": "on-demand"},
        "model_data": {"S": weights},
    }
    stubs["dynamodb"].add_response("put_item", {}, recorded(item))
    request = RunRequest(
        run_name="r1",
        technique="import",
        base_model="meta.llama3-1-8b-instruct-v1:0",
        recipe="",
        training_data="",
        evaluation_dataset=EVAL,
        platform="bedrock",
        deploy_mode="on-demand",
        model_data=weights,
    )

    plan = prepare(request, catalog, made)

    assert_all_used(stubs)  # no S3 write, no hub lookup, no Bedrock call: the state machine starts the import
    assert (
        plan
        == {
            "run_name": "r1",
            "output_uri": f"s3://{ARTIFACTS}/runs/r1/output/",
            "artifacts_bucket": ARTIFACTS,
            "approval": "APPROVED_IMPORTED",  # served by its own ARN, never picked up by Serving
            "import": {
                "job_name": "r1-import",
                "model_name": "r1-model",
                "client_token": hashlib.sha256(b"r1/import").hexdigest()[:32],
            },
        }
    )


def test_a_run_name_another_execution_took_is_rejected_before_anything_is_written(catalog, clients):
    made, stubs = clients
    stubs["dynamodb"].add_client_error(
        "put_item", "ConditionalCheckFailedException", "The conditional request failed", 400, recorded(ANY)
    )

    with pytest.raises(steps.RunNameTakenError, match=r"^run_name: 'r1' is not allowed; expected a name no earlier"):
        prepare(request_for(catalog, platform="bedrock"), catalog, made)

    assert_all_used(stubs)  # no recipe was put and no Bedrock job started: neither was queued


def test_other_lineage_write_errors_propagate(catalog, clients):
    made, stubs = clients
    stubs["dynamodb"].add_client_error("put_item", "ProvisionedThroughputExceededException", "slow down", 400)

    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        prepare(request_for(catalog, platform="bedrock"), catalog, made)


@pytest.mark.parametrize("code", ["ThrottlingException", "Throttling", "SlowDown", "ServiceUnavailable"])
def test_a_throttled_aws_call_is_raised_as_the_error_the_state_machine_retries(code):
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "DescribeHubContent")

    with pytest.raises(steps.ServiceThrottledError, match="Rate exceeded"):
        steps.throttling_is_transient(handler)({}, LambdaContext())


def test_a_refused_aws_call_is_not_turned_into_a_retry():
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeHubContent")

    with pytest.raises(ClientError) as raised:
        steps.throttling_is_transient(handler)({}, LambdaContext())
    assert not isinstance(raised.value, steps.ServiceThrottledError)
