"""A wait-and-check loop for long AWS jobs that Step Functions has no ``.sync`` integration for.

Bedrock customization jobs, model imports and deployments are polled: wait, describe,
branch on the status; each wait is longer than the last (60 s more, up to ``max_wait``),
so a six-hour job costs a few hundred state transitions, not thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct


@dataclass(frozen=True)
class PollSpec:
    """``status_path`` is where ``check`` puts the job's status; ``key`` names the loop's wait counter."""

    key: str
    check: sfn.TaskStateBase
    status_path: str
    done: Sequence[str]
    failed: Sequence[str]
    first_wait_seconds: int = 60
    step_seconds: int = 60
    max_wait_seconds: int = 600


def poll_until(
    scope: Construct, name: str, spec: PollSpec, *, on_done: sfn.IChainable, on_failed: sfn.IChainable
) -> sfn.Pass:
    """The loop's first state; it continues at ``on_done`` or ``on_failed``."""
    counter = f"$.waits.{spec.key}"
    start = sfn.Pass(
        scope,
        f"{name}: start waiting",
        result=sfn.Result.from_object({"seconds": spec.first_wait_seconds}),
        result_path=counter,
    )
    wait = sfn.Wait(scope, f"{name}: wait", time=sfn.WaitTime.seconds_path(f"{counter}.seconds"))
    status = sfn.Choice(scope, f"{name}: status?")
    cap = sfn.Choice(scope, f"{name}: longest wait?")
    longer = sfn.Pass(
        scope,
        f"{name}: wait longer",
        parameters={"seconds.$": f"States.MathAdd({counter}.seconds, {spec.step_seconds})"},
        result_path=counter,
    )
    start.next(wait)
    wait.next(spec.check)
    spec.check.next(status)
    status.when(_any(spec.status_path, spec.done), on_done)
    status.when(_any(spec.status_path, spec.failed), on_failed)
    status.otherwise(cap)
    cap.when(sfn.Condition.number_greater_than_equals(f"{counter}.seconds", spec.max_wait_seconds), wait)
    cap.otherwise(longer)
    longer.next(wait)
    return start


def _any(path: str, values: Sequence[str]) -> sfn.Condition:
    conditions = [sfn.Condition.string_equals(path, value) for value in values]
    return conditions[0] if len(conditions) == 1 else sfn.Condition.or_(*conditions)
