"""One execution of a definition on moto's ASL interpreter, with scripted task results and no real waiting.

moto 5.2.5 runs a state machine when ``execute_state_machine`` is on; what it lacks is patched here,
inside the interpreter only (the team's notes on moto 5.2.5 say the same):

- task results come from a script, one result per *visit* of a state (moto numbers mocked results per
  retry, so a polling loop that re-enters a state would see the same one);
- Wait states and retry back-off do not sleep;
- ``.sync`` on an integration moto does not implement (SageMaker) is accepted: its scripted result is the
  job's final Describe* output, as Step Functions returns it;
- a Choice rule comparing a variable that is not there fails with ``States.Runtime``, as on AWS (moto
  compares it as false); only ``IsPresent`` may test a missing variable.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
    ComparisonOperatorType,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import ComparisonVariable
from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.mocking.mock_config import MockedResponseReturn, MockedResponseThrow

from sfn_harness.definition import ACCOUNT
from sfn_harness.responses import Return, Throw

Script = Mapping[str, Sequence[Return | Throw]]
# The interpreter logs every JSONPath it cannot resolve at ERROR; the execution's history says it once.
logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
_RUN_LOCK = threading.Lock()  # the patches are process-wide: one execution at a time per process
ROLE = f"arn:aws:iam::{ACCOUNT}:role/workflow"
_PARSE = AmazonStateLanguageParser.parse
_PARSED: dict[str, Any] = {}


def _parse_once(definition: str) -> Any:
    """The interpreter parses a definition when the state machine is created and again for each execution, most of
    a second each for prod's. The parsed program holds no state of a run: what an execution changes lives in its
    Environment (moto 5.2.5's asl/component classes assign attributes only while they are built), so one parse per
    definition and process serves every run. A definition that does not parse raises each time."""
    if definition not in _PARSED:
        _PARSED[definition] = _PARSE(definition)
    return _PARSED[definition]


class ScriptExhaustedError(AssertionError):
    """A state was visited more often than the script has results for it."""


@dataclass
class Execution:
    """What one execution did: its end, the states it entered in order, and each task's input per visit."""

    status: str
    path: list[str]
    task_inputs: dict[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None
    output: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def input_of(self, state: str, visit: int = -1) -> Any:
        return self.task_inputs[state][visit]

    def first_error(self) -> dict[str, Any] | None:
        """The first failure event's details (a task's error, or the interpreter's own)."""
        for event in self.history:
            for key, value in event.items():
                if key.endswith("FailedEventDetails") and isinstance(value, dict):
                    return {"type": event["type"], **value}
        return None


def run(
    definition: Mapping[str, Any],
    execution_input: Mapping[str, Any],
    script: Script,
    *,
    name: str = "run",
    region: str = "us-east-1",
    timeout_seconds: float = 60,
) -> Execution:
    """Runs ``definition`` on ``execution_input``; every Task state it enters must be in ``script``."""
    visits: dict[str, int] = {}
    misses: list[str] = []
    # A Lambda task's scripted result is what the function returns; the interpreter expects Invoke's answer.
    functions = {
        name
        for name, state in definition["States"].items()
        if str(state.get("Resource", "")).startswith("arn:aws:lambda:")
    }

    def mocked_mode(env: Environment) -> bool:
        return True

    def next_result(env: Environment) -> MockedResponseReturn | MockedResponseThrow:
        state = env.next_state_name
        results = script.get(state, ())
        visit = visits.get(state, 0)
        visits[state] = visit + 1
        if visit >= len(results):
            misses.append(f"{state} (visit {visit + 1}, {len(results)} scripted)")
            return MockedResponseThrow(0, 0, "HarnessScriptExhausted", f"no scripted result for {state}")
        result = results[visit]
        if isinstance(result, Throw):
            return MockedResponseThrow(0, 0, result.error, result.cause)
        payload = json.loads(json.dumps(result.payload))
        return MockedResponseReturn(0, 0, {"StatusCode": 200, "Payload": payload} if state in functions else payload)

    patches = [
        mock.patch.object(ComparisonVariable, "_eval_body", _strict_comparison),
        mock.patch.object(Environment, "is_mocked_mode", mocked_mode),
        mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(_parse_once)),
        mock.patch.object(Environment, "get_current_mocked_response", next_result),
        mock.patch.object(WaitFunction, "_wait_interval", lambda self, env, wait_seconds: None),
        mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: None)),
        mock.patch.object(
            state_task_service_unsupported,
            "_SUPPORTED_INTEGRATION_PATTERNS",
            {ResourceCondition.WaitForTaskToken, ResourceCondition.Sync},
        ),
    ]
    with _RUN_LOCK, mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        for patch in patches:
            patch.start()
        try:
            client = boto3.client("stepfunctions", region_name=region)
            machine = client.create_state_machine(name="workflow", definition=json.dumps(definition), roleArn=ROLE)
            arn = client.start_execution(
                stateMachineArn=machine["stateMachineArn"], name=name, input=json.dumps(execution_input)
            )["executionArn"]
            deadline = time.monotonic() + timeout_seconds
            described = client.describe_execution(executionArn=arn)
            while described["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"execution still running after {timeout_seconds} s; path so far: {visits}")
                time.sleep(0.02)
                described = client.describe_execution(executionArn=arn)
            history = client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        finally:
            for patch in reversed(patches):
                patch.stop()
    execution = _execution(described, history)
    if misses:
        raise ScriptExhaustedError(
            "the script ran out for: "
            + "; ".join(misses)
            + "\npath: "
            + " -> ".join(execution.path)
            + f"\nfirst error: {execution.first_error()}"
        )
    return execution


def _strict_comparison(self: ComparisonVariable, env: Environment) -> None:
    """A comparison on a missing variable fails the execution with States.Runtime, as AWS does."""
    self.variable.eval(env)
    missing = env.stack[-1]
    if (
        isinstance(missing, NoSuchVariable)
        and self.comparison_function.operator_type != ComparisonOperatorType.IsPresent
    ):
        cause = f"Invalid path '{missing.path}': the Choice state's variable is not in its input"
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=StatesErrorNameType.StatesRuntime.to_name(), cause=cause
                    )
                ),
            )
        )
    self.comparison_function.eval(env)


def _execution(described: dict[str, Any], history: list[dict[str, Any]]) -> Execution:
    path: list[str] = []
    inputs: dict[str, list[Any]] = {}
    current = ""
    for event in history:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            current = entered["name"]
            path.append(current)
        scheduled = event.get("taskScheduledEventDetails") or event.get("lambdaFunctionScheduledEventDetails")
        if scheduled:
            inputs.setdefault(current, []).append(
                json.loads(scheduled.get("parameters") or scheduled.get("input") or "null")
            )
    return Execution(
        status=described["status"],
        path=path,
        task_inputs=inputs,
        error=described.get("error"),
        cause=described.get("cause"),
        output=json.loads(described["output"]) if described.get("output") else None,
        history=history,
    )
