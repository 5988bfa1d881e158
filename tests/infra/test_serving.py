"""Serving stack: the committed environments serve a base model on demand (nothing billed while idle) until a run is
approved; the pinned fixture buys a throughput for the approved model, never for the base model."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from constructs.served_model import ServedModel, ServedModelProps

PROFILE = "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.amazon.nova-lite-v1:0"
BILLING_TYPES = ("AWS::Bedrock", "AWS::SageMaker::Endpoint", "AWS::SageMaker::Cluster")


@pytest.fixture
def serving(fixture_envs):
    return fixture_envs["pinned"].template("pinned", "Serving")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_committed_environment_serves_with_nothing_billed_while_idle(committed, env):
    """The base model on demand until a run is approved; then an on-demand custom model deployment (per use)."""
    template = committed.template(env, "Serving")
    [served] = template.find_resources("Custom::BedrockServedModel").values()
    props = served["Properties"]
    assert props["Kind"] == "CustomModelDeployment"  # what an approved model gets: billed per use
    assert props["BaseInvokeArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":bedrock:",
                {"Ref": "AWS::Region"},
                "::foundation-model/amazon.nova-lite-v1:0",
            ],
        ]
    }
    assert "ModelUnits" not in props and "CommitmentDuration" not in props
    assert not template.find_resources("AWS::Scheduler::Schedule")  # no throughput to expire
    types = {resource["Type"] for resource in template.to_json()["Resources"].values()}
    assert not [t for t in types if t.startswith(BILLING_TYPES)]
    [source] = template.find_resources("Custom::ApprovedModel").values()
    # An approved full-rank model is refused for on-demand serving at deploy time, with its run named.
    assert source["Properties"]["OnDemandTechniques"] == ["distillation", "dpo_lora", "sft_lora"]


def test_throughput_serves_the_approved_model_with_the_base_model_as_fallback(serving):
    [(source_id, source)] = serving.find_resources("Custom::ApprovedModel").items()
    assert (
        source["Properties"]["FallbackModelArn"] == "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"
    )
    assert "OnDemandTechniques" not in source["Properties"]  # a throughput serves any custom model
    assert source["Properties"]["IndexName"] == "approved-models"
    assert source["Properties"]["Approval"] == "APPROVED"
    assert source["Properties"]["Generation"] == "1"
    assert "Fn::ImportValue" in json.dumps(source["Properties"]["TableName"]) or "Fn::GetStackOutput" in json.dumps(
        source["Properties"]["TableName"]
    ), "the table is the Workflow stack's lineage table"
    serving.has_resource_properties(
        "Custom::BedrockServedModel",
        {
            "Kind": "ProvisionedThroughput",
            "ModelId": {"Fn::GetAtt": [source_id, "ModelArn"]},
            # While the fallback is served: the base model through its EU profile, nothing bought.
            "BaseInvokeArn": PROFILE,
            "NamePrefix": "pinned-serving",
            "ModelUnits": 1,
            "CommitmentDuration": "None",
        },
    )


def test_cloudformation_hears_back_within_its_hour(serving):
    """The Provider gives up (50 minutes) before CloudFormation stops listening (ServiceTimeout 3600 s, its
    maximum), so the failure it reports carries the throughput's ARN and a rollback can delete it."""
    [served] = serving.find_resources("Custom::BedrockServedModel").values()
    assert served["Properties"]["ServiceTimeout"] == "3600"
    [waiter] = serving.find_resources("AWS::StepFunctions::StateMachine").values()
    definition = json.dumps(waiter["Properties"]["DefinitionString"]).replace("\\", "")
    assert '"IntervalSeconds":60,"MaxAttempts":50' in definition  # polled each minute for 50 minutes


def test_a_committed_throughput_is_kept_when_the_stack_goes():
    """Bedrock refuses to delete a committed throughput during its term: deleting it with the stack would fail."""
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    custom = "arn:aws:bedrock:us-east-1:111111111111:custom-model/amazon.nova-lite-v1:0:300k/abcdefghij12"
    _throughput(stack, model_arn=custom, mode="provisioned-throughput", commitment_duration="OneMonth")
    [served] = Template.from_stack(stack).find_resources("Custom::BedrockServedModel").values()
    assert (served["DeletionPolicy"], served["UpdateReplacePolicy"]) == ("Retain", "Retain")
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    _throughput(stack, model_arn=custom, mode="provisioned-throughput")
    [served] = Template.from_stack(stack).find_resources("Custom::BedrockServedModel").values()
    assert served["DeletionPolicy"] == "Delete"


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


def statements_of(template: Template, logical_id_start: str) -> list[dict]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith(logical_id_start)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_handlers_make_and_change_only_throughputs_and_only_for_the_served_model(serving):
    on_event = statements_of(serving, "ModelOnEvent")
    [change] = [s for s in on_event if "bedrock:CreateProvisionedModelThroughput" in s["Action"]]
    assert change["Action"] == ["bedrock:CreateProvisionedModelThroughput", "bedrock:UpdateProvisionedModelThroughput"]
    assert len(change["Resource"]) == 3
    assert "arn:aws:bedrock:eu-west-1:111111111111:provisioned-model/*" in change["Resource"]
    # Authorized on the custom model and on the foundation model it was customized from (Service Authorization
    # Reference): without the latter the first throughput fails with AccessDenied.
    assert "arn:aws:bedrock:eu-west-1::foundation-model/*" in change["Resource"]
    [model] = [r for r in change["Resource"] if isinstance(r, dict)]
    assert model["Fn::GetAtt"][1] == "ModelArn"  # the approved (or fallback) model only
    # Tag changes apply in place (aws-cdk-lib merges them into the throughput-only statement).
    [manage] = [s for s in on_event if "bedrock:TagResource" in s["Action"] and s["Effect"] == "Allow"]
    assert {"bedrock:TagResource", "bedrock:UntagResource"} <= set(manage["Action"])
    assert manage["Resource"] == "arn:aws:bedrock:eu-west-1:111111111111:provisioned-model/*"
    # Bedrock takes a grant on the platform key for an encrypted custom model's throughput.
    assert any("kms:CreateGrant" in json.dumps(s["Action"]) for s in on_event)
    # Either kind is read and deleted (after a change of mode the old one goes), by both handlers.
    for handler in ("ModelOnEvent", "ModelIsComplete"):
        granted = {
            (action, json.dumps(s["Resource"]))
            for s in statements_of(serving, handler)
            for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        for action, kind in (
            ("bedrock:DeleteProvisionedModelThroughput", "provisioned-model"),
            ("bedrock:DeleteCustomModelDeployment", "custom-model-deployment"),
        ):
            assert any(a == action and f":{kind}/*" in r for a, r in granted), (handler, action)
        # ...but only what carries this environment's tag: another environment's in a shared account is refused.
        [deny] = [
            s
            for s in statements_of(serving, handler)
            if s["Effect"] == "Deny" and "bedrock:DeleteProvisionedModelThroughput" in s["Action"]
        ]
        assert {"bedrock:DeleteProvisionedModelThroughput", "bedrock:DeleteCustomModelDeployment"} <= set(
            deny["Action"]
        )
        assert deny["Condition"] == {"StringNotEquals": {"aws:ResourceTag/environment": "pinned"}}
        # Nor may it take another environment's over: re-tag it as its own, or point it at another model.
        [retag] = [
            s
            for s in statements_of(serving, handler)
            if s["Effect"] == "Deny" and "bedrock:UpdateProvisionedModelThroughput" in s["Action"]
        ]
        assert {"bedrock:TagResource", "bedrock:UntagResource"} <= set(retag["Action"])
        assert retag["Condition"] == {
            "StringNotEquals": {"aws:ResourceTag/environment": "pinned"},
            "Null": {"aws:ResourceTag/environment": "false"},
        }


def _throughput(stack: cdk.Stack, **overrides) -> ServedModel:
    key = kms.Key(stack, "Key")
    props = {
        "model_arn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
        "base_model_id": "amazon.nova-lite-v1:0",
        "name_prefix": "probe",
        "model_key": key,
        "log_key": key,
        "log_retention": logs.RetentionDays.ONE_MONTH,
        **overrides,
    }
    return ServedModel(stack, "Model", ServedModelProps(**props))


def invoke_statement(template: Template) -> dict:
    [statement] = [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    ]
    return statement


def test_grant_invoke_covers_what_is_served_its_model_and_the_base_model():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    role = iam.Role(stack, "Agent", assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"))
    _throughput(stack).grant_invoke(role)
    template = Template.from_stack(stack)
    resources = json.dumps(invoke_statement(template)["Resource"])
    assert '"InvokeArn"' in resources  # what is served
    assert resources.count(":bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0") == 2  # model, base model
    rendered = json.dumps(template.to_json())
    assert '"kms:Decrypt"' in rendered and "bedrock.us-east-1.amazonaws.com" in rendered  # an encrypted custom model


def test_grant_invoke_through_a_profile_covers_the_model_in_every_region_it_routes_to():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    role = iam.Role(stack, "Agent", assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"))
    _throughput(stack, inference_profile_prefix="us.").grant_invoke(role)
    resources = json.dumps(invoke_statement(Template.from_stack(stack))["Resource"])
    assert ":bedrock:us-east-1:111111111111:inference-profile/us.amazon.nova-lite-v1:0" in resources
    assert ":bedrock:*::foundation-model/amazon.nova-lite-v1:0" in resources


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


def test_on_demand_mode_creates_a_custom_model_deployment_for_a_custom_model():
    stack = cdk.Stack(cdk.App(), "Probe", env=cdk.Environment(account="111111111111", region="us-east-1"))
    custom = "arn:aws:bedrock:us-east-1:111111111111:custom-model/amazon.nova-lite-v1:0:300k/abcdefghij12"
    _throughput(stack, mode="on-demand", model_arn=custom)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::BedrockServedModel", {"Kind": "CustomModelDeployment", "ModelId": custom, "NamePrefix": "probe"}
    )
    [change] = [
        s for s in statements_of(template, "ModelOnEvent") if "bedrock:CreateCustomModelDeployment" in s["Action"]
    ]
    assert custom in change["Resource"]
    assert ":bedrock:us-east-1:111111111111:custom-model-deployment/*" in json.dumps(change["Resource"])


def test_dev_expiry_deletes_the_throughput_at_the_time_the_handler_reports(serving):
    [schedule] = serving.find_resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"]["Fn::Join"][1][0] == "at("
    assert props["ScheduleExpression"]["Fn::Join"][1][1]["Fn::GetAtt"][1] == "ExpiresAt"
    assert props["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:bedrock:deleteProvisionedModelThroughput"
    assert "ProvisionedModelId" in json.dumps(props["Target"]["Input"])
    serving.has_resource_properties("Custom::BedrockServedModel", {"ExpireAfterHours": 8})
