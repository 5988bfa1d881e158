"""The names the state machine and the step handlers share come from ``customization.contract`` and match.

Read from the synthesized templates (every committed environment and the pinned fixture, which
has HyperPod) and from the handlers' source: an error a Retry or Catch names must be one Step
Functions or the service can raise, or one a handler raises; a variable a handler reads must be
one the construct sets on that function. A rename on one side only fails here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
import pytest

from customization import contract

STEPS_PACKAGE = Path(__file__).resolve().parents[2] / "lambda" / "customization_steps" / "customization_steps"
# Step Functions' own errors (Amazon States Language, "Error names").
STATES_ERRORS = {
    "States.ALL",
    "States.TaskFailed",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "States.Permissions",
    "States.Runtime",
    "States.DataLimitExceeded",
    "States.ResultPathMatchFailure",
}
# An SDK or optimized integration raises <Service>.<error shape of the service's API model>.
SERVICE_MODELS = {"Bedrock": "bedrock", "DynamoDB": "dynamodb", "Lambda": "lambda", "SageMaker": "sagemaker"}
# Lambda invocation errors Step Functions documents beyond the Lambda API's own (aws-cdk-lib's LambdaInvoke
# retries them by default): https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
LAMBDA_INVOKE_ERRORS = {
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.AWSLambdaException",
}
# Variables a function has that no handler of ours reads: Powertools' own setting.
LIBRARY_ENV = {"POWERTOOLS_SERVICE_NAME"}


def asl(template) -> dict:
    [machine] = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))


@pytest.fixture(scope="module")
def workflow_templates(committed, fixture_envs) -> dict:
    templates = {env: stacks["Workflow"] for env, stacks in committed.templates.items() if "Workflow" in stacks}
    templates["pinned"] = fixture_envs["pinned"].template("pinned", "Workflow")
    return templates


def handled_errors(definition: dict) -> set[str]:
    return {
        error
        for state in definition["States"].values()
        for handler in [*state.get("Retry", []), *state.get("Catch", [])]
        for error in handler["ErrorEquals"]
    }


def service_errors() -> set[str]:
    session = botocore.session.get_session()
    return {
        f"{prefix}.{shape.name}"
        for prefix, service in SERVICE_MODELS.items()
        for shape in session.get_service_model(service).error_shapes
    }


def package_sources() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in STEPS_PACKAGE.glob("*.py")}


def raised_names() -> set[str]:
    """Exception class names the step handlers raise (``raise X(...)``, ``raise module.X(...)``)."""
    names = set()
    for tree in package_sources().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def environment_reads(tree: ast.Module) -> tuple[set[str], list[str]]:
    """(``Env`` names read, environment keys written as literals) in one module's source.

    A read is ``<mapping>[key]``, ``<mapping>.get(key, ...)`` or ``key in <mapping>`` where the mapping is
    ``os.environ`` or a name called ``env``/``environ``.
    """

    def is_environment(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id in {"env", "environ"}
        )

    keys: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_environment(node.value):
            keys.append(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            if is_environment(node.func.value) and node.args:
                keys.append(node.args[0])
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In) and is_environment(node.comparators[0]):
            keys.append(node.left)
    names, literals = set(), []
    for key in keys:
        if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name) and key.value.id == "Env":
            names.add(getattr(contract.Env, key.attr))
        else:
            literals.append(ast.unparse(key))
    return names, literals


def step_functions(template) -> dict[str, dict]:
    """Handler -> environment variables, for the functions that run the steps' package."""
    found: dict[str, dict] = {}
    for resource in template.find_resources("AWS::Lambda::Function").values():
        properties = resource["Properties"]
        if str(properties.get("Handler", "")).startswith("customization_steps."):
            found[properties["Handler"]] = properties.get("Environment", {}).get("Variables", {})
    return found


def test_every_retried_or_caught_error_is_one_that_can_be_raised(workflow_templates):
    contract_errors = {
        name for name, value in vars(contract).items() if isinstance(value, type) and issubclass(value, Exception)
    }
    raised = raised_names()
    known = STATES_ERRORS | service_errors() | LAMBDA_INVOKE_ERRORS | (contract_errors & raised)
    unknown = {env: sorted(handled_errors(asl(template)) - known) for env, template in workflow_templates.items()}
    assert unknown == {env: [] for env in workflow_templates}
    # The steps' own errors the state machine branches on are contract classes that a handler raises.
    steps_errors = {e for t in workflow_templates.values() for e in handled_errors(asl(t))} & contract_errors
    assert steps_errors == {"InvalidRunRequestError", "RunNameTakenError", "KubeApiTransientError"}
    assert steps_errors <= raised


def test_the_contract_errors_are_the_handlers_errors():
    """The handlers import these classes from the contract rather than defining their own."""
    defined = {
        node.name
        for tree in package_sources().values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and any(getattr(base, "id", "") == "Exception" for base in node.bases)
    }
    assert not defined & {"InvalidRunRequestError", "RunNameTakenError", "CheckpointNotFoundError"}
    assert not defined & {"TrainingImageNotFoundError", "KubeApiTransientError"}


def test_handlers_read_the_environment_only_through_the_contract():
    literals = {module: environment_reads(tree)[1] for module, tree in package_sources().items()}
    assert literals == {module: [] for module in literals}


def test_every_variable_a_step_reads_is_set_on_its_function(workflow_templates):
    sources = package_sources()
    reads = {module: environment_reads(tree)[0] for module, tree in sources.items()}
    # steps.Settings serves every handler in steps.py; the HyperPod jobs step reads its own.
    assert reads["steps"] and reads["hyperpod_steps"]
    set_somewhere: dict[str, set[str]] = {}
    for template in workflow_templates.values():
        for handler, variables in step_functions(template).items():
            module = handler.split(".")[1]
            set_somewhere.setdefault(module, set()).update(variables)
            assert set(variables) - LIBRARY_ENV <= set(vars(contract.Env).values()), handler
    missing = {
        module: sorted(reads[module] - contract.RUNTIME_ENV - set_somewhere.get(module, set())) for module in reads
    }
    assert missing == {module: [] for module in reads}


def test_the_settings_of_every_steps_function_load_from_its_environment(workflow_templates):
    """What the construct sets is enough for ``Settings.from_environment``, in every environment."""
    from customization_steps.steps import Settings

    for env, template in workflow_templates.items():
        for handler, variables in step_functions(template).items():
            if handler.startswith("customization_steps.steps."):
                environ = {name: "value" for name in variables} | {contract.Env.AWS_REGION: "us-east-1"}
                environ |= {
                    name: "1"
                    for name in (contract.Env.HYPERPOD_MAX_NODES, contract.Env.MAX_TRAINING_SECONDS)
                    if name in variables
                }
                settings = Settings.from_environment(environ)
                assert (settings.hyperpod is not None) == (contract.Platform.HYPERPOD in _platforms(template)), env


def _platforms(template) -> str:
    return str(step_functions(template)["customization_steps.steps.validate"][contract.Env.PLATFORMS])
