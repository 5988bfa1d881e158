"""The customization workflow's state machine, as synthesized: paths, API calls, gate, failure handling, security."""

from __future__ import annotations

import importlib
import json
from collections import deque

import botocore.loaders
import pytest
from aws_cdk.assertions import Match

from config.loader import load_environments
from customization.nova import PLATFORMS, TRAINING_TECHNIQUES

ENVIRONMENTS = {env.name: env for env in load_environments()}
# Optimized integrations -> (botocore service, operation); aws-sdk integrations are read from the resource.
OPTIMIZED = {
    "sagemaker:createTrainingJob.sync": ("sagemaker", "CreateTrainingJob"),
    "dynamodb:updateItem": ("dynamodb", "UpdateItem"),
    "sns:publish": ("sns", "Publish"),
    "lambda:invoke": ("lambda", "Invoke"),
}
LOADER = botocore.loaders.create_loader()


def definition(template) -> dict:
    """The state machine's ASL, with CloudFormation references replaced by a placeholder string."""
    [machine] = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))


@pytest.fixture(scope="module")
def workflow(committed):
    return {name: committed.template(name, "Workflow") for name in ENVIRONMENTS}


@pytest.fixture(scope="module")
def asl(workflow) -> dict:
    return definition(workflow["dev"])


@pytest.fixture(scope="module")
def hyperpod_asl(workflow) -> dict:
    """prod's definition: its cluster has a restricted instance group, so HyperPod is wired."""
    return definition(workflow["prod"])


@pytest.fixture(scope="module", params=["dev", "prod"])
def any_asl(request, asl, hyperpod_asl) -> dict:
    return asl if request.param == "dev" else hyperpod_asl


def successors(state: dict) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return [name for name in found if name]


def reachable(asl: dict, start: str) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        for name in successors(asl["States"][queue.popleft()]):
            if name not in seen:
                seen.add(name)
                queue.append(name)
    return seen


def choose(state: dict, value: str) -> str:
    """The branch a Choice on one string variable takes."""
    for choice in state["Choices"]:
        if choice.get("StringEquals") == value:
            return str(choice["Next"])
    return str(state["Default"])


def test_every_state_is_reachable_from_validate(any_asl):
    assert any_asl["StartAt"] == "Validate"
    assert reachable(any_asl, "Validate") == set(any_asl["States"])


@pytest.mark.parametrize(
    ("technique", "platform"),
    [(t, p) for t in TRAINING_TECHNIQUES for p in PLATFORMS[t]],
)
def test_each_technique_and_platform_reaches_training_then_the_gate_and_success(hyperpod_asl, technique, platform):
    branch = choose(hyperpod_asl["States"]["Where to train?"], platform)
    expected = {
        "sagemaker-training-job": "Train on SageMaker",
        "bedrock": "Customization: start waiting",
        "hyperpod": "Submit HyperPod job",
    }
    assert branch == expected[platform]
    onward = reachable(hyperpod_asl, branch)
    assert {"Score records", "Report evaluation", "Quality gate", "Record lineage", "Customized"} <= onward


def test_a_hyperpod_job_is_released_before_its_checkpoint_is_imported(hyperpod_asl):
    states = hyperpod_asl["States"]
    status = states["HyperPod job: status?"]
    [done] = [c["Next"] for c in status["Choices"] if c.get("StringEquals") == "Succeeded"]
    [failed] = [c["Next"] for c in status["Choices"] if c.get("StringEquals") == "Failed"]
    assert done == "Release HyperPod job"
    assert states["Release HyperPod job"]["Next"] == "Locate HyperPod checkpoint"
    assert states["Locate HyperPod checkpoint"]["Next"] == "Import into Bedrock"
    assert states["Locate HyperPod checkpoint"]["Parameters"] == {"manifest_uri.$": "$.prepared.hyperpod.manifest_uri"}
    assert reachable(hyperpod_asl, failed) >= {"Remove HyperPod job", "Clean up", "Failed"}
    assert states[failed]["Parameters"]["Cause.$"] == (
        "States.Format('A PyTorchJob of the run failed: {}', $.hyperpod_job.detail)"
    )
    assert states["Submit HyperPod job"]["Parameters"] == {
        "action": "submit",
        "hyperpod.$": "$.prepared.hyperpod",
    }


def test_every_failure_removes_a_started_hyperpod_job_first(hyperpod_asl):
    states = hyperpod_asl["States"]
    # The failure path itself, and Record lineage, which runs once the model serves (its failure is notified only).
    failure_path = {"Remove HyperPod job", "Clean up", "Record failure", "Record lineage"}
    targets = {
        name: catch["Next"]
        for name, state in states.items()
        for catch in state.get("Catch", [])
        if catch["ErrorEquals"] == ["States.ALL"] and name not in failure_path
    }
    # Validate and the dataset check fail before anything is claimed or started.
    assert targets.pop("Validate") == "Notify validation failure"
    assert targets.pop("Check evaluation dataset") == "Notify validation failure"
    assert len(targets) >= 15
    assert set(targets.values()) == {"HyperPod job to remove?"}, targets
    started = states["HyperPod job to remove?"]
    assert started["Choices"] == [{"Variable": "$.prepared.hyperpod", "IsPresent": True, "Next": "Remove HyperPod job"}]
    assert started["Default"] == "Clean up"
    remove = states["Remove HyperPod job"]
    assert remove["Next"] == "Clean up" and remove["Catch"][0]["Next"] == "Clean up"
    assert remove["Parameters"]["action"] == "remove"


def test_a_platform_not_wired_here_fails_at_once(asl):
    branch = choose(asl["States"]["Where to train?"], "hyperpod")
    assert asl["States"][branch]["Type"] == "Fail"


def test_past_the_gate_a_customized_model_is_left_to_the_serving_stack(asl):
    """The run deletes what it made to evaluate and buys nothing: the Serving stack is the one owner of serving."""
    deploy = asl["States"]["Deploy how?"]
    customized = choose(deploy, "sft_lora")  # any technique but import
    assert customized == "Evaluated on what?"
    after = reachable(asl, customized)
    assert {"Remove evaluation deployment", "Remove evaluation throughput", "Record lineage"} <= after
    bought = [
        name
        for name in after
        if asl["States"][name]
        .get("Resource", "")
        .endswith(("createProvisionedModelThroughput", "createCustomModelDeployment"))
    ]
    assert bought == []
    assert "Record lineage" in reachable(asl, choose(deploy, "import"))


def _shape_problems(service: str, shape_name: str, value: object, where: str) -> list[str]:
    shapes = LOADER.load_service_model(service, "service-2")["shapes"]
    shape = shapes[shape_name]
    if shape["type"] == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape["members"]}
        problems = []
        for key, item in value.items():
            name = key.removesuffix(".$")
            if name.lower() not in members:
                problems.append(f"{where}.{name} is not a member of {shape_name}")
            elif not key.endswith(".$"):
                member_shape = shape["members"][members[name.lower()]]["shape"]
                problems += _shape_problems(service, member_shape, item, f"{where}.{name}")
        return problems
    if shape["type"] == "list" and isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in _shape_problems(service, shape["member"]["shape"], item, f"{where}[{i}]")
        ]
    return []


def api_of(resource: str) -> tuple[str, str]:
    if ":::" not in resource:
        return "lambda", "Invoke"  # a function ARN: Step Functions invokes it with the state as payload
    integration = resource.split(":::", 1)[1]
    if integration.startswith("aws-sdk:"):
        _, service, action = integration.split(":")
        return service, action[0].upper() + action[1:]
    return OPTIMIZED[integration]


def test_every_task_calls_an_operation_with_parameter_names_from_botocore(any_asl):
    tasks = {name: state for name, state in any_asl["States"].items() if state["Type"] == "Task"}
    assert len(tasks) >= 15
    problems = []
    for name, state in tasks.items():
        service, operation = api_of(state["Resource"])
        model = LOADER.load_service_model(service, "service-2")
        if operation not in model["operations"]:
            problems.append(f"{name}: {service} has no operation {operation}")
            continue
        parameters = state.get("Parameters", {})
        if service == "lambda":
            continue  # the parameters are the function's payload, checked by its own tests
        input_shape = model["operations"][operation]["input"]["shape"]
        problems += [f"{name}: {p}" for p in _shape_problems(service, input_shape, parameters, operation)]
    assert problems == []


def test_the_api_check_catches_a_wrong_parameter_name():
    assert _shape_problems("bedrock", "GetCustomModelRequest", {"ModelIdentifer.$": "$.x"}, "GetCustomModel") == [
        "GetCustomModel.ModelIdentifer is not a member of GetCustomModelRequest"
    ]


def test_every_task_retries_transient_errors_and_catches_the_rest(any_asl):
    for name, state in any_asl["States"].items():
        if state["Type"] != "Task":
            continue
        retried = {error for retry in state.get("Retry", []) for error in retry["ErrorEquals"]}
        if name == "Train on SageMaker":
            # Its integration has one error name for everything; a retry would replace the job's own reason.
            assert not retried
            continue
        assert retried, f"{name} has no Retry"
        assert all(retry.get("BackoffRate", 1) > 1 for retry in state["Retry"]), f"{name} retries without back-off"
        if name in (
            "Clean up",
            "Record failure",
            "Notify failure",
            "Record lineage",
            "Notify success",
            "Notify rejected",
            "Notify validation failure",
            "Notify lineage not recorded",
        ):
            continue
        caught = {error for catch in state.get("Catch", []) for error in catch["ErrorEquals"]}
        assert "States.ALL" in caught, f"{name} does not catch everything"


def test_failures_clean_up_record_and_notify_before_failing(asl):
    path = reachable(asl, "Clean up")
    assert {"Record failure", "Notify failure", "Failed"} <= path
    assert "Customized" not in path
    assert asl["States"]["Clean up"]["Type"] == "Task"


def test_invalid_input_is_rejected_by_validate_with_its_message(asl):
    validate = asl["States"]["Validate"]
    [rejection] = [c for c in validate["Catch"] if c["ErrorEquals"] == ["InvalidRunRequestError"]]
    assert reachable(asl, rejection["Next"]) >= {"Rejected"}
    assert asl["States"]["Rejected"]["CausePath"] == "$.error.Cause"


def test_quality_gate_follows_the_reports_decision_on_every_threshold(asl):
    # The report decides on the intervals (model_evaluation.summary); the gate follows it and names the reasons.
    gate = asl["States"]["Quality gate"]
    [rule] = gate["Choices"]
    assert rule == {"Variable": "$.evaluation.gate.passed", "BooleanEquals": True, "Next": "Keep the approved model"}
    assert reachable(asl, gate["Default"]) >= {"Clean up", "Failed"}
    assert asl["States"]["Report evaluation"]["Parameters"]["thresholds.$"] == "$.request.thresholds"


def test_bedrock_jobs_are_polled_with_growing_waits(asl):
    wait_longer = asl["States"]["Customization: wait longer"]
    assert wait_longer["Parameters"]["seconds.$"] == "States.MathAdd($.waits.customization.seconds, 600)"
    cap = asl["States"]["Customization: longest wait?"]
    assert cap["Choices"][0]["NumericGreaterThanEquals"] == 3600


def test_state_machine_logs_everything_encrypted_with_tracing(workflow):
    for template in workflow.values():
        template.has_resource_properties(
            "AWS::StepFunctions::StateMachine",
            {
                "StateMachineType": "STANDARD",
                "TracingConfiguration": {"Enabled": True},
                "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
                "EncryptionConfiguration": Match.object_like({"Type": "CUSTOMER_MANAGED_KMS_KEY"}),
            },
        )
        template.has_resource_properties(
            "AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value(), "RetentionInDays": Match.any_value()}
        )


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_lineage_table_is_encrypted_recoverable_and_retained_outside_dev(workflow, name):
    [table] = workflow[name].find_resources("AWS::DynamoDB::Table").values()
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    assert "KMSMasterKeyId" in table["Properties"]["SSESpecification"]
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    retained = not ENVIRONMENTS[name].is_throwaway
    assert table["DeletionPolicy"] == ("Retain" if retained else "Delete")
    assert table["Properties"].get("DeletionProtectionEnabled", False) is retained


def test_no_policy_grants_every_action_and_the_training_role_gets_no_s3_on_everything(workflow):
    for template in workflow.values():
        for policy in template.find_resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert "*" not in actions
                if statement.get("Resource") == "*":
                    assert not any(a.startswith("s3:") for a in actions), statement


def test_training_jobs_run_in_private_subnets_with_the_configured_instance_type(asl):
    train = asl["States"]["Train on SageMaker"]["Parameters"]
    assert train["ResourceConfig"]["InstanceType"] == ENVIRONMENTS["dev"].workflow.training_instance_type
    assert train["VpcConfig"]["Subnets"] and train["VpcConfig"]["SecurityGroupIds"]
    hours = ENVIRONMENTS["dev"].workflow.max_training_hours
    assert train["StoppingCondition"]["MaxRuntimeInSeconds"] == hours * 3600


def test_lambda_handlers_named_in_the_template_exist(workflow):
    for function in workflow["prod"].find_resources("AWS::Lambda::Function").values():
        module_name, _, attribute = function["Properties"]["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module_name), attribute))


def test_functions_use_the_powertools_layer_and_active_tracing(workflow):
    assert len(workflow["dev"].find_resources("AWS::Lambda::Function")) == 7
    functions = workflow["prod"].find_resources("AWS::Lambda::Function")
    assert len(functions) == 8  # and the HyperPod jobs step
    for function in functions.values():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
        assert "AWSLambdaPowertoolsPythonV3-python313-x86_64" in json.dumps(function["Properties"]["Layers"])


def test_the_hyperpod_step_runs_in_the_vpc_and_reaches_the_cluster_only_through_its_group(workflow, committed):
    template = workflow["prod"]
    [function] = [
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "customization_steps.hyperpod_steps.handle"
    ]
    assert function["Properties"]["VpcConfig"]["SubnetIds"] and function["Properties"]["VpcConfig"]["SecurityGroupIds"]
    [entry] = template.find_resources("AWS::EKS::AccessEntry").values()
    assert entry["Properties"]["KubernetesGroups"] == ["nova-customization-workflow"]
    assert "AccessPolicies" not in entry["Properties"]  # no EKS access policy: only the Role below
    describe = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "eks:DescribeCluster"
    ]
    assert describe and all(statement["Resource"] != "*" for statement in describe)
    assert template.find_resources("AWS::EKS::AccessEntry") and not workflow["dev"].find_resources(
        "AWS::EKS::AccessEntry"
    )
    training = committed.template("prod", "Training")
    training.has_resource_properties(
        "Custom::HyperPodWorkflowAccess",
        {"Namespace": "default", "Group": "nova-customization-workflow", "ClusterName": Match.any_value()},
    )


def test_the_hyperpod_step_knows_the_restricted_group_and_the_time_limit(workflow):
    prod = ENVIRONMENTS["prod"]
    template = workflow["prod"]
    [prepare] = [
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "customization_steps.steps.prepare"
    ]
    variables = prepare["Properties"]["Environment"]["Variables"]
    assert variables["PLATFORMS"] == "sagemaker-training-job,bedrock,hyperpod"
    assert variables["HYPERPOD_INSTANCE_TYPE"] == prod.cluster.restricted_instance_group.instance_type
    assert variables["HYPERPOD_MAX_NODES"] == str(prod.cluster.restricted_instance_group.count)
    assert variables["MAX_TRAINING_SECONDS"] == str(prod.workflow.max_training_hours * 3600)


def test_an_open_weight_import_is_imported_then_evaluated_without_a_deployment(any_asl):
    states = any_asl["States"]
    where = states["Where to train?"]
    assert where["Choices"][0] == {
        "Variable": "$.request.technique",
        "StringEquals": "import",
        "Next": "Import open-weight model",
    }
    start = states["Import open-weight model"]
    assert start["Resource"].endswith(":::aws-sdk:bedrock:createModelImportJob")
    assert start["Parameters"]["ModelDataSource"] == {"S3DataSource": {"S3Uri.$": "$.request.model_data"}}
    path = reachable(any_asl, "Import open-weight model")
    assert {"Evaluate the imported model", "Score records", "Quality gate", "Record lineage", "Customized"} <= path
    assert "Deploy for evaluation" not in path  # an imported model is invoked by its ARN
    batch = states["Score records"]["ItemBatcher"]["BatchInput"]
    assert batch["candidates"]["customized"] == {"model_id.$": "$.candidate.model_id"}
    assert states["Evaluate the deployment"]["Parameters"] == {"model_id.$": "$.evaluation_deployment.arn"}
    assert states["Evaluate the imported model"]["Parameters"] == {"model_id.$": "$.imported.model_arn"}


def test_an_imported_model_is_served_by_its_own_arn_or_not_at_all(any_asl):
    states = any_asl["States"]
    deploy = states["Deploy how?"]
    assert deploy["Choices"][0] == {
        "Variable": "$.request.technique",
        "StringEquals": "import",
        "Next": "Serve imported model?",
    }
    serve = states["Serve imported model?"]
    assert choose(serve, "on-demand") == "Serve imported model on demand"
    assert states["Serve imported model on demand"]["Parameters"] == {"arn.$": "$.imported.model_arn"}
    assert states[choose(serve, "none")]["Next"] == "Record lineage"
    assert states["Serve imported model on demand"]["Next"] == "Record lineage"


def test_approved_runs_land_in_the_partition_serving_reads_unless_imported(any_asl):
    record = any_asl["States"]["Record lineage"]["Parameters"]
    assert record["ExpressionAttributeValues"][":approved"] == {"S.$": "$.prepared.approval"}


def test_a_taken_run_name_is_rejected_and_no_failure_touches_another_executions_record(any_asl):
    states = any_asl["States"]
    catches = states["Prepare"]["Catch"]
    assert catches[0] == {"ErrorEquals": ["RunNameTakenError"], "ResultPath": "$.error", "Next": "Notify rejected"}
    assert catches[-1]["ErrorEquals"] == ["States.ALL"]
    assert "Clean up" not in reachable(any_asl, "Notify rejected")
    record = states["Record failure"]["Parameters"]
    assert record["ConditionExpression"] == "attribute_not_exists(run_name) OR execution_arn = :execution"
    assert record["ExpressionAttributeValues"][":execution"] == {"S.$": "$$.Execution.Id"}


def test_the_hyperpod_step_has_its_own_security_group_admitted_to_the_cluster_on_443_only(workflow):
    template = workflow["prod"]
    [group_id] = [
        logical
        for logical, group in template.find_resources("AWS::EC2::SecurityGroup").items()
        if "HyperPodJobsStep" in logical
    ]
    group = template.find_resources("AWS::EC2::SecurityGroup")[group_id]["Properties"]
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "Kubernetes API, STS and EKS",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    [ingress] = template.find_resources("AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    assert (ingress["Properties"]["FromPort"], ingress["Properties"]["ToPort"]) == (443, 443)
    [function] = [
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "customization_steps.hyperpod_steps.handle"
    ]
    assert function["Properties"]["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
    assert function["Properties"]["Environment"]["Variables"]["HYPERPOD_NAMESPACE"] == "default"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_evaluation_map_scales_and_tolerates_failures_as_config_says(workflow, env):
    """The dataset is read and the results written by the map itself, in batches, as many at once as config allows;
    failed batches beyond what the gate could pass with fail the run."""
    evaluation = ENVIRONMENTS[env].workflow.evaluation
    score = definition(workflow[env])["States"]["Score records"]
    assert score["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert score["ItemReader"]["ReaderConfig"] == {"InputType": "JSONL", "MaxItems": evaluation.max_records}
    assert score["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.request.evaluation_dataset_bucket",
        "Key.$": "$.request.evaluation_dataset_key",
        "VersionId.$": "$.evaluation_dataset.version_id",  # the version "Check evaluation dataset" read
    }
    assert score["ItemBatcher"]["MaxItemsPerBatch"] == evaluation.batch_size
    assert score["MaxConcurrency"] == evaluation.max_concurrency
    assert score["ToleratedFailurePercentage"] == round((1 - evaluation.min_scored_fraction) * 100)
    assert score["ResultWriter"]["Parameters"]["Bucket.$"] == "$.prepared.artifacts_bucket"
    [catch] = score["Catch"]
    assert (catch["ErrorEquals"], catch["ResultPath"]) == (["States.ALL"], "$.error")  # into the failure path
    report = definition(workflow[env])["States"]["Report evaluation"]["Parameters"]["gate"]
    assert report == {"min_records": evaluation.min_records, "min_scored_fraction": evaluation.min_scored_fraction}
    batch = score["ItemProcessor"]["States"]["Score batch"]
    assert any(retry.get("JitterStrategy") == "FULL" for retry in batch["Retry"])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_batch_function_can_run_every_batch_two_runs_score_at_once(workflow, env):
    evaluation = ENVIRONMENTS[env].workflow.evaluation
    [batch] = [
        f
        for f in workflow[env].find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "model_evaluation.handler.batch_handler"
    ]
    assert batch["Properties"]["ReservedConcurrentExecutions"] == 2 * evaluation.max_concurrency
