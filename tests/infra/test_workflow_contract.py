"""The names the state machine and the step handlers share come from ``customization.contract`` and match.

Read from the synthesized definitions (every committed environment and the pinned fixture) and from
the handlers' source, state by state: an error a state's Retry or Catch names must be one that
state's integration can raise (Step Functions' own, the service's, or, for a Lambda step, an
exception the code reachable from its handler raises); a variable a handler's code reads must be
one the construct sets on that function. A rename on one side only fails here.
"""

from __future__ import annotations

import ast

import botocore.session
import pytest
from sfn_harness.code import ASSETS, CODE
from sfn_harness.definition import every_state, resolved_definition

from customization import contract

# Step Functions' own errors (Amazon States Language, "Error names").
STATES_ERRORS = {
    "States.ALL",
    "States.TaskFailed",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "States.Permissions",
}
# Lambda invocation errors Step Functions documents beyond the Lambda API's own (aws-cdk-lib's LambdaInvoke
# retries them by default): https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
LAMBDA_INVOKE_ERRORS = {
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.AWSLambdaException",
}
# The optimized SageMaker integration reports every API error as one name (the cause says which):
# aws/aws-step-functions-data-science-sdk-python issue 191 and PR 162.
SAGEMAKER_OPTIMIZED_ERRORS = {"SageMaker.AmazonSageMakerException"}
# Error prefixes of the integrations used here: <Prefix>.<error shape>, with "Exception" appended where the
# shape's name lacks it (Step Functions, "AWS SDK service integrations", error names).
PREFIXES = {"bedrock": "Bedrock", "dynamodb": "DynamoDB", "sns": "SNS", "lambda": "Lambda"}
# Variables a function has that no handler of ours reads: Powertools' own setting.
LIBRARY_ENV = {"POWERTOOLS_SERVICE_NAME"}
SESSION = botocore.session.get_session()


def error_shapes(service: str) -> set[str]:
    return {shape.name for shape in SESSION.get_service_model(service).error_shapes}


def prefixed(service: str) -> set[str]:
    prefix = PREFIXES[service]
    names = set()
    for shape in error_shapes(service):
        names.add(f"{prefix}.{shape}")
        if not shape.endswith("Exception"):
            names.add(f"{prefix}.{shape}Exception")
    return names


CONTRACT_ERRORS = {
    name for name, value in vars(contract).items() if isinstance(value, type) and issubclass(value, Exception)
}


# --- the synthesized definitions ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_templates(committed, fixture_envs) -> dict[str, dict]:
    templates = {
        env: stacks["Workflow"].to_json() for env, stacks in committed.templates.items() if "Workflow" in stacks
    }
    templates["pinned"] = fixture_envs["pinned"].template("pinned", "Workflow").to_json()
    return templates


def handlers(template: dict) -> dict[str, tuple[str, dict]]:
    """Function logical id -> (handler, environment variables)."""
    return {
        logical_id: (
            resource["Properties"]["Handler"],
            resource["Properties"].get("Environment", {}).get("Variables", {}),
        )
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource["Properties"]
    }


def raisable(resource: str, functions: dict[str, tuple[str, dict]]) -> set[str]:
    """What a Task state with ``resource`` can fail with, besides Step Functions' own errors."""
    if resource.startswith("arn:aws:lambda:"):
        handler = functions[resource.rsplit(":", 1)[-1]][0]
        package, entry = handler.split(".")[0], handler.rsplit(".", 1)[-1]
        code = CODE[package]
        # Lambda reports an unhandled exception by its class name: the code's own, or boto3's modelled errors.
        botocore_errors = {shape for service in code.clients for shape in error_shapes(service)}
        return prefixed("lambda") | LAMBDA_INVOKE_ERRORS | code.raised(entry) | botocore_errors
    if ":states:::aws-sdk:" in resource:
        return prefixed(resource.split(":states:::aws-sdk:")[1].split(":")[0])
    if ":states:::sagemaker:" in resource:
        return SAGEMAKER_OPTIMIZED_ERRORS
    service = resource.split(":states:::")[1].split(":")[0]
    return prefixed(service)


def test_every_retried_or_caught_error_is_one_its_state_can_raise(workflow_templates):
    unknown: dict[str, list[str]] = {}
    caught_contract_errors: dict[str, set[str]] = {}
    for env, template in workflow_templates.items():
        functions = handlers(template)
        # As deployed: the Distributed Map's batch task is checked, not the harness's stand-in for the map.
        for name, state in every_state(resolved_definition(template)).items():
            if state["Type"] != "Task":
                continue
            named = {e for h in [*state.get("Retry", []), *state.get("Catch", [])] for e in h["ErrorEquals"]}
            allowed = STATES_ERRORS | raisable(state["Resource"], functions)
            for error in sorted(named - allowed):
                unknown.setdefault(env, []).append(f"{name}: {error}")
            caught_contract_errors.setdefault(name, set()).update(named & CONTRACT_ERRORS)
    assert unknown == {}
    # Where the steps' own errors are branched on: the bad-input and taken-name rejections, the retry of a busy
    # Kubernetes API on the HyperPod steps, and of throttled AWS calls on the steps that make them.
    hyperpod_steps = {"Submit HyperPod job", "Check HyperPod job", "Release HyperPod job", "Remove HyperPod job"}
    throttled = {"Locate checkpoint", "Locate HyperPod checkpoint"}
    assert {state: errors for state, errors in caught_contract_errors.items() if errors} == {
        "Validate": {"InvalidRunRequestError"},
        "Prepare": {"RunNameTakenError", "ServiceThrottledError"},
        **{state: {"KubeApiTransientError"} for state in hyperpod_steps},
        **{state: {"ServiceThrottledError"} for state in throttled},
        # A throughput still Creating is deleted again minutes later.
        "Clean up": {"ServiceThrottledError", "ResourceBusyError"},
    }


def test_the_contract_errors_are_the_handlers_errors():
    """The handlers raise these classes from the contract rather than defining their own."""
    defined = {
        node.name
        for function_list in CODE["customization_steps"].functions.values()
        for function in function_list
        for node in ast.walk(function)
        if isinstance(node, ast.ClassDef)
    }
    for folder in ASSETS["customization_steps"][:1]:
        for path in folder.glob("*.py"):
            defined |= {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)}
    assert not defined & CONTRACT_ERRORS


def test_handlers_read_the_environment_only_through_the_contract():
    for package, code in CODE.items():
        roots = [f for functions in code.functions.values() for f in functions] + code.module_level
        assert code.environment_reads(roots)[1] == [], package


def test_every_variable_a_handler_reads_is_set_on_its_function(workflow_templates):
    set_on: dict[str, set[str]] = {}
    for template in workflow_templates.values():
        for handler, variables in handlers(template).values():
            set_on.setdefault(handler, set()).update(variables)
            assert set(variables) - LIBRARY_ENV <= set(vars(contract.Env).values()), handler
    missing = {}
    for handler, variables in set_on.items():
        package, entry = handler.split(".")[0], handler.rsplit(".", 1)[-1]
        if package not in CODE:
            continue
        read, _ = CODE[package].environment_reads(CODE[package].reachable(entry))
        missing[handler] = sorted(read - contract.RUNTIME_ENV - variables)
    assert missing == {handler: [] for handler in missing}
    assert any(handler.startswith("customization_steps.hyperpod_steps.") for handler in missing)


def test_the_settings_of_every_steps_function_load_from_its_environment(workflow_templates):
    """What the construct sets is enough for ``Settings.from_environment``, in every environment."""
    from customization_steps.steps import Settings

    for env, template in workflow_templates.items():
        for handler, variables in handlers(template).values():
            if not handler.startswith("customization_steps.steps."):
                continue
            environ = {name: "1" for name in variables} | {contract.Env.AWS_REGION: "us-east-1"}
            settings = Settings.from_environment(environ)
            wired = contract.Platform.HYPERPOD in str(variables[contract.Env.PLATFORMS])
            assert (settings.hyperpod is not None) == wired, env


def test_no_retry_entry_is_shadowed_by_an_earlier_one(workflow_templates):
    """Step Functions uses the first retrier that matches: a later entry naming the same error never fires
    (aws-cdk-lib's LambdaInvoke puts its own retrier for Lambda's service errors first)."""
    shadowed = []
    for env, template in workflow_templates.items():
        for name, state in every_state(resolved_definition(template)).items():
            earlier: set[str] = set()
            for retrier in state.get("Retry", []):
                errors = set(retrier["ErrorEquals"])
                if "States.ALL" in earlier or errors & earlier:
                    shadowed.append(f"{env} {name}: {sorted(errors & earlier) or sorted(errors)}")
                earlier |= errors
    assert shadowed == []
