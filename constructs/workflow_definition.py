"""The customization workflow's definition: validate -> prepare -> train -> import -> evaluate -> gate ->
deploy -> record -> notify, assembled from the builders in ``workflow_training`` and ``workflow_release``.

Parts are built from the end backwards (failure path, record, deployment, gate, evaluation,
import, training), each given what it continues into, so nothing depends on call order.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.workflow_evaluation import EvaluationCall, EvaluationScale, Judge
from constructs.workflow_failure import (
    CLEAN_UP_RETRY_HOURS,
    LAMBDA_THROTTLING_ERRORS,
    Guard,
    failure_path,
    guard_for,
    notify,
    steps_throttling_retried,
)
from constructs.workflow_polling import DEPLOYMENT_HOURS, HYPERPOD_GRACE_HOURS, IMPORT_HOURS, THROUGHPUT_HOURS
from constructs.workflow_release import Evaluation, deployment, evaluation, quality_gate, record_success
from constructs.workflow_steps import WorkflowSteps
from constructs.workflow_training import (
    TrainingJobSettings,
    bedrock_customization,
    checkpoint_import,
    hyperpod_step,
    hyperpod_training,
    open_weight_import,
    sagemaker_training,
)
from customization.contract import (
    IMPORT,
    HyperPodAction,
    InvalidRunRequestError,
    Platform,
    RunNameTakenError,
    RunStatus,
)


@dataclass(frozen=True)
class DefinitionParts:
    """What the definition's states call, pass and write."""

    steps: WorkflowSteps
    """The Lambda steps the states invoke (no default)."""
    training_job: TrainingJobSettings
    """How Train on SageMaker runs (no default)."""
    bedrock_role: iam.IRole
    """Bedrock imports checkpoints as this role (the state machine passes it)."""
    key: kms.IKey
    """Bedrock encrypts the models it creates with it."""
    lineage_table: dynamodb.ITable
    """Record lineage and Record failure write the run's record here."""
    topic: sns.ITopic
    """Every outcome (success, failure, rejection) is published here."""
    platforms: tuple[str, ...]
    """The training branches to wire (``Platform`` values); any other fails the run."""
    judge: Judge
    """Who scores the answers in Evaluate."""
    inference_profile_prefix: str
    """Prepended to the base model id for evaluation (``us.``, ...; ``""`` for none)."""
    evaluation_scale: EvaluationScale
    """How the evaluation scales and what its gate asks for."""
    artifacts: s3.IBucket
    """The evaluation writes its results and base-answer cache here."""
    environment: str
    """Tagged on every job, model, deployment and throughput the states create (``ENVIRONMENT_TAG``)."""


# Time a run spends outside the loops' deadlines: each loop may overrun its deadline by one wait, the Lambda steps
# (Evaluate up to Lambda's 15 minutes) and their retries, SageMaker's own start-up before its stopping condition
# counts, and the clean-up's retries of a busy throughput (CLEAN_UP_RETRY_HOURS). Budgets, not AWS figures.
OUTSIDE_LOOPS_HOURS = 3 + CLEAN_UP_RETRY_HOURS


def run_timeout(max_training_hours: int, evaluation: EvaluationScale) -> cdk.Duration:
    """The state machine's overall timeout: longer than the longest path's deadlines together, so a run
    always ends through its own deadlines and failure path (an execution that times out cleans nothing up)."""
    training = max_training_hours + HYPERPOD_GRACE_HOURS
    # Import, then an evaluation deployment or throughput, the evaluation itself (serving is the Serving stack's).
    release = IMPORT_HOURS + max(DEPLOYMENT_HOURS, THROUGHPUT_HOURS) + evaluation.longest_hours
    return cdk.Duration.hours(training + release + OUTSIDE_LOOPS_HOURS)


def customization_definition(scope: Construct, parts: DefinitionParts) -> sfn.IChainable:
    """The whole definition; its first state is ``Validate``."""
    steps = parts.steps
    remove_hyperpod_job = (
        hyperpod_step(scope, "Remove HyperPod job", steps.hyperpod_fn, HyperPodAction.REMOVE, "$.hyperpod_released")
        if steps.hyperpod_fn is not None
        else None
    )
    failure = failure_path(
        scope,
        clean_up_fn=steps.clean_up_fn,
        table=parts.lineage_table,
        topic=parts.topic,
        remove_hyperpod_job=remove_hyperpod_job,
    )
    guard = guard_for(failure)
    record = record_success(scope, table=parts.lineage_table, topic=parts.topic)
    deploy = deployment(scope, guard=guard, record=record)
    # Past the gate the model is what the run was for: a later failure (deleting the evaluation deployment, say)
    # cleans up the throughputs and deployments but keeps the model, which the failure notice names.
    keep = sfn.Pass(
        scope, "Keep the approved model", parameters={"model_arn.$": "$.imported.model_arn"}, result_path="$.kept"
    )
    gate = quality_gate(scope, failure=failure, on_pass=keep.next(deploy))
    evaluate = evaluation(
        scope,
        environment=parts.environment,
        call=EvaluationCall(
            score_fn=steps.evaluate_fn,
            report_fn=steps.report_fn,
            judge=parts.judge,
            base_model_prefix=parts.inference_profile_prefix,
        ),
        scale=parts.evaluation_scale,
        artifacts=parts.artifacts,
        guard=guard,
        failure=failure,
        then=gate,
    )
    rejected = notify(scope, "Notify rejected", parts.topic, "REJECTED").next(
        sfn.Fail(scope, "Rejected", error="InvalidRunRequest", cause_path="$.error.Cause")
    )
    # Validate failing any other way: nothing was claimed or started, and $.request (the run's name) is not
    # there for the failure path to record under, so notify and fail with the error.
    crashed = notify(scope, "Notify validation failure", parts.topic, RunStatus.FAILED).next(
        sfn.Fail(scope, "Validation failed", error_path="$.error.Error", cause_path="$.error.Cause")
    )
    train = _training_branches(scope, parts, guard=guard, failure=failure, evaluate_from=evaluate)
    return (
        _validate(scope, parts, rejected=rejected, failure=crashed)
        .next(_check_dataset(scope, parts, rejected=rejected, failure=crashed))
        .next(_prepare(scope, parts, rejected=rejected, guard=guard))
        .next(train)
    )


def _validate(
    scope: Construct, parts: DefinitionParts, *, rejected: sfn.IChainable, failure: sfn.IChainable
) -> sfn.TaskStateBase:
    """Checks the execution's input; a bad request is rejected before anything is created or billed."""
    validate = tasks.LambdaInvoke(
        scope,
        "Validate",
        lambda_function=parts.steps.validate_fn,
        payload=sfn.TaskInput.from_object(
            {
                "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                "execution": sfn.JsonPath.string_at("$$.Execution.Name"),
            }
        ),
        payload_response_only=True,
        result_path="$.request",
    )
    validate.add_retry(
        errors=LAMBDA_THROTTLING_ERRORS, interval=cdk.Duration.seconds(2), backoff_rate=2, max_attempts=3
    )
    validate.add_catch(rejected, errors=[InvalidRunRequestError.__name__], result_path="$.error")
    validate.add_catch(failure, errors=["States.ALL"], result_path="$.error")
    return validate


def _check_dataset(
    scope: Construct, parts: DefinitionParts, *, rejected: sfn.IChainable, failure: sfn.IChainable
) -> sfn.TaskStateBase:
    """Reads the evaluation dataset whole before anything is claimed or trained: a line the evaluation could not
    read, or too few or too many records, rejects the run now rather than after training."""
    check = tasks.LambdaInvoke(
        scope,
        "Check evaluation dataset",
        lambda_function=parts.steps.check_dataset_fn,
        payload=sfn.TaskInput.from_object(
            {
                "evaluation_dataset": sfn.JsonPath.string_at("$.request.evaluation_dataset"),
                "min_records": parts.evaluation_scale.min_records,
                "max_records": parts.evaluation_scale.max_records,
                # Tried once each, as the evaluation will invoke them: a model this account cannot invoke here
                # rejects the run now, not after training.
                "models": {
                    "base": sfn.JsonPath.format(
                        f"{parts.inference_profile_prefix}{{}}",
                        sfn.JsonPath.string_at("$.request.evaluation_base_model"),
                    ),
                    "judge": parts.judge.model_id,
                },
            }
        ),
        payload_response_only=True,
        result_path="$.evaluation_dataset",
    )
    check.add_retry(errors=LAMBDA_THROTTLING_ERRORS, interval=cdk.Duration.seconds(2), backoff_rate=2, max_attempts=3)
    check.add_catch(rejected, errors=["DatasetError", "ModelCheckError"], result_path="$.error")
    check.add_catch(failure, errors=["States.ALL"], result_path="$.error")
    return check


def _prepare(scope: Construct, parts: DefinitionParts, *, rejected: sfn.IChainable, guard: Guard) -> sfn.TaskStateBase:
    """Claims the run name, writes the recipe and plans (or starts) the platform's job."""
    prepare = tasks.LambdaInvoke(
        scope,
        "Prepare",
        lambda_function=parts.steps.prepare_fn,
        payload=sfn.TaskInput.from_object(
            {"request": sfn.JsonPath.object_at("$.request"), "execution": sfn.JsonPath.string_at("$$.Execution.Id")}
        ),
        payload_response_only=True,
        result_path="$.prepared",
    )
    steps_throttling_retried(prepare)
    # A run name another execution holds: reject, touching nothing of that run (no clean-up, no record).
    prepare.add_catch(rejected, errors=[RunNameTakenError.__name__], result_path="$.error")
    return guard(prepare)


def _training_branches(
    scope: Construct,
    parts: DefinitionParts,
    *,
    guard: Guard,
    failure: sfn.IChainable,
    evaluate_from: Evaluation,
) -> sfn.Choice:
    """One branch per wired platform, and the open-weight import, which trains nothing."""
    steps = parts.steps
    import_checkpoint = checkpoint_import(
        scope,
        environment=parts.environment,
        bedrock_role=parts.bedrock_role,
        key=parts.key,
        guard=guard,
        failure=failure,
        then=evaluate_from.deploy_then_evaluate,
    )
    branches = {
        Platform.SAGEMAKER_TRAINING_JOB: lambda: sagemaker_training(
            scope, job=parts.training_job, locate_fn=steps.locate_fn, guard=guard, then=import_checkpoint
        ),
        Platform.BEDROCK: lambda: bedrock_customization(
            scope,
            max_training_hours=parts.training_job.max_training_hours,
            guard=guard,
            failure=failure,
            then=evaluate_from.deploy_then_evaluate,
        ),
        Platform.HYPERPOD: lambda: hyperpod_training(
            scope,
            hyperpod_fn=_hyperpod_fn(steps),
            locate_fn=steps.locate_fn,
            max_training_hours=parts.training_job.max_training_hours,
            guard=guard,
            failure=failure,
            then=import_checkpoint,
        ),
    }
    platform = sfn.Choice(scope, "Where to train?")
    platform.when(
        sfn.Condition.string_equals("$.request.technique", IMPORT),
        open_weight_import(
            scope,
            environment=parts.environment,
            bedrock_role=parts.bedrock_role,
            key=parts.key,
            guard=guard,
            failure=failure,
            then=evaluate_from.evaluate,
        ),
    )
    for name in parts.platforms:
        platform.when(sfn.Condition.string_equals("$.request.platform", name), branches[name]())
    platform.otherwise(
        sfn.Fail(
            scope,
            "Platform not wired here",
            error="UnsupportedPlatform",
            cause="This environment's workflow trains on " + ", ".join(parts.platforms),
        )
    )
    return platform


def _hyperpod_fn(steps: WorkflowSteps) -> lambda_.IFunction:
    if steps.hyperpod_fn is None:
        raise ValueError(f"platforms: {Platform.HYPERPOD!r} is not allowed without a restricted instance group")
    return steps.hyperpod_fn
