"""Long AWS jobs that Step Functions has no ``.sync`` integration for: start, wait, check, branch.

Bedrock customization jobs, model imports, deployments, throughputs and HyperPod jobs are
polled: wait, describe, branch on the status; each wait is longer than the last (``step``
more, up to ``longest``), so a six-hour job costs a few hundred state transitions, not
thousands. :func:`polled_job` is the one shape every such job takes here: the start task
(if the workflow starts the job), the loop, and on a failed status a record of why, handed to
the failure path. A job AWS does not bound itself (a Bedrock customization job has no stopping
condition) gets a :class:`Deadline`: the loop counts the seconds it has waited and, past the
deadline, fails the run through the same failure path, whose clean-up stops the job. The run's
own deadlines are shorter than the state machine's overall timeout, because an execution that
times out runs no clean-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct


@dataclass(frozen=True)
class Polling:
    """How long to wait between checks; the defaults suit jobs of minutes to hours."""

    first_wait_seconds: int = 60
    """The wait before the first check."""
    step_seconds: int = 60
    """How much longer each following wait is."""
    longest_wait_seconds: int = 600
    """The cap on one wait (10 minutes)."""


# Jobs that take hours (training, customization): the first check after 10 minutes, then each wait 10 minutes longer
# up to an hour. Each check costs an execution about 17 history events, and Step Functions fails an execution at
# 25,000 (quotas, "Maximum execution history size"), without clean-up: hourly, the longest run config allows
# (workflow.max_training_hours 672) stays well under it; every 10 minutes it would not.
HOURS_LONG = Polling(first_wait_seconds=600, step_seconds=600, longest_wait_seconds=3600)

# How long the run waits for the jobs AWS finishes on its own but documents no upper time for (a
# budget, not an AWS figure): a model import or an on-demand deployment, a provisioned throughput.
# Bedrock documents no creation time; public tools wait about an hour for a throughput or deployment.
IMPORT_HOURS = 8
DEPLOYMENT_HOURS = 2
THROUGHPUT_HOURS = 2
# A HyperPod job's own deadline (its PyTorchJob's activeDeadlineSeconds) fires first and says why.
HYPERPOD_GRACE_HOURS = 1


def hours(count: int) -> int:
    return count * 3600


@dataclass(frozen=True)
class Deadline:
    """How long the loop may wait for its job, and the run's error once it has waited that long."""

    seconds: int
    """Seconds of waiting (the sum of the loop's waits) after which the run fails."""
    error: str
    """The run's error name past the deadline (``TrainingTimedOut``, ...)."""
    cause: str
    """The run's cause past the deadline (a literal)."""


@dataclass(frozen=True)
class PolledJob:
    """One job the workflow waits for.

    ``check`` describes the job and puts its status at ``status_path``; ``done`` and ``failed``
    are the statuses that end the wait. On a failed status the run fails with ``error`` and
    ``cause`` (a literal, or a ``JsonPath.format`` that reads the check's result).
    """

    name: str
    """Prefix of the loop's state names (``<name>: wait``)."""
    key: str
    """Names the loop's wait counter (``$.waits.<key>``)."""
    check: sfn.TaskStateBase
    """Describes the job (no default)."""
    status_path: str
    """Where ``check`` leaves the job's status (``$.<result>.status``)."""
    done: Sequence[str]
    """Statuses that end the wait well."""
    failed: Sequence[str]
    """Statuses that fail the run."""
    error: str
    """The run's error name on a failed status (``ImportFailed``, ...)."""
    cause: str
    """The run's cause on a failed status: a literal, or a ``JsonPath.format`` reading the check's result."""
    start: sfn.TaskStateBase | None = None
    """The task that starts the job; ``None`` when an earlier state started it (Prepare, say)."""
    polling: Polling = Polling()
    """Default: first check after 1 minute, each wait 1 minute longer, at most 10."""
    failed_state: str = ""
    """The name of the state that records the failure; default ``<name> failed``."""
    deadline: Deadline | None = None
    """Default: the loop waits as long as the job runs (AWS bounds the job)."""


def polled_job(
    scope: Construct,
    job: PolledJob,
    *,
    guard: Callable[[sfn.TaskStateBase], sfn.TaskStateBase],
    failure: sfn.IChainable,
    on_done: sfn.IChainable,
) -> sfn.IChainable:
    """start -> wait -> check -> (done: ``on_done`` | failed: record why, then ``failure`` | else: wait longer).

    ``guard`` gives the start and check tasks their retries and their catch to the failure path.
    Returns the first state (the start task, or the first wait).
    """
    failed = _reason(scope, job.failed_state or f"{job.name} failed", job.error, job.cause).next(failure)
    timed_out = (
        _reason(scope, f"{job.name} timed out", job.deadline.error, job.deadline.cause).next(failure)
        if job.deadline is not None
        else None
    )
    loop = poll_until(
        scope,
        job.name,
        key=job.key,
        check=guard(job.check),
        status_path=job.status_path,
        done=job.done,
        failed=job.failed,
        polling=job.polling,
        on_done=on_done,
        on_failed=failed,
        deadline=(job.deadline.seconds, timed_out) if job.deadline is not None and timed_out is not None else None,
    )
    return loop if job.start is None else guard(job.start).next(loop)


def poll_until(
    scope: Construct,
    name: str,
    *,
    key: str,
    check: sfn.TaskStateBase,
    status_path: str,
    done: Sequence[str],
    failed: Sequence[str],
    polling: Polling,
    on_done: sfn.IChainable,
    on_failed: sfn.IChainable,
    deadline: tuple[int, sfn.IChainable] | None = None,
) -> sfn.Pass:
    """The loop alone; its first state resets the wait counter, so a loop entered twice starts short again.

    With a ``deadline`` (seconds, where to go past them) the counter also sums the waits done
    (``elapsed``); each next wait is planned after its check, and past the deadline the loop leaves.
    """
    counter = f"$.waits.{key}"
    start = sfn.Pass(
        scope,
        f"{name}: start waiting",
        result=sfn.Result.from_object(
            {"seconds": polling.first_wait_seconds} | ({"elapsed": 0} if deadline is not None else {})
        ),
        result_path=counter,
    )
    wait = sfn.Wait(scope, f"{name}: wait", time=sfn.WaitTime.seconds_path(f"{counter}.seconds"))
    status = sfn.Choice(scope, f"{name}: status?")
    cap = sfn.Choice(scope, f"{name}: longest wait?")
    # Both read the wait just done: the next is longer (or as long), and elapsed grows by the last.
    elapsed = {"elapsed.$": f"States.MathAdd({counter}.elapsed, {counter}.seconds)"} if deadline is not None else {}
    longer = sfn.Pass(
        scope,
        f"{name}: wait longer",
        parameters={"seconds.$": f"States.MathAdd({counter}.seconds, {polling.step_seconds})"} | elapsed,
        result_path=counter,
    )
    start.next(wait)
    wait.next(check)
    check.next(status)
    status.when(_any(status_path, done), on_done)
    status.when(_any(status_path, failed), on_failed)
    status.otherwise(cap)
    cap.otherwise(longer)
    at_longest = sfn.Condition.number_greater_than_equals(f"{counter}.seconds", polling.longest_wait_seconds)
    if deadline is None:
        cap.when(at_longest, wait)
        longer.next(wait)
        return start
    seconds, timed_out = deadline
    same = sfn.Pass(
        scope, f"{name}: wait as long", parameters={"seconds.$": f"{counter}.seconds"} | elapsed, result_path=counter
    )
    past = sfn.Choice(scope, f"{name}: past the deadline?")
    past.when(sfn.Condition.number_greater_than_equals(f"{counter}.elapsed", seconds), timed_out)
    past.otherwise(wait)
    cap.when(at_longest, same.next(past))
    longer.next(past)
    return start


def _reason(scope: Construct, construct_id: str, error: str, cause: str) -> sfn.Pass:
    """Puts the run's error at ``$.error``; a literal cause is a fixed result, one read from the state a parameter."""
    reason = {"Error": error, "Cause": cause}
    if sfn.JsonPath.is_encoded_json_path(cause):
        return sfn.Pass(scope, construct_id, parameters=reason, result_path="$.error")
    return sfn.Pass(scope, construct_id, result=sfn.Result.from_object(reason), result_path="$.error")


def _any(path: str, values: Sequence[str]) -> sfn.Condition:
    conditions = [sfn.Condition.string_equals(path, value) for value in values]
    return conditions[0] if len(conditions) == 1 else sfn.Condition.or_(*conditions)
