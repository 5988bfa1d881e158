"""The serving custom resources (provisioned throughput, on-demand deployment) against botocore's Stubber."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from bedrock_serving.handler import ServingResourceFailedError, handle_event, is_complete, on_event
from bedrock_serving.kinds import CustomModelDeployments, InvalidRequestError, ProvisionedThroughputs
from botocore.exceptions import ClientError
from botocore.stub import Stubber

MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdefghij12"
ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/pt0123456789"
PROPS = {"ModelId": MODEL, "ModelUnits": "1", "ProvisionedModelName": "dev-agent-model", "Tags": {"env": "dev"}}
REQUEST_ID = "6f0c5a0e-7a56-4bb9-9bb1-1c2d3e4f5a6b"


@pytest.fixture
def bedrock():
    client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def throughputs(client, sleeps=None):
    return ProvisionedThroughputs(client, sleep=(sleeps.append if sleeps is not None else lambda _: None))


def create_event(**props):
    return {"RequestType": "Create", "RequestId": REQUEST_ID, "ResourceProperties": {**PROPS, **props}}


def get_response(status, **extra):
    return {
        "modelUnits": 1,
        "desiredModelUnits": 1,
        "provisionedModelName": "dev-agent-model",
        "provisionedModelArn": ARN,
        "modelArn": MODEL,
        "desiredModelArn": MODEL,
        "foundationModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
        "status": status,
        "creationTime": "2026-11-25T00:00:00Z",
        "lastModifiedTime": "2026-11-25T00:00:00Z",
        **extra,
    }


def test_create_uses_the_request_id_as_idempotency_token_and_no_commitment(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": ARN},
        {
            "clientRequestToken": REQUEST_ID,
            "modelUnits": 1,
            "provisionedModelName": "dev-agent-model",
            "modelId": MODEL,
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    assert on_event(create_event(), throughputs(client)) == {"PhysicalResourceId": ARN}


def test_create_with_a_commitment_passes_it(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": ARN},
        {
            "clientRequestToken": REQUEST_ID,
            "modelUnits": 2,
            "provisionedModelName": "dev-agent-model",
            "modelId": MODEL,
            "commitmentDuration": "SixMonths",
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    on_event(create_event(ModelUnits="2", CommitmentDuration="SixMonths"), throughputs(client))


def test_throttling_is_retried_with_back_off(bedrock):
    client, stubber = bedrock
    for _ in range(2):
        stubber.add_client_error("create_provisioned_model_throughput", "ThrottlingException", "slow down", 429)
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": ARN})
    sleeps: list[float] = []
    assert on_event(create_event(), throughputs(client, sleeps))["PhysicalResourceId"] == ARN
    assert sleeps == [1.0, 2.0]


def test_validation_errors_are_not_retried(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("create_provisioned_model_throughput", "ValidationException", "bad model", 400)
    with pytest.raises(ClientError, match="bad model"):
        on_event(create_event(), throughputs(client))


def test_is_complete_waits_while_creating_and_reports_the_arn_when_in_service(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", get_response("Creating"), {"provisionedModelId": ARN})
    stubber.add_response("get_provisioned_model_throughput", get_response("InService"), {"provisionedModelId": ARN})
    event = {"RequestType": "Create", "PhysicalResourceId": ARN}
    assert is_complete(event, throughputs(client)) == {"IsComplete": False}
    done = is_complete(event, throughputs(client))
    assert done == {"IsComplete": True, "Data": {"ProvisionedModelArn": ARN, "ModelArn": MODEL}}


def test_a_failed_create_deletes_what_it_made_and_says_why(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "get_provisioned_model_throughput",
        get_response("Failed", failureMessage="Insufficient capacity"),
        {"provisionedModelId": ARN},
    )
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    with pytest.raises(ServingResourceFailedError, match="failed: Insufficient capacity"):
        is_complete({"RequestType": "Create", "PhysicalResourceId": ARN}, throughputs(client))


def test_delete_deletes_and_treats_not_found_as_done(bedrock):
    client, stubber = bedrock
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    stubber.add_client_error("delete_provisioned_model_throughput", "ResourceNotFoundException", "gone", 404)
    event = {"RequestType": "Delete", "PhysicalResourceId": ARN, "ResourceProperties": PROPS}
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": ARN}
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": ARN}
    assert is_complete(event, throughputs(client)) == {"IsComplete": True}


def test_delete_after_a_create_that_never_reached_bedrock_calls_nothing(bedrock):
    client, _ = bedrock
    event = {"RequestType": "Delete", "PhysicalResourceId": "2026/11/25/[$LATEST]abc", "ResourceProperties": PROPS}
    assert on_event(event, throughputs(client))["PhysicalResourceId"].startswith("2026")


def test_delete_errors_other_than_not_found_fail(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("delete_provisioned_model_throughput", "ValidationException", "committed term", 400)
    with pytest.raises(ClientError, match="committed term"):
        on_event({"RequestType": "Delete", "PhysicalResourceId": ARN}, throughputs(client))


def test_update_of_name_or_model_is_in_place(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "update_provisioned_model_throughput",
        {},
        {"provisionedModelId": ARN, "desiredProvisionedModelName": "renamed", "desiredModelId": MODEL},
    )
    event = {
        "RequestType": "Update",
        "RequestId": REQUEST_ID,
        "PhysicalResourceId": ARN,
        "ResourceProperties": {**PROPS, "ProvisionedModelName": "renamed"},
        "OldResourceProperties": PROPS,
    }
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": ARN}


def test_update_of_model_units_creates_a_replacement(bedrock):
    client, stubber = bedrock
    new_arn = ARN.replace("pt0123456789", "pt9876543210")
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": new_arn})
    event = {
        "RequestType": "Update",
        "RequestId": REQUEST_ID,
        "PhysicalResourceId": ARN,
        "ResourceProperties": {**PROPS, "ModelUnits": "3"},
        "OldResourceProperties": PROPS,
    }
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": new_arn}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"ModelUnits": "0"}, "ModelUnits: '0' is not allowed; expected an integer >= 1"),
        ({"ModelId": "gpt-4"}, "ModelId: 'gpt-4' is not allowed; expected a Bedrock custom or foundation model ARN"),
        ({"CommitmentDuration": "OneYear"}, "CommitmentDuration: 'OneYear' is not allowed; expected one of None"),
        ({"ProvisionedModelName": "bad name"}, "ProvisionedModelName: 'bad name' is not allowed"),
    ],
)
def test_bad_properties_are_rejected_before_any_call(props, message):
    with pytest.raises(InvalidRequestError, match=message):
        ProvisionedThroughputs(None).parse({**PROPS, **props})


# --- on-demand custom model deployment -------------------------------------------------------------------------

DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdefghij12"
DEPLOY_PROPS = {"Kind": "CustomModelDeployment", "ModelId": MODEL, "DeploymentName": "dev-agent-model"}


def deployments(client):
    return CustomModelDeployments(client, sleep=lambda _: None)


def test_deployment_create_uses_the_request_id_as_token(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "create_custom_model_deployment",
        {"customModelDeploymentArn": DEPLOYMENT},
        {"modelDeploymentName": "dev-agent-model", "modelArn": MODEL, "tags": [], "clientRequestToken": REQUEST_ID},
    )
    event = {"RequestType": "Create", "RequestId": REQUEST_ID, "ResourceProperties": DEPLOY_PROPS}
    assert on_event(event, deployments(client)) == {"PhysicalResourceId": DEPLOYMENT}


def deployment_response(status, **extra):
    return {
        "customModelDeploymentArn": DEPLOYMENT,
        "modelDeploymentName": "dev-agent-model",
        "modelArn": MODEL,
        "createdAt": "2026-11-25T00:00:00Z",
        "status": status,
        **extra,
    }


def test_deployment_is_complete_when_active_and_cleans_up_when_failed(bedrock):
    client, stubber = bedrock
    identifier = {"customModelDeploymentIdentifier": DEPLOYMENT}
    stubber.add_response("get_custom_model_deployment", deployment_response("Creating"), identifier)
    stubber.add_response("get_custom_model_deployment", deployment_response("Active"), identifier)
    stubber.add_response(
        "get_custom_model_deployment", deployment_response("Failed", failureMessage="model not supported"), identifier
    )
    stubber.add_response("delete_custom_model_deployment", {}, identifier)
    event = {"RequestType": "Create", "PhysicalResourceId": DEPLOYMENT}
    assert is_complete(event, deployments(client)) == {"IsComplete": False}
    assert is_complete(event, deployments(client))["Data"] == {"DeploymentArn": DEPLOYMENT, "ModelArn": MODEL}
    with pytest.raises(ServingResourceFailedError, match="failed: model not supported"):
        is_complete(event, deployments(client))


def test_deployment_update_changes_the_model_in_place_and_a_rename_replaces(bedrock):
    client, stubber = bedrock
    other_model = MODEL.replace("abcdefghij12", "zyxwvutsrq98")
    stubber.add_response(
        "update_custom_model_deployment",
        {"customModelDeploymentArn": DEPLOYMENT},
        {"modelArn": other_model, "customModelDeploymentIdentifier": DEPLOYMENT},
    )
    stubber.add_response("create_custom_model_deployment", {"customModelDeploymentArn": DEPLOYMENT + "2"})
    base = {"RequestType": "Update", "RequestId": REQUEST_ID, "PhysicalResourceId": DEPLOYMENT}
    moved = {
        **base,
        "ResourceProperties": {**DEPLOY_PROPS, "ModelId": other_model},
        "OldResourceProperties": DEPLOY_PROPS,
    }
    assert on_event(moved, deployments(client)) == {"PhysicalResourceId": DEPLOYMENT}
    renamed = {
        **base,
        "ResourceProperties": {**DEPLOY_PROPS, "DeploymentName": "renamed"},
        "OldResourceProperties": DEPLOY_PROPS,
    }
    assert on_event(renamed, deployments(client)) == {"PhysicalResourceId": DEPLOYMENT + "2"}


def test_deployment_delete_treats_not_found_as_done(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("delete_custom_model_deployment", "ResourceNotFoundException", "gone", 404)
    assert on_event({"RequestType": "Delete", "PhysicalResourceId": DEPLOYMENT}, deployments(client)) == {
        "PhysicalResourceId": DEPLOYMENT
    }


def test_on_demand_needs_a_custom_model():
    foundation = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
    with pytest.raises(InvalidRequestError, match="expected a custom model ARN"):
        CustomModelDeployments(None).parse({**DEPLOY_PROPS, "ModelId": foundation})


def test_unknown_kind_is_rejected_before_any_call():
    with pytest.raises(InvalidRequestError, match="Kind: 'Endpoint' is not allowed"):
        handle_event({"RequestType": "Create", "ResourceProperties": {"Kind": "Endpoint"}}, None)


def test_expiring_throughput_reports_when_to_delete_it(bedrock):
    client, stubber = bedrock
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": ARN})
    now = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    result = on_event(create_event(ExpireAfterHours="8"), throughputs(client), now=now)
    assert result == {"PhysicalResourceId": ARN, "Data": {"ExpiresAt": "2026-11-25T17:30:00"}}


def test_expiry_is_only_for_throughput_without_commitment():
    with pytest.raises(InvalidRequestError, match="ExpireAfterHours: '8' is not allowed; expected an integer >= 1"):
        ProvisionedThroughputs(None).parse({**PROPS, "ExpireAfterHours": "8", "CommitmentDuration": "OneMonth"})


def test_update_of_an_expired_throughput_creates_it_again(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("update_provisioned_model_throughput", "ResourceNotFoundException", "gone", 404)
    new_arn = ARN.replace("pt0123456789", "pt5555555555")
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": new_arn})
    event = {
        "RequestType": "Update",
        "RequestId": REQUEST_ID,
        "PhysicalResourceId": ARN,
        "ResourceProperties": {**PROPS, "ProvisionedModelName": "renamed"},
        "OldResourceProperties": PROPS,
    }
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": new_arn}
