"""After a failure: clean_up stops and deletes what a run started, tolerating what is already gone."""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "customization-steps")

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from customization_steps import steps
from lambda_context import LambdaContext

from customization.contract import ResourceBusyError, ServiceThrottledError

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-lite-v1:0:300k/abcdefghij12"
DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/r1eval000001"
MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model/imported/r1model00001"


@pytest.fixture
def clients():
    sagemaker, bedrock = boto3.client("sagemaker", **KEYS), boto3.client("bedrock", **KEYS)
    with Stubber(sagemaker) as sagemaker_stub, Stubber(bedrock) as bedrock_stub:
        yield sagemaker, bedrock, sagemaker_stub, bedrock_stub
        # Every queued answer was used; an unqueued call would have raised UnStubbedResponseError.
        sagemaker_stub.assert_no_pending_responses()
        bedrock_stub.assert_no_pending_responses()


def sagemaker_run(**extra: Any) -> dict[str, Any]:
    return {
        "prepared": {"sagemaker": {"job_name": "r1-train"}},
        "evaluation_deployment": {"arn": DEPLOYMENT},
        "imported": {"model_arn": MODEL},
        **extra,
    }


def expect_describe_training(stub: Stubber, status: str = "InProgress", error: str | None = None) -> None:
    """The clean-up looks the job up first: StopTrainingJob on a job never created is refused by IAM (no tag)."""
    if error:
        stub.add_client_error(
            "describe_training_job", error, "no", 400, expected_params={"TrainingJobName": "r1-train"}
        )
        return
    job = {
        "TrainingJobName": "r1-train",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/r1-train",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://acme-artifacts/runs/r1/output/"},
        "TrainingJobStatus": status,
        "SecondaryStatus": "Training" if status == "InProgress" else status,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": "2026-11-30T12:00:00Z",
    }
    stub.add_response("describe_training_job", job, {"TrainingJobName": "r1-train"})


def expect_stop_training(stub: Stubber, error: str | None = None) -> None:
    expect_describe_training(stub)
    if error:
        stub.add_client_error("stop_training_job", error, "no", 400, expected_params={"TrainingJobName": "r1-train"})
    else:
        stub.add_response("stop_training_job", {}, {"TrainingJobName": "r1-train"})


def expect_bedrock(stub: Stubber, operation: str, params: dict[str, str], error: str | None = None) -> None:
    if error:
        stub.add_client_error(operation, error, "no", 400, expected_params=params)
    else:
        stub.add_response(operation, {}, params)


def expect_delete_deployment(stub: Stubber, error: str | None = None) -> None:
    expect_bedrock(stub, "delete_custom_model_deployment", {"customModelDeploymentIdentifier": DEPLOYMENT}, error)


def expect_delete_model(stub: Stubber, error: str | None = None) -> None:
    expect_bedrock(stub, "delete_custom_model", {"modelIdentifier": MODEL}, error)


def test_a_sagemaker_run_stops_the_job_and_deletes_the_deployment_and_the_model(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_deployment(bedrock_stub)
    expect_delete_model(bedrock_stub)

    done = steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)

    assert done == ["stop training job", "delete evaluation deployment", "delete custom model"]


def test_a_bedrock_run_stops_the_customization_job(clients):
    sagemaker, bedrock, _, bedrock_stub = clients
    expect_bedrock(bedrock_stub, "stop_model_customization_job", {"jobIdentifier": JOB_ARN})

    done = steps.clean_up(
        {"prepared": {"bedrock": {"job_arn": JOB_ARN, "job_name": "r1-customize"}}},
        sagemaker=sagemaker,
        bedrock=bedrock,
    )

    assert done == ["stop customization job"]


@pytest.mark.parametrize(
    "state",
    [{}, {"prepared": None, "evaluation_deployment": None, "imported": None}, {"prepared": {"run_name": "r1"}}],
)
def test_a_run_that_started_nothing_has_nothing_to_clean_up(clients, state):
    sagemaker, bedrock, _, _ = clients

    assert steps.clean_up(state, sagemaker=sagemaker, bedrock=bedrock) == []


def test_a_model_kept_on_purpose_is_not_deleted(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_deployment(bedrock_stub)

    done = steps.clean_up(sagemaker_run(kept={"model_arn": MODEL}), sagemaker=sagemaker, bedrock=bedrock)

    assert done == ["stop training job", "delete evaluation deployment"]


@pytest.mark.parametrize(
    "code",
    [
        "ValidationException",  # the job already completed, failed or stopped
        "ResourceNotFound",  # the job was never created (CreateTrainingJob itself failed)
    ],
)
def test_a_training_job_that_is_not_running_is_tolerated(clients, code):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub, code)
    expect_delete_deployment(bedrock_stub)
    expect_delete_model(bedrock_stub)

    done = steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)

    assert done == ["delete evaluation deployment", "delete custom model"]


@pytest.mark.parametrize("code", ["ValidationException", "ResourceNotFoundException"])
def test_a_customization_job_already_finished_or_gone_is_tolerated(clients, code):
    sagemaker, bedrock, _, bedrock_stub = clients
    expect_bedrock(bedrock_stub, "stop_model_customization_job", {"jobIdentifier": JOB_ARN}, code)

    done = steps.clean_up({"prepared": {"bedrock": {"job_arn": JOB_ARN}}}, sagemaker=sagemaker, bedrock=bedrock)

    assert done == []


def test_a_deployment_and_a_model_already_deleted_are_tolerated(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_deployment(bedrock_stub, "ResourceNotFoundException")
    expect_delete_model(bedrock_stub, "ResourceNotFoundException")

    done = steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)

    assert done == ["stop training job"]


@pytest.mark.parametrize(
    ("code", "raised_as"), [("ThrottlingException", ServiceThrottledError), ("AccessDeniedException", ClientError)]
)
def test_other_training_job_errors_propagate_once_the_rest_was_tried(clients, code, raised_as):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub, code)
    expect_delete_deployment(bedrock_stub)
    expect_delete_model(bedrock_stub)

    with pytest.raises(raised_as, match=code):
        steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)


def test_a_model_still_in_use_is_an_error_not_a_silent_skip(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_deployment(bedrock_stub)
    expect_delete_model(bedrock_stub, "ConflictException")

    # Busy, not gone: the state machine tries the clean-up again minutes later.
    with pytest.raises(ResourceBusyError, match="delete custom model"):
        steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)


EVALUATION_THROUGHPUT = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/r1evalpt0001"
SERVING_THROUGHPUT = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/r1servept001"


def expect_delete_throughput(stub: Stubber, arn: str, error: str | None = None) -> None:
    expect_bedrock(stub, "delete_provisioned_model_throughput", {"provisionedModelId": arn}, error)


def test_the_runs_throughputs_go_before_its_model(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_throughput(bedrock_stub, EVALUATION_THROUGHPUT)
    expect_delete_throughput(bedrock_stub, SERVING_THROUGHPUT)
    expect_delete_model(bedrock_stub)
    state = sagemaker_run(
        evaluation_deployment=None,
        evaluation_throughput={"arn": EVALUATION_THROUGHPUT},
        serving={"arn": SERVING_THROUGHPUT},
    )

    done = steps.clean_up(state, sagemaker=sagemaker, bedrock=bedrock)

    assert done == [
        "stop training job",
        "delete evaluation throughput",
        "delete serving throughput",
        "delete custom model",
    ]


def test_a_throughput_still_creating_is_busy_and_tried_again(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_throughput(bedrock_stub, EVALUATION_THROUGHPUT, "ConflictException")
    expect_delete_model(bedrock_stub, "ConflictException")  # still in use by the throughput

    # Every deletion is tried; the busy ones are named together, for the state machine to retry.
    with pytest.raises(ResourceBusyError) as raised:
        steps.clean_up(
            sagemaker_run(evaluation_deployment=None, evaluation_throughput={"arn": EVALUATION_THROUGHPUT}),
            sagemaker=sagemaker,
            bedrock=bedrock,
        )
    assert str(raised.value).startswith(
        "delete evaluation throughput: ConflictException: no; delete custom model: ConflictException: no"
    )


def test_a_busy_throughput_does_not_keep_the_deployment_from_going(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_throughput(bedrock_stub, SERVING_THROUGHPUT, "ConflictException")
    expect_delete_deployment(bedrock_stub)

    with pytest.raises(ResourceBusyError, match="delete serving throughput"):
        steps.clean_up(
            sagemaker_run(serving={"arn": SERVING_THROUGHPUT}, kept={"model_arn": MODEL}),
            sagemaker=sagemaker,
            bedrock=bedrock,
        )


def test_an_on_demand_serving_deployment_is_not_taken_for_a_throughput(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_deployment(bedrock_stub)
    expect_delete_model(bedrock_stub)

    done = steps.clean_up(sagemaker_run(serving={"arn": DEPLOYMENT}), sagemaker=sagemaker, bedrock=bedrock)

    assert "delete serving throughput" not in done


def test_a_deployment_error_other_than_not_found_propagates(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    expect_delete_deployment(bedrock_stub, "ValidationException")
    expect_delete_model(bedrock_stub)

    with pytest.raises(ClientError, match="ValidationException"):
        steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)


def test_the_clean_up_handler_reports_what_it_did(clients, monkeypatch):
    sagemaker, bedrock, _, bedrock_stub = clients
    monkeypatch.setattr(steps, "client", {"sagemaker": sagemaker, "bedrock": bedrock}.__getitem__)
    expect_bedrock(bedrock_stub, "stop_model_customization_job", {"jobIdentifier": JOB_ARN})

    result = steps.clean_up_run({"prepared": {"bedrock": {"job_arn": JOB_ARN}}}, LambdaContext())

    assert result == {"cleaned_up": ["stop customization job"]}


IMPORTED = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcd1234efgh"


def test_a_failed_open_weight_import_deletes_the_imported_model_not_a_custom_model(clients):
    sagemaker, bedrock, _, bedrock_stub = clients
    expect_bedrock(bedrock_stub, "delete_imported_model", {"modelIdentifier": IMPORTED})

    done = steps.clean_up(
        {
            "prepared": {"import": {"job_name": "r1-import", "model_name": "r1-model"}},
            "imported": {"model_arn": IMPORTED},
        },
        sagemaker=sagemaker,
        bedrock=bedrock,
    )

    assert done == ["delete imported model"]


def test_an_imported_model_already_gone_is_tolerated_and_other_errors_propagate(clients):
    sagemaker, bedrock, _, bedrock_stub = clients
    state = {
        "prepared": {"import": {"job_name": "r1-import", "model_name": "r1-model"}},
        "imported": {"model_arn": IMPORTED},
    }
    expect_bedrock(bedrock_stub, "delete_imported_model", {"modelIdentifier": IMPORTED}, "ResourceNotFoundException")
    expect_bedrock(bedrock_stub, "delete_imported_model", {"modelIdentifier": IMPORTED}, "AccessDeniedException")

    assert steps.clean_up(state, sagemaker=sagemaker, bedrock=bedrock) == []
    with pytest.raises(ClientError, match="AccessDenied"):
        steps.clean_up(state, sagemaker=sagemaker, bedrock=bedrock)


def test_an_import_that_failed_before_its_arn_was_read_deletes_the_model_by_its_name(clients):
    sagemaker, bedrock, _, bedrock_stub = clients
    expect_bedrock(bedrock_stub, "get_imported_model", {"modelIdentifier": "r1-model"})
    expect_bedrock(bedrock_stub, "delete_imported_model", {"modelIdentifier": "r1-model"})

    done = steps.clean_up(
        {"prepared": {"import": {"job_name": "r1-import", "model_name": "r1-model"}}},
        sagemaker=sagemaker,
        bedrock=bedrock,
    )

    assert done == ["delete imported model"]


def test_a_refused_deletion_does_not_keep_the_others_from_being_tried(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub, "AccessDeniedException")
    expect_delete_throughput(bedrock_stub, SERVING_THROUGHPUT)
    expect_delete_deployment(bedrock_stub)
    expect_delete_model(bedrock_stub)

    # Every action was tried (no pending stub answers), then the refused one is raised as itself.
    with pytest.raises(ClientError, match="AccessDeniedException"):
        steps.clean_up(sagemaker_run(serving={"arn": SERVING_THROUGHPUT}), sagemaker=sagemaker, bedrock=bedrock)


def test_a_5xx_is_tried_again_as_throttling(clients):
    sagemaker, bedrock, sagemaker_stub, bedrock_stub = clients
    expect_stop_training(sagemaker_stub)
    bedrock_stub.add_client_error(
        "delete_custom_model_deployment",
        "InternalServerException",
        "oops",
        500,
        expected_params={"customModelDeploymentIdentifier": DEPLOYMENT},
    )
    expect_delete_model(bedrock_stub)

    with pytest.raises(ServiceThrottledError, match="delete evaluation deployment: InternalServerException"):
        steps.clean_up(sagemaker_run(), sagemaker=sagemaker, bedrock=bedrock)


def test_a_model_an_import_never_made_is_looked_up_not_deleted(clients):
    """Delete is allowed only on what carries the environment's tag: on a model that does not exist IAM would refuse
    it (AccessDenied) and the run's record would show that, not the import's failure."""
    sagemaker, bedrock, _, bedrock_stub = clients
    expect_bedrock(bedrock_stub, "get_imported_model", {"modelIdentifier": "r1-model"}, "ResourceNotFoundException")

    done = steps.clean_up(
        {"prepared": {"import": {"job_name": "r1-import", "model_name": "r1-model"}}},
        sagemaker=sagemaker,
        bedrock=bedrock,
    )

    assert done == []


@pytest.mark.parametrize(
    ("describe", "status"),
    [
        ("ValidationException", None),  # CreateTrainingJob itself failed: no job
        (None, "Failed"),  # it ended on its own
        (None, "Completed"),
    ],
)
def test_a_training_job_never_created_or_already_ended_is_not_stopped(clients, describe, status):
    sagemaker, bedrock, sagemaker_stub, _ = clients
    expect_describe_training(sagemaker_stub, status or "InProgress", describe)

    assert (
        steps.clean_up({"prepared": {"sagemaker": {"job_name": "r1-train"}}}, sagemaker=sagemaker, bedrock=bedrock)
        == []
    )
