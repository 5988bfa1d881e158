"""Serving stack (pinned test fixture): provisioned throughput as an asynchronous custom resource."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from constructs.served_model import ServedModel, ServedModelProps


@pytest.fixture
def serving(fixture_envs):
    return fixture_envs["pinned"].template("pinned", "Serving")


def test_throughput_serves_the_approved_model_with_the_base_model_as_fallback(serving):
    [(source_id, source)] = serving.find_resources("Custom::ApprovedModel").items()
    assert (
        source["Properties"]["FallbackModelArn"] == "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"
    )
    assert source["Properties"]["IndexName"] == "approved-models"
    assert source["Properties"]["Approval"] == "APPROVED"
    assert source["Properties"]["Generation"] == "1"
    assert "Fn::ImportValue" in json.dumps(source["Properties"]["TableName"]) or "Fn::GetStackOutput" in json.dumps(
        source["Properties"]["TableName"]
    ), "the table is the Workflow stack's lineage table"
    serving.has_resource_properties(
        "Custom::BedrockProvisionedThroughput",
        {
            "ModelId": {"Fn::GetAtt": [source_id, "ModelArn"]},
            "ProvisionedModelName": "pinned-serving",
            "ModelUnits": 1,
            "CommitmentDuration": "None",
        },
    )


def test_the_approved_model_reader_may_only_query_the_approved_index(serving):
    statements = [
        statement
        for policy in serving.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:" in json.dumps(statement["Action"])
    ]
    [query] = statements
    assert query["Action"] == "dynamodb:Query"
    assert query["Resource"]["Fn::Join"][1][-1] == "/index/approved-models"


def test_creation_completes_by_polling_not_sleeping(serving):
    handlers = serving.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp("^bedrock_serving")}}
    )
    assert sorted(h["Properties"]["Handler"] for h in handlers.values()) == [
        "bedrock_serving.handler.handle_event",
        "bedrock_serving.handler.handle_is_complete",
    ]
    assert all(h["Properties"]["Timeout"] <= 120 for h in handlers.values())
    serving.resource_count_is("AWS::StepFunctions::StateMachine", 1)  # the provider's waiter


def test_handlers_manage_only_provisioned_models_and_create_only_for_the_model(serving):
    serving.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["bedrock:CreateProvisionedModelThroughput", "bedrock:TagResource"],
                                "Resource": Match.array_equals(
                                    [
                                        "arn:aws:bedrock:eu-west-1:111111111111:provisioned-model/*",
                                        {"Fn::GetAtt": [Match.string_like_regexp("^ApprovedModel"), "ModelArn"]},
                                    ]
                                ),
                            }
                        )
                    ]
                )
            }
        },
    )


def _throughput(stack: cdk.Stack, **overrides) -> ServedModel:
    props = {
        "model_arn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
        "name": "probe",
        "model_units": 1,
        "commitment_duration": "None",
        "log_key": kms.Key(stack, "Key"),
        "log_retention": logs.RetentionDays.ONE_MONTH,
        **overrides,
    }
    return ServedModel(stack, "Model", ServedModelProps(**props))


def test_grant_invoke_covers_the_throughput_and_its_model():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    role = iam.Role(stack, "Agent", assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"))
    _throughput(stack).grant_invoke(role)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                            "Resource": [
                                {"Fn::GetAtt": [Match.string_like_regexp("^Model"), "ProvisionedModelArn"]},
                                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
                            ],
                        }
                    )
                ]
            }
        },
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_units": 0}, "model_units 0; allowed: 1 or more"),
        ({"commitment_duration": "OneYear"}, "commitment_duration 'OneYear'; allowed: None, OneMonth, SixMonths"),
        ({"mode": "batch"}, "mode 'batch'; allowed: provisioned-throughput, on-demand"),
    ],
)
def test_construct_rejects_bad_props(overrides, message):
    with pytest.raises(ValueError, match=message):
        _throughput(cdk.Stack(cdk.App(), "Probe"), **overrides)


def test_on_demand_mode_creates_a_custom_model_deployment_and_grants_invoke_on_it():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    custom = "arn:aws:bedrock:us-east-1:111111111111:custom-model/amazon.nova-lite-v1:0:300k/abcdefghij12"
    role = iam.Role(stack, "Agent", assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"))
    _throughput(stack, mode="on-demand", model_arn=custom).grant_invoke(role)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::BedrockCustomModelDeployment",
        {"Kind": "CustomModelDeployment", "ModelId": custom, "DeploymentName": "probe"},
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["bedrock:CreateCustomModelDeployment", "bedrock:TagResource"],
                                "Resource": Match.array_with([custom]),
                            }
                        )
                    ]
                )
            }
        },
    )
    rendered = json.dumps(template.to_json())
    assert ":custom-model-deployment/*" in rendered and "DeploymentArn" in rendered


def test_dev_expiry_deletes_the_throughput_at_the_time_the_handler_reports(serving):
    [schedule] = serving.find_resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"]["Fn::Join"][1][0] == "at("
    assert props["ScheduleExpression"]["Fn::Join"][1][1]["Fn::GetAtt"][1] == "ExpiresAt"
    assert props["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:bedrock:deleteProvisionedModelThroughput"
    assert "ProvisionedModelId" in json.dumps(props["Target"]["Input"])
    serving.has_resource_properties("Custom::BedrockProvisionedThroughput", {"ExpireAfterHours": 8})
