"""The serving custom resource (provisioned throughput, on-demand deployment, or nothing for a base model) against
botocore's Stubber: create, update in place, replacement, delete, failed create, timeout, already gone, conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from bedrock_serving.handler import READY_WITHIN, ServingResourceFailedError, handle_event, is_complete, on_event
from bedrock_serving.kinds import CustomModelDeployments, InvalidRequestError, ProvisionedThroughputs
from botocore.exceptions import ClientError
from botocore.stub import Stubber

ACCOUNT = "123456789012"
MODEL = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/amazon.nova-lite-v1:0:300k/abcdefghij12"
SIBLING = MODEL.replace("abcdefghij12", "zyxwvutsrq98")  # another custom model of the same base
STRANGER = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/amazon.nova-pro-v1:0:300k/pppppppppp01"
LITE = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
LITE_300K = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k"
PRO_300K = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0:300k"
PROFILE = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.amazon.nova-lite-v1:0"
ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/pt0123456789"
NEW_ARN = ARN.replace("pt0123456789", "pt9876543210")
REQUEST_ID = "6f0c5a0e-7a56-4bb9-9bb1-1c2d3e4f5a6b"
NAME = "dev-serving-6f0c5a0e"  # the prefix and the request id's first 8 characters
PROPS = {
    "Kind": "ProvisionedThroughput",
    "ModelId": MODEL,
    "BaseInvokeArn": LITE,
    "NamePrefix": "dev-serving",
    "ModelUnits": "1",
    "CommitmentDuration": "None",
    "Tags": {"env": "dev"},
}
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


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


def update_event(physical=ARN, old=None, **props):
    return {
        "RequestType": "Update",
        "RequestId": REQUEST_ID,
        "PhysicalResourceId": physical,
        "ResourceProperties": {**PROPS, **props},
        "OldResourceProperties": old or PROPS,
    }


def waiting(event, result, started=NOW):
    """What the Provider framework hands is_complete: the request merged with on_event's result."""
    return {**event, **result, "StartedAt": started.isoformat()}


def throughput(status, model=MODEL, **extra):
    return {
        "modelUnits": 1,
        "desiredModelUnits": 1,
        "provisionedModelName": NAME,
        "provisionedModelArn": ARN,
        "modelArn": model,
        "desiredModelArn": model,
        "foundationModelArn": LITE_300K,
        "status": status,
        "creationTime": "2026-11-25T00:00:00Z",
        "lastModifiedTime": "2026-11-25T00:00:00Z",
        **extra,
    }


def custom_model(arn, base):
    return {"modelArn": arn, "modelName": arn.rsplit("/", 1)[1], "baseModelArn": base, "creationTime": "2026-11-25"}


# --- create -----------------------------------------------------------------------------------------------------


def test_create_names_the_throughput_after_the_request_and_uses_its_id_as_token(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": ARN},
        {
            "clientRequestToken": REQUEST_ID,
            "modelUnits": 1,
            "provisionedModelName": NAME,
            "modelId": MODEL,
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    result = on_event(create_event(), throughputs(client), now=NOW)
    assert result == {"PhysicalResourceId": ARN, "StartedAt": NOW.isoformat(), "MadeInThisRequest": True}


def test_create_with_a_commitment_passes_it(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": ARN},
        {
            "clientRequestToken": REQUEST_ID,
            "modelUnits": 2,
            "provisionedModelName": NAME,
            "modelId": MODEL,
            "commitmentDuration": "SixMonths",
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    on_event(create_event(ModelUnits="2", CommitmentDuration="SixMonths"), throughputs(client))


@pytest.mark.parametrize("invoke", [LITE, PROFILE])
def test_a_base_model_gets_no_resource_and_is_invoked_on_demand(bedrock, invoke):
    """Nothing billable for a base model: no throughput is bought for it, ever (so none is ever moved to a custom
    model, which UpdateProvisionedModelThroughput refuses)."""
    client, _ = bedrock  # no call expected: the Stubber fails on any
    event = create_event(ModelId=LITE, BaseInvokeArn=invoke)
    result = on_event(event, throughputs(client), now=NOW)
    assert (result["PhysicalResourceId"], result["MadeInThisRequest"]) == (invoke, False)
    done = is_complete(waiting(event, result), throughputs(client))
    assert done == {"IsComplete": True, "PhysicalResourceId": invoke, "Data": {"InvokeArn": invoke, "ModelArn": LITE}}


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


# --- waiting: ready, failed, timed out --------------------------------------------------------------------------


def test_is_complete_waits_while_creating_and_reports_the_arn_when_in_service(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("Creating"), {"provisionedModelId": ARN})
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    event = waiting(create_event(), {"PhysicalResourceId": ARN, "MadeInThisRequest": True})
    assert is_complete(event, throughputs(client), now=NOW + timedelta(minutes=5)) == {"IsComplete": False}
    done = is_complete(event, throughputs(client), now=NOW + timedelta(minutes=6))
    assert done == {"IsComplete": True, "PhysicalResourceId": ARN, "Data": {"InvokeArn": ARN, "ModelArn": MODEL}}


def test_a_failed_create_deletes_what_it_made_and_says_why(bedrock):
    client, stubber = bedrock
    failed = throughput("Failed", failureMessage="Insufficient capacity")
    stubber.add_response("get_provisioned_model_throughput", failed, {"provisionedModelId": ARN})
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    event = waiting(create_event(), {"PhysicalResourceId": ARN, "MadeInThisRequest": True})
    with pytest.raises(ServingResourceFailedError, match="failed: Insufficient capacity; it was deleted"):
        is_complete(event, throughputs(client))


def test_a_failed_replacement_is_deleted_and_the_old_throughput_stays_the_physical_id(bedrock):
    """The failure CloudFormation hears names the old throughput (the physical id is still its), so the rollback is
    handed that one; the replacement is deleted here."""
    client, stubber = bedrock
    failed = throughput("Failed", failureMessage="Insufficient capacity")
    stubber.add_response("get_provisioned_model_throughput", failed, {"provisionedModelId": NEW_ARN})
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": NEW_ARN})
    made = {"PhysicalResourceId": ARN, "Replacement": NEW_ARN, "MadeInThisRequest": True}
    event = waiting(update_event(ModelUnits="2"), made)
    with pytest.raises(ServingResourceFailedError, match="it was deleted"):
        is_complete(event, throughputs(client))
    assert event["PhysicalResourceId"] == ARN  # what the Provider reports with the failure


def test_the_rollback_of_a_failed_replacement_finds_the_old_throughput_as_it_was_and_buys_nothing(bedrock):
    """UPDATE_ROLLBACK sends the old settings back against the old physical id: it already serves them."""
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    rollback = update_event(old={**PROPS, "ModelUnits": "2"})  # back from 2 units to the 1 the throughput has
    result = on_event(rollback, throughputs(client))
    assert (result["PhysicalResourceId"], result["MadeInThisRequest"], "Replacement" in result) == (ARN, False, False)


def test_a_replacement_becomes_the_physical_id_once_ready(bedrock):
    client, stubber = bedrock
    ready = {**throughput("InService"), "provisionedModelArn": NEW_ARN}
    stubber.add_response("get_provisioned_model_throughput", ready, {"provisionedModelId": NEW_ARN})
    made = {"PhysicalResourceId": ARN, "Replacement": NEW_ARN, "MadeInThisRequest": True}
    done = is_complete(waiting(update_event(ModelUnits="2"), made), throughputs(client))
    assert (done["PhysicalResourceId"], done["Data"]["InvokeArn"]) == (NEW_ARN, NEW_ARN)


def test_a_failed_update_in_place_keeps_the_throughput_for_the_rollback(bedrock):
    client, stubber = bedrock
    failed = throughput("Failed", model=MODEL, failureMessage="no")
    stubber.add_response("get_provisioned_model_throughput", failed, {"provisionedModelId": ARN})
    event = waiting(update_event(ModelId=SIBLING), {"PhysicalResourceId": ARN, "MadeInThisRequest": False})
    with pytest.raises(ServingResourceFailedError) as raised:
        is_complete(event, throughputs(client))
    assert "deleted" not in str(raised.value)


def test_a_throughput_not_ready_within_the_limit_is_deleted_before_cloudformation_gives_up(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("Creating"), {"provisionedModelId": ARN})
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    event = waiting(create_event(), {"PhysicalResourceId": ARN, "MadeInThisRequest": True})
    with pytest.raises(ServingResourceFailedError, match=r"not ready within 45 minutes .*; it was deleted"):
        is_complete(event, throughputs(client), now=NOW + READY_WITHIN)
    assert timedelta(hours=1) > READY_WITHIN  # CloudFormation's limit for a custom resource


def test_a_timed_out_throughput_bedrock_will_not_delete_yet_is_named_as_billing(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("Creating"), {"provisionedModelId": ARN})
    stubber.add_client_error("delete_provisioned_model_throughput", "ConflictException", "still creating", 409)
    event = waiting(create_event(), {"PhysicalResourceId": ARN, "MadeInThisRequest": True})
    with pytest.raises(ServingResourceFailedError, match=f"{ARN} was not ready.*it bills until then"):
        is_complete(event, throughputs(client), now=NOW + READY_WITHIN)


# --- delete -----------------------------------------------------------------------------------------------------


def test_delete_deletes_and_treats_not_found_as_done(bedrock):
    client, stubber = bedrock
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    stubber.add_client_error("delete_provisioned_model_throughput", "ResourceNotFoundException", "gone", 404)
    event = {"RequestType": "Delete", "PhysicalResourceId": ARN, "ResourceProperties": PROPS}
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": ARN}
    assert is_complete(event, throughputs(client)) == {"IsComplete": True}


def test_a_delete_bedrock_refuses_for_now_is_asked_again_until_it_goes(bedrock):
    client, stubber = bedrock
    for _ in range(2):
        stubber.add_client_error("delete_provisioned_model_throughput", "ConflictException", "still creating", 409)
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    event = {"RequestType": "Delete", "PhysicalResourceId": ARN, "ResourceProperties": PROPS}
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": ARN}
    assert is_complete(event, throughputs(client)) == {"IsComplete": False}
    assert is_complete(event, throughputs(client)) == {"IsComplete": True}


@pytest.mark.parametrize("physical", [LITE, PROFILE, "2026/11/25/[$LATEST]abc"])
def test_delete_of_a_base_model_or_of_a_create_that_never_reached_bedrock_calls_nothing(bedrock, physical):
    client, _ = bedrock
    event = {"RequestType": "Delete", "PhysicalResourceId": physical, "ResourceProperties": PROPS}
    assert on_event(event, throughputs(client)) == {"PhysicalResourceId": physical}
    assert is_complete(event, throughputs(client)) == {"IsComplete": True}


def test_delete_errors_other_than_not_found_or_conflict_fail(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("delete_provisioned_model_throughput", "ValidationException", "committed term", 400)
    with pytest.raises(ClientError, match="committed term"):
        on_event({"RequestType": "Delete", "PhysicalResourceId": ARN, "ResourceProperties": PROPS}, throughputs(client))


# --- update -----------------------------------------------------------------------------------------------------


def test_changed_tags_are_applied_in_place_and_removed_ones_taken_off(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    stubber.add_response(
        "tag_resource",
        {},
        {"resourceARN": ARN, "tags": [{"key": "owner", "value": "ml"}, {"key": "tier", "value": "1"}]},
    )
    stubber.add_response("untag_resource", {}, {"resourceARN": ARN, "tagKeys": ["env"]})
    event = update_event(Tags={"owner": "ml", "tier": "1"}, old={**PROPS, "Tags": {"env": "dev", "owner": "ml-old"}})
    result = on_event(event, throughputs(client))
    assert (result["PhysicalResourceId"], result["MadeInThisRequest"]) == (ARN, False)


def test_a_custom_model_of_the_same_base_moves_the_throughput_in_place_without_a_rename(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    stubber.add_response("get_custom_model", custom_model(SIBLING, LITE_300K), {"modelIdentifier": SIBLING})
    stubber.add_response("get_custom_model", custom_model(MODEL, LITE_300K), {"modelIdentifier": MODEL})
    stubber.add_response(
        "update_provisioned_model_throughput", {}, {"provisionedModelId": ARN, "desiredModelId": SIBLING}
    )
    result = on_event(update_event(ModelId=SIBLING), throughputs(client), now=NOW)
    assert (result["PhysicalResourceId"], result["MadeInThisRequest"]) == (ARN, False)
    # Still Updating, then InService on the old model for a moment: not done until it serves the new one.
    stubber.add_response("get_provisioned_model_throughput", throughput("Updating"), {"provisionedModelId": ARN})
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    stubber.add_response(
        "get_provisioned_model_throughput", throughput("InService", model=SIBLING), {"provisionedModelId": ARN}
    )
    event = waiting(update_event(ModelId=SIBLING), result)
    assert is_complete(event, throughputs(client), now=NOW) == {"IsComplete": False}
    assert is_complete(event, throughputs(client), now=NOW) == {"IsComplete": False}
    assert is_complete(event, throughputs(client), now=NOW)["Data"] == {"InvokeArn": ARN, "ModelArn": SIBLING}


def test_a_custom_model_of_another_base_gets_a_new_throughput(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    stubber.add_response("get_custom_model", custom_model(STRANGER, PRO_300K), {"modelIdentifier": STRANGER})
    stubber.add_response("get_custom_model", custom_model(MODEL, LITE_300K), {"modelIdentifier": MODEL})
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": NEW_ARN})
    result = on_event(update_event(ModelId=STRANGER), throughputs(client))
    assert (result["PhysicalResourceId"], result["Replacement"], result["MadeInThisRequest"]) == (ARN, NEW_ARN, True)


def test_the_first_approved_model_replaces_the_base_model_with_a_throughput_of_its_own(bedrock):
    """The lineage fallback (a base model, nothing made) becoming a custom model: a new throughput, never a moved
    one. CloudFormation then deletes the old physical id, the base model's ARN, which deletes nothing."""
    client, stubber = bedrock
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": NEW_ARN},
        {
            "clientRequestToken": REQUEST_ID,
            "modelUnits": 1,
            "provisionedModelName": NAME,
            "modelId": MODEL,
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    result = on_event(update_event(physical=LITE, old={**PROPS, "ModelId": LITE}), throughputs(client))
    assert (result["PhysicalResourceId"], result["Replacement"], result["MadeInThisRequest"]) == (LITE, NEW_ARN, True)


def test_back_to_a_base_model_drops_the_throughput_for_on_demand(bedrock):
    client, _ = bedrock
    result = on_event(update_event(ModelId=LITE), throughputs(client))
    assert (result["PhysicalResourceId"], result["MadeInThisRequest"]) == (LITE, False)


def test_new_model_units_make_a_replacement_under_a_name_of_its_own(bedrock):
    client, stubber = bedrock
    other_request = "0a1b2c3d-0000-4000-8000-000000000000"
    stubber.add_response("get_provisioned_model_throughput", throughput("InService"), {"provisionedModelId": ARN})
    stubber.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": NEW_ARN},
        {
            "clientRequestToken": other_request,
            "modelUnits": 3,
            "provisionedModelName": "dev-serving-0a1b2c3d",  # not the name of the throughput it replaces
            "modelId": MODEL,
            "tags": [{"key": "env", "value": "dev"}],
        },
    )
    event = {**update_event(ModelUnits="3"), "RequestId": other_request}
    assert on_event(event, throughputs(client))["Replacement"] == NEW_ARN


def test_update_of_an_expired_throughput_creates_it_again(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("get_provisioned_model_throughput", "ResourceNotFoundException", "gone", 404)
    stubber.add_client_error("tag_resource", "ResourceNotFoundException", "gone", 404)
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": NEW_ARN})
    result = on_event(update_event(Tags={"env": "dev", "tier": "1"}), throughputs(client))
    assert (result["Replacement"], result["MadeInThisRequest"]) == (NEW_ARN, True)


@pytest.mark.parametrize(("old", "new"), [("None", "OneMonth"), ("SixMonths", "None")])
def test_a_change_of_commitment_is_refused_before_any_call(bedrock, old, new):
    """One side could be neither deleted (committed, during its term) nor kept (hourly, billing unowned)."""
    client, _ = bedrock
    event = update_event(CommitmentDuration=new, old={**PROPS, "CommitmentDuration": old})
    with pytest.raises(InvalidRequestError, match=f"CommitmentDuration: '{new}' is not allowed in place of '{old}'"):
        on_event(event, throughputs(client))


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"ModelUnits": "0"}, "ModelUnits: '0' is not allowed; expected an integer >= 1"),
        ({"ModelId": "gpt-4"}, "ModelId: 'gpt-4' is not allowed; expected a Bedrock custom or foundation model ARN"),
        ({"CommitmentDuration": "OneYear"}, "CommitmentDuration: 'OneYear' is not allowed; expected one of None"),
        ({"NamePrefix": "bad name"}, "NamePrefix: 'bad name' is not allowed"),
        ({"BaseInvokeArn": MODEL}, "BaseInvokeArn: .* is not allowed; expected a foundation model or inference"),
    ],
)
def test_bad_properties_are_rejected_before_any_call(props, message):
    with pytest.raises(InvalidRequestError, match=message):
        ProvisionedThroughputs(None).parse({**PROPS, **props})


def test_expiring_throughput_reports_when_to_delete_it(bedrock):
    client, stubber = bedrock
    stubber.add_response("create_provisioned_model_throughput", {"provisionedModelArn": ARN})
    result = on_event(create_event(ExpireAfterHours="8"), throughputs(client), now=NOW)
    assert result["Data"] == {"ExpiresAt": "2026-11-25T17:30:00"}


def test_expiry_is_only_for_throughput_without_commitment():
    with pytest.raises(InvalidRequestError, match="ExpireAfterHours: '8' is not allowed; expected an integer >= 1"):
        ProvisionedThroughputs(None).parse({**PROPS, "ExpireAfterHours": "8", "CommitmentDuration": "OneMonth"})


def test_unknown_kind_is_rejected_before_any_call():
    with pytest.raises(InvalidRequestError, match="Kind: 'Endpoint' is not allowed"):
        handle_event({"RequestType": "Create", "ResourceProperties": {"Kind": "Endpoint"}}, None)


# --- on-demand custom model deployment -------------------------------------------------------------------------

DEPLOYMENT = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model-deployment/abcdefghij12"
DEPLOY_PROPS = {**{k: v for k, v in PROPS.items() if k not in ("ModelUnits", "CommitmentDuration")}}
DEPLOY_PROPS["Kind"] = "CustomModelDeployment"
IDENTIFIER = {"customModelDeploymentIdentifier": DEPLOYMENT}


def deployments(client):
    return CustomModelDeployments(client, sleep=lambda _: None)


def deployment(status, model=MODEL, **extra):
    return {
        "customModelDeploymentArn": DEPLOYMENT,
        "modelDeploymentName": NAME,
        "modelArn": model,
        "createdAt": "2026-11-25T00:00:00Z",
        "status": status,
        **extra,
    }


def test_deployment_create_is_named_after_the_request_with_its_id_as_token(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "create_custom_model_deployment",
        {"customModelDeploymentArn": DEPLOYMENT},
        {
            "modelDeploymentName": NAME,
            "modelArn": MODEL,
            "tags": [{"key": "env", "value": "dev"}],
            "clientRequestToken": REQUEST_ID,
        },
    )
    event = {"RequestType": "Create", "RequestId": REQUEST_ID, "ResourceProperties": DEPLOY_PROPS}
    assert on_event(event, deployments(client))["PhysicalResourceId"] == DEPLOYMENT


def test_deployment_is_complete_when_active_and_cleans_up_when_its_create_failed(bedrock):
    client, stubber = bedrock
    stubber.add_response("get_custom_model_deployment", deployment("Creating"), IDENTIFIER)
    stubber.add_response("get_custom_model_deployment", deployment("Active"), IDENTIFIER)
    stubber.add_response(
        "get_custom_model_deployment", deployment("Failed", failureMessage="not supported"), IDENTIFIER
    )
    stubber.add_response("delete_custom_model_deployment", {}, IDENTIFIER)
    created = {"RequestType": "Create", "RequestId": REQUEST_ID, "ResourceProperties": DEPLOY_PROPS}
    event = waiting(created, {"PhysicalResourceId": DEPLOYMENT, "MadeInThisRequest": True})
    assert is_complete(event, deployments(client), now=NOW) == {"IsComplete": False}
    assert is_complete(event, deployments(client), now=NOW)["Data"] == {"InvokeArn": DEPLOYMENT, "ModelArn": MODEL}
    with pytest.raises(ServingResourceFailedError, match="failed: not supported; it was deleted"):
        is_complete(event, deployments(client), now=NOW)


def test_deployment_update_moves_the_model_in_place_and_waits_for_its_update_status(bedrock):
    """An update keeps the deployment Active: only updateDetails.updateStatus says whether it is done or failed."""
    client, stubber = bedrock
    stubber.add_response("get_custom_model_deployment", deployment("Active"), IDENTIFIER)
    stubber.add_response(
        "update_custom_model_deployment",
        {"customModelDeploymentArn": DEPLOYMENT},
        {"modelArn": SIBLING, "customModelDeploymentIdentifier": DEPLOYMENT},
    )
    moved = {
        "RequestType": "Update",
        "RequestId": REQUEST_ID,
        "PhysicalResourceId": DEPLOYMENT,
        "ResourceProperties": {**DEPLOY_PROPS, "ModelId": SIBLING},
        "OldResourceProperties": DEPLOY_PROPS,
    }
    result = on_event(moved, deployments(client), now=NOW)
    assert (result["PhysicalResourceId"], result["MadeInThisRequest"]) == (DEPLOYMENT, False)
    updating = {"modelArn": SIBLING, "updateStatus": "Updating"}
    stubber.add_response("get_custom_model_deployment", deployment("Active"), IDENTIFIER)  # not yet seen
    stubber.add_response("get_custom_model_deployment", deployment("Active", updateDetails=updating), IDENTIFIER)
    done = {"modelArn": SIBLING, "updateStatus": "UpdateCompleted"}
    stubber.add_response("get_custom_model_deployment", deployment("Active", updateDetails=done), IDENTIFIER)
    event = waiting(moved, result)
    assert is_complete(event, deployments(client), now=NOW) == {"IsComplete": False}
    assert is_complete(event, deployments(client), now=NOW) == {"IsComplete": False}
    assert is_complete(event, deployments(client), now=NOW)["IsComplete"] is True


def test_a_failed_deployment_update_fails_the_request_and_keeps_the_deployment(bedrock):
    client, stubber = bedrock
    failed = {"modelArn": SIBLING, "updateStatus": "UpdateFailed"}
    stubber.add_response("get_custom_model_deployment", deployment("Active", updateDetails=failed), IDENTIFIER)
    moved = {
        "RequestType": "Update",
        "PhysicalResourceId": DEPLOYMENT,
        "ResourceProperties": {**DEPLOY_PROPS, "ModelId": SIBLING},
        "MadeInThisRequest": False,
        "StartedAt": NOW.isoformat(),
    }
    with pytest.raises(ServingResourceFailedError, match="the update failed"):
        is_complete(moved, deployments(client), now=NOW)


def test_a_deployment_bedrock_will_not_delete_yet_is_asked_again(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("delete_custom_model_deployment", "ConflictException", "creating", 409)
    stubber.add_client_error("delete_custom_model_deployment", "ResourceNotFoundException", "gone", 404)
    event = {"RequestType": "Delete", "PhysicalResourceId": DEPLOYMENT, "ResourceProperties": DEPLOY_PROPS}
    assert on_event(event, deployments(client)) == {"PhysicalResourceId": DEPLOYMENT}
    assert is_complete(event, deployments(client)) == {"IsComplete": True}


def test_a_new_mode_replaces_the_throughput_with_a_deployment(bedrock):
    """serving.mode changed: the old physical id is a throughput, which CloudFormation deletes with its own kind."""
    client, stubber = bedrock
    stubber.add_response("create_custom_model_deployment", {"customModelDeploymentArn": DEPLOYMENT})
    event = {**update_event(), "ResourceProperties": DEPLOY_PROPS}
    result = on_event(event, deployments(client))
    assert (result["PhysicalResourceId"], result["Replacement"], result["MadeInThisRequest"]) == (ARN, DEPLOYMENT, True)


def test_the_old_throughput_is_deleted_as_a_throughput_after_a_mode_change(bedrock):
    """CloudFormation's clean-up Delete may carry the new properties (Kind CustomModelDeployment): the ARN decides."""
    from bedrock_serving import handler

    client, stubber = bedrock
    stubber.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    handler._clients["bedrock"] = client
    try:
        event = {"RequestType": "Delete", "PhysicalResourceId": ARN, "ResourceProperties": DEPLOY_PROPS}
        assert handle_event(event, None) == {"PhysicalResourceId": ARN}
    finally:
        handler._clients.pop("bedrock")


def test_an_old_failed_update_to_another_model_does_not_fail_later_requests(bedrock):
    """updateDetails keeps the last update's outcome: one that failed for another model says nothing about now."""
    client, stubber = bedrock
    stale = {"modelArn": STRANGER, "updateStatus": "UpdateFailed"}
    stubber.add_response("get_custom_model_deployment", deployment("Active", updateDetails=stale), IDENTIFIER)
    retagged = {
        "RequestType": "Update",
        "PhysicalResourceId": DEPLOYMENT,
        "ResourceProperties": DEPLOY_PROPS,
        "MadeInThisRequest": False,
        "StartedAt": NOW.isoformat(),
    }
    assert is_complete(retagged, deployments(client), now=NOW)["IsComplete"] is True
