"""How the workflow handles errors: retries for transient ones, one failure path for the rest.

Every task that starts, checks or changes something is :func:`guarded`: throttling and the
services' transient errors are retried with back-off, anything else goes to the path
:func:`failure_path` builds, which stops what the run started, deletes what it half-made,
marks the lineage record failed, notifies and fails with the run's own error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from customization.contract import ResourceBusyError, RunStatus, ServiceThrottledError

# Errors worth another try, per integration: each names only what that integration can raise
# (tests/infra/test_workflow_contract.py checks every Retry and Catch against it, and that no entry is
# shadowed by an earlier one). aws-cdk-lib's LambdaInvoke already retries Lambda's service errors
# (ServiceException, AWSLambdaException, SdkClientException, ClientExecutionTimeoutException;
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html), so a Lambda step adds
# Lambda's throttling, a step's own unhandled ThrottlingException (boto3 raises that class where the service
# models it: Bedrock, Bedrock Runtime, DynamoDB; Lambda reports an exception by its class name, unprefixed), and
# ServiceThrottledError, which the steps raise for throttling the service does not model.
LAMBDA_THROTTLING_ERRORS = ["Lambda.TooManyRequestsException"]
LAMBDA_STEP_TRANSIENT_ERRORS = [*LAMBDA_THROTTLING_ERRORS, "ThrottlingException"]
# Bedrock through the AWS SDK integration: <Service>.<error shape>.
BEDROCK_TRANSIENT_ERRORS = [
    "Bedrock.ThrottlingException",
    "Bedrock.ServiceUnavailableException",
    "Bedrock.InternalServerException",
]
DYNAMODB_TRANSIENT_ERRORS = [
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerError",
]
# The optimized SageMaker integration reports every API error as SageMaker.AmazonSageMakerException
# (aws/aws-step-functions-data-science-sdk-python issue 191), throttling and bad requests alike. Train on SageMaker
# is not retried: once the job exists, a retry asks for the same job name again and "name in use" would replace
# the run's reason. Not checked against AWS: whether a job that ends Failed surfaces as that error or as
# States.TaskFailed; either way a throttled CreateTrainingJob fails the run (its clean-up then has nothing to stop).


# The clean-up's retries of a busy resource: 1, 2, 4, 8, then every 10 minutes, about three hours in all.
CLEAN_UP_RETRY_ATTEMPTS = 21
CLEAN_UP_RETRY_MAX_DELAY_MINUTES = 10
CLEAN_UP_RETRY_HOURS = math.ceil(
    sum(min(2**attempt, CLEAN_UP_RETRY_MAX_DELAY_MINUTES) for attempt in range(CLEAN_UP_RETRY_ATTEMPTS)) / 60
)


def transient_errors(state: sfn.TaskStateBase) -> tuple[list[str], int]:
    """What ``state``'s integration raises that another try may cure, and how many tries it gets. Every SDK
    call here is Bedrock's."""
    if isinstance(state, tasks.LambdaInvoke):
        return LAMBDA_STEP_TRANSIENT_ERRORS, 5
    if isinstance(state, tasks.CallAwsService):
        return BEDROCK_TRANSIENT_ERRORS, 5
    return [], 0


Guard = Callable[[sfn.TaskStateBase], sfn.TaskStateBase]


def steps_throttling_retried(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
    """A task of the steps' code (Prepare, Locate, Clean up): their throttled AWS calls are tried again."""
    task.add_retry(
        errors=[ServiceThrottledError.__name__], interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=5
    )
    return task


def retried(state: sfn.TaskStateBase) -> sfn.TaskStateBase:
    """Its integration's transient errors retried with back-off (5 s, doubling)."""
    errors, attempts = transient_errors(state)
    if errors:
        state.add_retry(errors=errors, interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=attempts)
    return state


def guard_for(failure: sfn.IChainable) -> Guard:
    """A guard: retried, and anything else caught into ``failure`` with the error at ``$.error``."""

    def guarded(state: sfn.TaskStateBase) -> sfn.TaskStateBase:
        retried(state).add_catch(failure, errors=["States.ALL"], result_path="$.error")
        return state

    return guarded


def notify(scope: Construct, construct_id: str, topic: sns.ITopic, outcome: str) -> tasks.SnsPublish:
    """Publishes ``<outcome> <the whole state>``; a notification may be sent twice, never lost to throttling."""
    publish = tasks.SnsPublish(
        scope,
        construct_id,
        topic=topic,
        subject=f"Customization run {outcome.lower()}",
        message=sfn.TaskInput.from_text(
            sfn.JsonPath.format("{} {}", outcome, sfn.JsonPath.json_to_string(sfn.JsonPath.entire_payload))
        ),
        result_path=sfn.JsonPath.DISCARD,
    )
    publish.add_retry(errors=["States.TaskFailed"], interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=3)
    return publish


def record_retried(record: tasks.DynamoUpdateItem) -> tasks.DynamoUpdateItem:
    record.add_retry(errors=DYNAMODB_TRANSIENT_ERRORS, backoff_rate=2, max_attempts=5)
    return record


def failure_path(
    scope: Construct,
    *,
    clean_up_fn: lambda_.IFunction,
    table: dynamodb.ITable,
    topic: sns.ITopic,
    remove_hyperpod_job: tasks.LambdaInvoke | None = None,
) -> sfn.IChainable:
    """One shared path: (remove a started HyperPod job,) clean up, mark the run failed, notify, fail.

    Its input carries the run's error at ``$.error``; the execution fails with that error and cause.
    Clean-up and bookkeeping must not hide the run's own error: their failures go straight on.
    """
    clean_up = steps_throttling_retried(
        tasks.LambdaInvoke(
            scope, "Clean up", lambda_function=clean_up_fn, payload_response_only=True, result_path="$.cleanup"
        )
    )
    retried(clean_up)
    # A throughput still Creating cannot be deleted yet (assumed: ConflictException, which AWS does not document for
    # this case): try again for about CLEAN_UP_RETRY_HOURS, longer than a throughput's creation budget.
    clean_up.add_retry(
        errors=[ResourceBusyError.__name__],
        interval=cdk.Duration.minutes(1),
        backoff_rate=2,
        max_delay=cdk.Duration.minutes(CLEAN_UP_RETRY_MAX_DELAY_MINUTES),
        max_attempts=CLEAN_UP_RETRY_ATTEMPTS,
    )
    record = record_retried(
        tasks.DynamoUpdateItem(
            scope,
            "Record failure",
            table=table,
            key={"run_name": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.request.run_name"))},
            update_expression="SET #status = :status, failure = :cause, execution_arn = :execution, kept_model = :kept",
            # Never over another execution's record (a run that failed before claiming its name).
            condition_expression="attribute_not_exists(run_name) OR execution_arn = :execution",
            expression_attribute_names={"#status": "status"},
            expression_attribute_values={
                ":execution": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.Execution.Id")),
                ":status": tasks.DynamoAttributeValue.from_string(RunStatus.FAILED),
                ":cause": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.error"))
                ),
                ":kept": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.kept.model_arn")),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
    )
    failed = sfn.Fail(scope, "Failed", error_path="$.error.Error", cause_path="$.error.Cause")
    notified = notify(scope, "Notify failure", topic, RunStatus.FAILED)
    # A run that failed past the quality gate kept its model ($.kept, which the record names); any other kept none.
    kept = sfn.Choice(scope, "Model kept?")
    kept.when(sfn.Condition.is_present("$.kept.model_arn"), record)
    kept.otherwise(
        sfn.Pass(
            scope, "No model kept", result=sfn.Result.from_object({"model_arn": "none"}), result_path="$.kept"
        ).next(record)
    )
    clean_up.add_catch(kept, errors=["States.ALL"], result_path="$.cleanup_error")
    record.add_catch(notified, errors=["States.ALL"], result_path="$.record_error")
    clean_up.next(kept)
    record.next(notified).next(failed)
    if remove_hyperpod_job is None:
        return clean_up
    retried(remove_hyperpod_job)
    remove_hyperpod_job.add_catch(clean_up, errors=["States.ALL"], result_path="$.hyperpod_cleanup_error")
    started = sfn.Choice(scope, "HyperPod job to remove?")
    started.when(sfn.Condition.is_present("$.prepared.hyperpod"), remove_hyperpod_job.next(clean_up))
    started.otherwise(clean_up)
    return started
