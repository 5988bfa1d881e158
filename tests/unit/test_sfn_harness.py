"""The offline harness itself: what it stands in for and refuses, on small definitions moto runs."""

from __future__ import annotations

import datetime

import pytest
from sfn_harness.definition import stand_in_distributed_maps
from sfn_harness.responses import Return, Throw, aws_result, sdk_integration_result
from sfn_harness.runner import ScriptExhaustedError, run

DISTRIBUTED = {
    "StartAt": "Score every record",
    "States": {
        "Score every record": {
            "Type": "Map",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSONL"},
                "Parameters": {"Bucket": "b", "Key": "k"},
            },
            "ItemBatcher": {"MaxItemsPerBatch": 50},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Score",
                "States": {"Score": {"Type": "Pass", "End": True}},
            },
            "ResultPath": "$.scores",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_a_distributed_map_runs_as_a_stand_in_task_with_its_scripted_result():
    definition = stand_in_distributed_maps(DISTRIBUTED)

    execution = run(definition, {"run": "r"}, {"Score every record": [Return({"scored": 120})]})

    assert definition["States"]["Score every record"]["Type"] == "Task"
    assert (execution.status, execution.path) == ("SUCCEEDED", ["Score every record", "Done"])
    assert execution.output == {"run": "r", "scores": {"scored": 120}}


def test_a_state_visited_more_often_than_scripted_is_reported_with_the_path():
    definition = {
        "StartAt": "Publish",
        "States": {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"},
                "Retry": [{"ErrorEquals": ["SNS.ThrottledException"], "MaxAttempts": 1}],
                "End": True,
            }
        },
    }

    with pytest.raises(ScriptExhaustedError, match=r"Publish \(visit 2, 1 scripted\)"):
        run(definition, {}, {"Publish": [Throw("SNS.ThrottledException", "Rate exceeded")]})


def test_a_result_missing_a_member_botocore_requires_is_refused_unless_aws_is_known_to_omit_it():
    with pytest.raises(AssertionError, match="TrainingJobName"):
        aws_result("sagemaker", "DescribeTrainingJob", TrainingJobStatus="Completed")


def test_a_choice_on_a_missing_variable_fails_with_states_runtime_as_on_aws():
    definition = {
        "StartAt": "Which?",
        "States": {
            "Which?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.status", "StringEquals": "Done", "Next": "Done"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }

    missing = run(definition, {}, {})
    present = run(definition, {"status": "Running"}, {})

    assert (missing.status, missing.error) == ("FAILED", "States.Runtime")
    assert present.status == "SUCCEEDED"


def test_sdk_results_capitalize_member_names_but_not_map_keys():
    result = sdk_integration_result(
        "bedrock",
        "GetCustomModel",
        modelArn="arn:aws:bedrock:us-east-1:123456789012:custom-model/m",
        modelName="m",
        creationTime=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        hyperParameters={"epochCount": "2"},
    ).payload

    assert result["ModelArn"].endswith("custom-model/m")
    assert result["HyperParameters"] == {"epochCount": "2"}


def test_a_choice_comparing_with_a_missing_path_operand_fails_with_states_runtime():
    """moto already does what AWS does here (only the compared ``Variable`` needed the harness's patch)."""
    definition = {
        "StartAt": "Gate",
        "States": {
            "Gate": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.score", "NumericGreaterThanEqualsPath": "$.threshold", "Next": "Done"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }

    execution = run(definition, {"score": 3}, {})

    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
