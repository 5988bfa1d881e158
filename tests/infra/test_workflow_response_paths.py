"""Every JSONPath that reads an AWS response reads a member that is there at that moment.

A ResultSelector that reads an absent member raises ``States.Runtime``, which ``States.ALL`` does not
catch: no clean-up, no record, no notification. So, over every synthesized definition, each member a
ResultSelector reads must be required in botocore's output shape (and not one AWS is known to omit,
``sfn_harness.responses.ABSENT_REQUIRED``), or have a documented guarantee listed here, checked where
it can be.
"""

from __future__ import annotations

import botocore.session
import pytest
from botocore.model import StructureShape
from sfn_harness.definition import state_machine
from sfn_harness.responses import ABSENT_REQUIRED

SESSION = botocore.session.get_session()
OPTIMIZED = {"sagemaker:createTrainingJob.sync": ("sagemaker", "DescribeTrainingJob")}
# A job's status: Get* marks it optional, but the service's list summaries of the same jobs require it
# (checked below against botocore), so every job has one.
STATUS_OF_EVERY_JOB = {
    ("bedrock", "GetModelCustomizationJob", "status"): "ModelCustomizationJobSummary",
    ("bedrock", "GetModelImportJob", "status"): "ModelImportJobSummary",
}
# Read only once the status the loop checks says the job is done (checked below on the definition).
ONCE_COMPLETED = {
    ("bedrock", "GetModelCustomizationJob", "outputModelArn"): "Completed",
    ("bedrock", "GetModelImportJob", "importedModelArn"): "Completed",
}
# Documented outside the model: CreateCustomModel's model is followed with GetCustomModel until modelStatus
# is Active (Bedrock user guide, "Import a SageMaker AI-trained Amazon Nova model"; API reference,
# GetCustomModel: modelStatus, "The current status of the model").
DOCUMENTED = {("bedrock", "GetCustomModel", "modelStatus")}


@pytest.fixture(scope="module")
def definitions(committed, fixture_envs) -> dict[str, dict]:
    found = {
        env: state_machine(stacks["Workflow"].to_json())
        for env, stacks in committed.templates.items()
        if "Workflow" in stacks
    }
    found["pinned"] = state_machine(fixture_envs["pinned"].template("pinned", "Workflow").to_json())
    return found


# Optimized integrations whose result the definition discards (ResultPath null); nothing reads their response.
DISCARDED = {"dynamodb:updateItem", "sns:publish"}


def operation(resource: str) -> tuple[str, str] | None:
    """(botocore service, operation) of an AWS integration's response; None for a Lambda step or a discarded
    result. An integration this rule does not know fails it."""
    if ":states:::aws-sdk:" in resource:
        service, action = resource.split(":states:::aws-sdk:")[1].split(":")
        return service, action[0].upper() + action[1:]
    if ":states:::" not in resource:
        return None
    integration = resource.split(":states:::")[-1]
    assert integration in OPTIMIZED or integration in DISCARDED, f"{resource}: an integration this rule does not know"
    return OPTIMIZED.get(integration)


def members_read(selector: dict) -> list[list[str]]:
    """The response member paths a ResultSelector reads (``$.A.B`` -> ["A", "B"])."""
    paths = []
    for key, value in selector.items():
        if isinstance(value, dict):
            paths += members_read(value)
        elif key.endswith(".$") and isinstance(value, str) and value.startswith("$."):
            paths.append(value[2:].split("."))
    return paths


def walk(service: str, operation_name: str, path: list[str]) -> list[tuple[str, bool]]:
    """(botocore member name, required) along ``path``; SDK integrations capitalize the member names."""
    shape = SESSION.get_service_model(service).operation_model(operation_name).output_shape
    found = []
    for part in path:
        assert isinstance(shape, StructureShape), f"{service}.{operation_name}: {part} is below a non-structure"
        [name] = [m for m in shape.members if m.lower() == part.lower()] or [None]
        assert name is not None, f"{service}.{operation_name} has no member {part}"
        found.append((name, name in shape.required_members))
        shape = shape.members[name]
    return found


def predecessors(definition: dict, target: str) -> list[tuple[str, dict]]:
    """(state, the transition into ``target``) for every state that can go to ``target``."""
    found = []
    for name, state in definition["States"].items():
        for choice in state.get("Choices", []):
            if choice.get("Next") == target:
                found.append((name, choice))
        if target in (state.get("Next"), state.get("Default")):
            found.append((name, state))
        found += [(name, c) for c in state.get("Catch", []) if c.get("Next") == target]
    return found


def test_every_aws_result_is_selected_or_discarded(definitions):
    """The whole response never lands in the state: what it holds varies, and later states read it unchecked."""
    kept = [
        f"{env}: {name}"
        for env, definition in definitions.items()
        for name, state in definition["States"].items()
        if ":states:::" in str(state.get("Resource", ""))
        and "ResultSelector" not in state
        and state.get("ResultPath", "$") is not None
    ]
    assert kept == []


def test_every_response_member_a_result_selector_reads_is_there_at_that_moment(definitions):
    unguaranteed = []
    for env, definition in definitions.items():
        for name, state in definition["States"].items():
            assert state["Type"] not in ("Map", "Parallel"), f"{name}: walk nested states too"
            target = operation(str(state.get("Resource", "")))
            if target is None or "ResultSelector" not in state:
                continue
            service, operation_name = target
            for path in members_read(state["ResultSelector"]):
                for member, required in walk(service, operation_name, path):
                    key = (service, operation_name, member)
                    if required and key not in ABSENT_REQUIRED:
                        continue
                    if key in STATUS_OF_EVERY_JOB or key in DOCUMENTED:
                        continue
                    if key in ONCE_COMPLETED and reached_only_when(definition, name, ONCE_COMPLETED[key]):
                        continue
                    unguaranteed.append(f"{env}: {name} reads {service}.{operation_name} {'.'.join(path)}")
    assert unguaranteed == []


def reached_only_when(definition: dict, state: str, status: str) -> bool:
    """Whether every way into ``state`` is a Choice branch that matched ``status`` exactly."""
    ways = predecessors(definition, state)
    return bool(ways) and all(
        definition["States"][source]["Type"] == "Choice" and transition.get("StringEquals") == status
        for source, transition in ways
    )


def test_the_job_statuses_read_as_always_there_are_required_in_the_services_summaries():
    for (service, _, member), summary in STATUS_OF_EVERY_JOB.items():
        assert member in SESSION.get_service_model(service).shape_for(summary).required_members


def test_the_rule_refuses_a_member_aws_omits_although_botocore_requires_it():
    [(member, required)] = walk("sagemaker", "DescribeTrainingJob", ["ModelArtifacts"])
    assert required and ("sagemaker", "DescribeTrainingJob", member) in ABSENT_REQUIRED
