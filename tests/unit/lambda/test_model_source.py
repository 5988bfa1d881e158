"""The approved-model custom resource: the newest approved run's model, else the fallback (DynamoDB stubbed)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from model_source.handler import InvalidRequestError, handle

FALLBACK = "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"
CUSTOM = "arn:aws:bedrock:eu-west-1:111111111111:custom-model/amazon.nova-lite-v1:0:300k/abc123"
PROPERTIES = {
    "TableName": "dev-lineage",
    "IndexName": "approved-models",
    "Approval": "APPROVED",
    "FallbackModelArn": FALLBACK,
    "Generation": "1",
}
QUERY = {
    "TableName": "dev-lineage",
    "IndexName": "approved-models",
    "KeyConditionExpression": "approval = :approval",
    "ExpressionAttributeValues": {":approval": {"S": "APPROVED"}},
    "ScanIndexForward": False,
    "Limit": 25,
}


def dynamodb():
    return boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="AKIATEST", aws_secret_access_key="x")


def event(request_type: str, **properties: object) -> dict:
    return {"RequestType": request_type, "ResourceProperties": {**PROPERTIES, **properties}}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_the_newest_approved_run_is_served(request_type):
    client = dynamodb()
    with Stubber(client) as stub:
        stub.add_response("query", {"Items": [{"model_arn": {"S": CUSTOM}, "run_name": {"S": "sft-7"}}]}, QUERY)
        result = handle(event(request_type), client)
        stub.assert_no_pending_responses()
    assert result == {"PhysicalResourceId": "approved-model", "Data": {"ModelArn": CUSTOM, "Source": "lineage:sft-7"}}


def test_without_an_approved_run_the_fallback_is_served():
    client = dynamodb()
    with Stubber(client) as stub:
        stub.add_response("query", {"Items": []}, QUERY)
        result = handle(event("Create"), client)
    assert result["Data"] == {"ModelArn": FALLBACK, "Source": "fallback"}


def test_a_lineage_record_without_a_model_arn_fails_the_deploy():
    client = dynamodb()
    with Stubber(client) as stub:
        stub.add_response("query", {"Items": [{"model_arn": {"S": "none"}, "run_name": {"S": "sft-8"}}]}, QUERY)
        with pytest.raises(InvalidRequestError, match="model_arn: 'none' of run 'sft-8' is not a model ARN"):
            handle(event("Update"), client)


def test_query_errors_fail_the_deploy():
    client = dynamodb()
    with Stubber(client) as stub:
        stub.add_client_error("query", "ResourceNotFoundException", "Requested resource not found", 400)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            handle(event("Create"), client)


def test_delete_reads_nothing():
    client = dynamodb()
    with Stubber(client):
        assert handle({"RequestType": "Delete", "PhysicalResourceId": "approved-model"}, client) == {
            "PhysicalResourceId": "approved-model"
        }


def test_bad_properties_are_named():
    with pytest.raises(InvalidRequestError) as caught:
        handle(event("Create", TableName="", FallbackModelArn="amazon.nova-lite-v1:0"), dynamodb())
    assert "TableName: '' is not allowed" in str(caught.value)
    assert "FallbackModelArn: 'amazon.nova-lite-v1:0' is not allowed; expected a Bedrock model ARN" in str(caught.value)


def test_unknown_request_type_is_rejected():
    with pytest.raises(InvalidRequestError, match="RequestType: 'Replace' is not allowed"):
        handle({"RequestType": "Replace", "ResourceProperties": PROPERTIES}, dynamodb())


ON_DEMAND = ["distillation", "dpo_lora", "sft_lora"]
GET_TECHNIQUE = {
    "TableName": "dev-lineage",
    "Key": {"run_name": {"S": "sft-7"}},
    "ProjectionExpression": "technique",
    "ConsistentRead": True,
}


def test_an_on_demand_deployment_serves_a_lora_model():
    client = dynamodb()
    with Stubber(client) as stub:
        stub.add_response("query", {"Items": [{"model_arn": {"S": CUSTOM}, "run_name": {"S": "sft-7"}}]}, QUERY)
        stub.add_response("get_item", {"Item": {"technique": {"S": "sft_lora"}}}, GET_TECHNIQUE)
        result = handle(event("Update", OnDemandTechniques=ON_DEMAND), client)
        stub.assert_no_pending_responses()
    assert result["Data"]["ModelArn"] == CUSTOM


def test_a_full_rank_model_is_passed_over_for_on_demand_serving_and_named():
    """Bedrock serves no full-rank custom model on demand: the newest servable run is taken, the newer one is named.
    Refusing instead would fail the deploy's rollback the same way (the rollback reads the table again)."""
    older = CUSTOM.replace("abc123", "old456")
    client = dynamodb()
    with Stubber(client) as stub:
        page = {
            "Items": [{"model_arn": {"S": CUSTOM}, "run_name": {"S": "sft-7"}}],
            "LastEvaluatedKey": {"k": {"S": "1"}},
        }
        stub.add_response("query", page, QUERY)
        stub.add_response("get_item", {"Item": {"technique": {"S": "sft_full"}}}, GET_TECHNIQUE)
        stub.add_response(
            "query",
            {"Items": [{"model_arn": {"S": older}, "run_name": {"S": "sft-6"}}]},
            {**QUERY, "ExclusiveStartKey": {"k": {"S": "1"}}},
        )
        stub.add_response(
            "get_item",
            {"Item": {"technique": {"S": "sft_lora"}}},
            {**GET_TECHNIQUE, "Key": {"run_name": {"S": "sft-6"}}},
        )
        result = handle(event("Update", OnDemandTechniques=ON_DEMAND), client)
        stub.assert_no_pending_responses()
    assert result["Data"] == {
        "ModelArn": older,
        "Source": "lineage:sft-6; skipped, not servable on demand: sft-7 (sft_full)",
    }


def test_the_fallback_base_model_needs_no_technique_check():
    client = dynamodb()
    with Stubber(client) as stub:
        stub.add_response("query", {"Items": []}, QUERY)
        assert handle(event("Create", OnDemandTechniques=ON_DEMAND), client)["Data"]["Source"] == "fallback"
        stub.assert_no_pending_responses()
