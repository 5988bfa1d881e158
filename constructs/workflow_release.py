"""From a model in Bedrock to a served, recorded one: evaluate, gate, deploy, record.

A Bedrock model can only be invoked once it exists in Bedrock, so a customized model gets a
temporary way in *before* evaluation (:func:`evaluation`): an on-demand deployment where Bedrock
offers one (LoRA and Bedrock-made models), else a one-unit, no-commitment provisioned throughput
of the run's own (full-rank SFT and DPO, PPO, CPT; Nova user guide, "On-demand inference of
custom Nova models"). Both belong to the run: it deletes them when it ends. The gate compares
the scores with the run's thresholds; :func:`deployment` serves the model as the run asks and
:func:`record_success` completes the lineage record. Builders take their collaborators as
arguments and return their first state, like those in ``workflow_training``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.workflow_bedrock_calls import bedrock_call, environment_tags
from constructs.workflow_evaluation import EvaluationCall, EvaluationScale, scored_and_reported
from constructs.workflow_failure import Guard, notify, record_retried
from constructs.workflow_polling import DEPLOYMENT_HOURS, THROUGHPUT_HOURS, Deadline, PolledJob, hours, polled_job
from customization.contract import IMPORT, DeployMode, EvaluationRoute, RunStatus

# The smallest throughput Bedrock sells (modelUnits >= 1, CreateProvisionedModelThroughput); without a
# commitmentDuration it is billed by the hour and may be deleted at any time (Bedrock user guide,
# "Provisioned Throughput"). The account needs the quota "Model units no-commitment Provisioned Throughputs
# across custom models" (L-BE77399C), which AWS may set to 0 until asked.
EVALUATION_MODEL_UNITS = 1


@dataclass(frozen=True)
class Evaluation:
    """Two ways into evaluation: a customized model (``$.imported.model_arn``) is made invokable first, by
    its ``$.request.evaluation_route``; an imported open-weight model (``$.candidate``) is invoked by its ARN."""

    deploy_then_evaluate: sfn.IChainable
    """For a customized model (``$.imported.model_arn``): its temporary deployment or throughput, then Evaluate."""
    evaluate: sfn.IChainable
    """For a model invokable as it is (``$.candidate.model_id``): Evaluate itself."""


def evaluation(
    scope: Construct,
    *,
    environment: str,
    call: EvaluationCall,
    scale: EvaluationScale,
    artifacts: s3.IBucket,
    guard: Guard,
    failure: sfn.IChainable,
    then: sfn.IChainable,
) -> Evaluation:
    """Deploy or provision (customized models only), then score base and candidate on the run's dataset
    (``workflow_evaluation``); ``then`` gates."""
    deploy = bedrock_call(
        scope,
        "Deploy for evaluation",
        "createCustomModelDeployment",
        {
            "ModelDeploymentName": sfn.JsonPath.format("{}-eval", sfn.JsonPath.string_at("$.request.run_name")),
            "ModelArn": sfn.JsonPath.string_at("$.imported.model_arn"),
            "ClientRequestToken": sfn.JsonPath.format("{}-eval", sfn.JsonPath.string_at("$.request.run_name")),
            "Tags": environment_tags(environment),
        },
        resources=["custom-model", "custom-model-deployment"],
        result_selector={"arn": sfn.JsonPath.string_at("$.CustomModelDeploymentArn")},
        result_path="$.evaluation_deployment",
    )
    check = bedrock_call(
        scope,
        "Check evaluation deployment",
        "getCustomModelDeployment",
        {"CustomModelDeploymentIdentifier": sfn.JsonPath.string_at("$.evaluation_deployment.arn")},
        resources=["custom-model-deployment"],
        result_selector={"status": sfn.JsonPath.string_at("$.Status")},
        result_path="$.deployment_status",
    )
    evaluate = scored_and_reported(
        scope,
        call=call,
        scale=scale,
        artifacts=artifacts,
        guard=guard,
        failure=failure,
        then=then,
    )
    candidate = sfn.Pass(
        scope,
        "Evaluate the deployment",
        parameters={"model_id.$": "$.evaluation_deployment.arn"},
        result_path="$.candidate",
    )
    on_demand = polled_job(
        scope,
        PolledJob(
            name="Evaluation deployment",
            key="evaluation_deployment",
            start=deploy,
            check=check,
            status_path="$.deployment_status.status",
            done=["Active"],
            failed=["Failed"],
            error="DeploymentFailed",
            cause="Bedrock reported the evaluation deployment Failed",
            deadline=Deadline(
                seconds=hours(DEPLOYMENT_HOURS),
                error="DeploymentTimedOut",
                cause=f"The evaluation deployment was not Active after {DEPLOYMENT_HOURS} h; "
                "the run's clean-up deletes it",
            ),
        ),
        guard=guard,
        failure=failure,
        on_done=candidate.next(evaluate),
    )
    route = sfn.Choice(scope, "Evaluate how?")
    route.when(
        sfn.Condition.string_equals("$.request.evaluation_route", EvaluationRoute.PROVISIONED_THROUGHPUT),
        _evaluation_throughput(scope, environment=environment, guard=guard, failure=failure, then=evaluate),
    )
    route.otherwise(on_demand)
    return Evaluation(deploy_then_evaluate=route, evaluate=evaluate)


def _evaluation_throughput(
    scope: Construct, *, environment: str, guard: Guard, failure: sfn.IChainable, then: sfn.IChainable
) -> sfn.IChainable:
    """A full-rank model's way in: the run's own no-commitment throughput, then Evaluate on its ARN."""
    provision, check = _throughput_calls(
        scope,
        start_id="Provision for evaluation",
        check_id="Check evaluation throughput",
        name=sfn.JsonPath.format("{}-eval", sfn.JsonPath.string_at("$.request.run_name")),
        token_suffix="eval",
        units=EVALUATION_MODEL_UNITS,
        environment=environment,
        result_path="$.evaluation_throughput",
    )
    candidate = sfn.Pass(
        scope,
        "Evaluate the throughput",
        parameters={"model_id.$": "$.evaluation_throughput.arn"},
        result_path="$.candidate",
    )
    return polled_job(
        scope,
        PolledJob(
            name="Evaluation throughput",
            key="evaluation_throughput",
            start=provision,
            check=check,
            status_path="$.evaluation_throughput_status.status",
            done=["InService"],
            failed=["Failed"],
            error="ProvisioningFailed",
            cause="Bedrock reported the evaluation throughput Failed",
            deadline=Deadline(
                seconds=hours(THROUGHPUT_HOURS),
                error="ProvisioningTimedOut",
                cause=f"The evaluation throughput was not InService after {THROUGHPUT_HOURS} h; "
                "the run's clean-up deletes it",
            ),
        ),
        guard=guard,
        failure=failure,
        on_done=candidate.next(then),
    )


def _throughput_calls(
    scope: Construct,
    *,
    start_id: str,
    check_id: str,
    name: str,
    token_suffix: str,
    units: int,
    environment: str,
    result_path: str,
) -> tuple[tasks.CallAwsService, tasks.CallAwsService]:
    """A no-commitment throughput for the run's model (``$.imported.model_arn``): the call that buys it (its ARN at
    ``<result_path>.arn``, retried safely: the client token is the run's) and the one that reads its status
    (``<result_path>_status.status``)."""
    provision = bedrock_call(
        scope,
        start_id,
        "createProvisionedModelThroughput",
        {
            "ProvisionedModelName": name,
            "ModelId": sfn.JsonPath.string_at("$.imported.model_arn"),
            "ModelUnits": units,
            "ClientRequestToken": sfn.JsonPath.format(
                "{}-" + token_suffix, sfn.JsonPath.string_at("$.request.run_name")
            ),
            "Tags": environment_tags(environment),
        },
        # Service Authorization Reference: the custom model and its base foundation model are both required.
        resources=["custom-model", "foundation-model", "provisioned-model"],
        result_selector={"arn": sfn.JsonPath.string_at("$.ProvisionedModelArn")},
        result_path=result_path,
    )
    check = bedrock_call(
        scope,
        check_id,
        "getProvisionedModelThroughput",
        {"ProvisionedModelId": sfn.JsonPath.string_at(f"{result_path}.arn")},
        resources=["provisioned-model"],
        result_selector={"status": sfn.JsonPath.string_at("$.Status")},
        result_path=f"{result_path}_status",
    )
    return provision, check


def quality_gate(scope: Construct, *, failure: sfn.IChainable, on_pass: sfn.IChainable) -> sfn.Choice:
    """The report's decision (``$.evaluation.gate``): enough records scored, and every threshold cleared by its
    metric's confidence interval, not only its mean (``model_evaluation.summary``)."""
    failed_gate = sfn.Pass(
        scope,
        "Gate failed",
        parameters={
            "Error": "QualityGateFailed",
            # The failure record keeps this cause: it names the rubric and dataset version judged by, as a passed
            # run's lineage does.
            "Cause": sfn.JsonPath.format(
                "Customized model did not pass: {}; judged with the rubric of SHA-256 {} on dataset version {}; see {}",
                sfn.JsonPath.json_to_string(sfn.JsonPath.list_at("$.evaluation.gate.reasons")),
                sfn.JsonPath.string_at("$.evaluation.rubric_sha256"),
                sfn.JsonPath.string_at("$.evaluation.dataset.version_id"),
                sfn.JsonPath.string_at("$.evaluation.results"),
            ),
        },
        result_path="$.error",
    )
    gate = sfn.Choice(scope, "Quality gate")
    gate.when(sfn.Condition.boolean_equals("$.evaluation.gate.passed", True), on_pass)
    gate.otherwise(failed_gate.next(failure))
    return gate


def deployment(scope: Construct, *, guard: Guard, record: sfn.IChainable) -> sfn.Choice:
    """Leave serving to its one owner. A customized model is served by the Serving stack, which reads the lineage
    record this run writes: the run deletes the deployment or throughput it made to evaluate the model and serves
    nothing itself (two owners bought two throughputs for one model, and nothing deleted the workflow's). An
    imported model is invoked on demand by its own ARN, which makes nothing."""
    left_to_serving = sfn.Pass(
        scope,
        "Leave serving to the Serving stack",
        result=sfn.Result.from_object({"arn": "none"}),
        result_path="$.serving",
    )
    mode = sfn.Choice(scope, "Deploy how?")
    mode.when(sfn.Condition.string_equals("$.request.technique", IMPORT), _serve_imported(scope, record))
    mode.otherwise(_drop_evaluation_resource(scope, guard=guard, then=left_to_serving.next(record)))
    return mode


def _drop_evaluation_resource(scope: Construct, *, guard: Guard, then: sfn.IChainable) -> sfn.Choice:
    """Delete the deployment or throughput the run made to evaluate its model."""
    deployment = guard(
        bedrock_call(
            scope,
            "Remove evaluation deployment",
            "deleteCustomModelDeployment",
            {"CustomModelDeploymentIdentifier": sfn.JsonPath.string_at("$.evaluation_deployment.arn")},
            resources=["custom-model-deployment"],
            result_path=sfn.JsonPath.DISCARD,
        )
    )
    throughput = guard(
        bedrock_call(
            scope,
            "Remove evaluation throughput",
            "deleteProvisionedModelThroughput",
            {"ProvisionedModelId": sfn.JsonPath.string_at("$.evaluation_throughput.arn")},
            resources=["provisioned-model"],
            result_path=sfn.JsonPath.DISCARD,
        )
    )
    made = sfn.Choice(scope, "Evaluated on what?")
    made.when(
        sfn.Condition.string_equals("$.request.evaluation_route", EvaluationRoute.PROVISIONED_THROUGHPUT),
        throughput.next(then),
    )
    made.otherwise(deployment.next(then))
    return made


def _serve_imported(scope: Construct, record: sfn.IChainable) -> sfn.IChainable:
    """An imported model needs no deployment: on demand, it is invoked by its own ARN."""
    on_demand = sfn.Pass(
        scope, "Serve imported model on demand", parameters={"arn.$": "$.imported.model_arn"}, result_path="$.serving"
    )
    not_served = sfn.Pass(
        scope, "Imported model not served", result=sfn.Result.from_object({"arn": "none"}), result_path="$.serving"
    )
    serve = sfn.Choice(scope, "Serve imported model?")
    serve.when(sfn.Condition.string_equals("$.request.deploy_mode", DeployMode.ON_DEMAND), on_demand.next(record))
    serve.otherwise(not_served.next(record))
    return serve


def record_success(scope: Construct, *, table: dynamodb.ITable, topic: sns.ITopic) -> sfn.IChainable:
    """Complete the lineage record (model, serving, evaluation, approval), notify, succeed."""
    record = tasks.DynamoUpdateItem(
        scope,
        "Record lineage",
        table=table,
        key={"run_name": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.request.run_name"))},
        update_expression=(
            "SET #status = :status, model_arn = :model, serving_arn = :serving, evaluation = :evaluation, "
            "approval = :approved, completed_at = :completed, judge_rubric_sha256 = :rubric, "
            "evaluation_dataset_version = :dataset_version"
        ),
        expression_attribute_names={"#status": "status"},
        expression_attribute_values={
            ":status": tasks.DynamoAttributeValue.from_string(RunStatus.SUCCEEDED),
            ":model": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.imported.model_arn")),
            ":serving": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.serving.arn")),
            ":evaluation": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.evaluation.results")),
            # An Approval partition (what Serving deploys, or imported models), as Prepare decided for the run.
            ":approved": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.prepared.approval")),
            ":completed": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
            ":rubric": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.evaluation.rubric_sha256")),
            ":dataset_version": tasks.DynamoAttributeValue.from_string(
                sfn.JsonPath.string_at("$.evaluation.dataset.version_id")
            ),
        },
        result_path=sfn.JsonPath.DISCARD,
    )
    done = sfn.Succeed(scope, "Customized")
    # The model is served by now: a record that cannot be written must not send the run to the clean-up (which would
    # delete what serves); the notice carries the whole state, model and serving ARNs included, for a person to record.
    unrecorded = notify(scope, "Notify lineage not recorded", topic, "UNRECORDED").next(
        sfn.Fail(scope, "Lineage not recorded", error_path="$.record_error.Error", cause_path="$.record_error.Cause")
    )
    record_retried(record).add_catch(unrecorded, errors=["States.ALL"], result_path="$.record_error")
    return record.next(notify(scope, "Notify success", topic, RunStatus.SUCCEEDED)).next(done)
