"""Customization runs executed offline: each environment's synthesized state machine on moto's interpreter.

Validate and Prepare answer as the real steps do for that environment; AWS answers with results
checked against botocore's output shapes, holding only what AWS returns at that moment (no
``OutputModelArn`` before a job completed, no ``ModelArtifacts`` for a Nova training job). Every
technique and platform pair Validate accepts reaches success; every kind of failure ends in
``Record failure`` and ``Notify failure`` with its reason, never in an uncaught ``States.Runtime``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from sfn_harness import cases
from sfn_harness.definition import every_state, resolved_definition, state_machine
from sfn_harness.responses import Return, Throw, sdk_integration_result
from sfn_harness.runner import Execution, run

from customization.contract import IMPORT, Approval, HyperPodJobStatus, InvalidRunRequestError, RunStatus
from customization.recipes import Recipe, load_all

pytestmark = pytest.mark.heavy(30)  # 45 runs on the ASL interpreter

ENVIRONMENTS = ("dev", "staging", "prod")
TRAINING_STATE = {
    "sagemaker-training-job": "Train on SageMaker",
    "hyperpod": "Submit HyperPod job",
    "bedrock": "Check customization job",
}


@dataclasses.dataclass(frozen=True)
class Environment:
    definition: dict[str, Any]
    settings: Any
    deployed: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The definition as deployed (Distributed Maps not stood in for)."""


@pytest.fixture(scope="module")
def environments(committed) -> dict[str, Environment]:
    found = {}
    for name in ENVIRONMENTS:
        template = committed.template(name, "Workflow").to_json()
        found[name] = Environment(state_machine(template), cases.settings_for(template), resolved_definition(template))
    return found


@pytest.fixture(scope="module")
def catalog() -> dict[str, Recipe]:
    return load_all()


def with_nodes(environment: Environment, nodes: int) -> Environment:
    """The same environment with its restricted group's count raised (Lite SFT, DPO: 4 nodes; PPO 7; CPT 16)."""
    limits = dataclasses.replace(environment.settings.limits, hyperpod_max_nodes=nodes)
    return dataclasses.replace(environment, settings=dataclasses.replace(environment.settings, limits=limits))


def runtime_errors(execution: Execution) -> list[dict[str, Any]]:
    """``States.Runtime`` failures: AWS does not let ``States.ALL`` catch them, so no clean-up would run."""
    return [
        details
        for event in execution.history
        for key, details in event.items()
        if key.endswith("FailedEventDetails") and isinstance(details, dict) and details.get("error") == "States.Runtime"
    ]


def succeeded(execution: Execution, run_case: cases.Run) -> dict[str, Any]:
    """Asserts a clean success; returns the lineage update's values."""
    assert runtime_errors(execution) == []
    assert (execution.status, execution.error) == ("SUCCEEDED", None), execution.first_error()
    assert execution.path[-3:] == ["Record lineage", "Notify success", "Customized"]
    assert "Clean up" not in execution.path
    record = execution.input_of("Record lineage")
    assert record["Key"] == {"run_name": {"S": run_case.request["run_name"]}}
    published = execution.input_of("Notify success")["Message"]
    assert published.startswith(f"{RunStatus.SUCCEEDED} ") and json.loads(published.split(" ", 1)[1])["request"]
    return dict(record["ExpressionAttributeValues"])


def failed_with(execution: Execution, error: str) -> dict[str, Any]:
    """Asserts the run failed through the failure path with ``error``; returns the failure record's values."""
    assert runtime_errors(execution) == []
    assert (execution.status, execution.error) == ("FAILED", error), execution.first_error()
    assert execution.path[-3:] == ["Record failure", "Notify failure", "Failed"]
    values = dict(execution.input_of("Record failure")["ExpressionAttributeValues"])
    assert values[":status"] == {"S": RunStatus.FAILED}
    assert json.loads(values[":cause"]["S"])["Error"] == error
    assert execution.input_of("Notify failure")["Message"].startswith(f"{RunStatus.FAILED} ")
    return values


# (environment, example, changes to it); together they cover every technique x platform pair Validate
# accepts and every deploy mode. Nova Lite's public SFT and DPO recipes start at 4 nodes, more than prod's
# group (2): on HyperPod they run in prod with its group raised to 4, at replicas 4.
SMALLEST_LITE_GROUP = {"platform": "hyperpod", "overrides": {"replicas": 4}}
SUCCESSES = [
    ("prod", "sft_lora", {}),
    ("prod-4", "sft_lora", SMALLEST_LITE_GROUP),
    ("dev", "sft_lora_bedrock", {"deploy_mode": "none"}),
    ("dev", "sft_full", {}),
    ("prod-4", "sft_full", SMALLEST_LITE_GROUP),
    ("staging", "dpo_lora", {}),
    ("prod-4", "dpo_lora", SMALLEST_LITE_GROUP),
    ("prod", "dpo_full", {}),
    ("prod-4", "dpo_full", SMALLEST_LITE_GROUP),
    ("prod-16", "ppo", {}),
    ("prod-16", "cpt", {}),
    ("dev", "distillation", {}),
    ("staging", "import_open_weight", {"deploy_mode": "on-demand"}),
    ("dev", "import_open_weight", {"deploy_mode": "none"}),
]


EVALUATED_ON = {
    **dict.fromkeys(("sft_lora", "dpo_lora", "distillation"), "on-demand deployment"),
    **dict.fromkeys(("sft_full", "dpo_full", "ppo", "cpt"), "provisioned throughput"),
    IMPORT: "its own ARN",
}


# Prod with its restricted group raised: to Nova Lite's smallest SFT/DPO group, and to the CPT recipe's 16 nodes.
RAISED_PROD = {"prod-4": 4, "prod-16": 16}


def environment_for(environments: dict[str, Environment], name: str) -> Environment:
    return with_nodes(environments["prod"], RAISED_PROD[name]) if name in RAISED_PROD else environments[name]


@pytest.mark.parametrize(
    ("env", "name", "changes"), SUCCESSES, ids=[f"{e}-{n}-{i}" for i, (e, n, _) in enumerate(SUCCESSES)]
)
def test_every_technique_and_platform_runs_to_success(environments, catalog, env, name, changes):
    environment = environment_for(environments, env)
    case = cases.started(
        cases.example(name, run_name=f"run-{name}".replace("_", "-"), **changes), environment.settings, catalog
    )
    cases.served(cases.evaluated(cases.trained(case)))

    execution = run(environment.definition, case.execution_input, case.script)

    values = succeeded(execution, case)
    technique, platform, mode = (case.request[k] for k in ("technique", "platform", "deploy_mode"))
    if technique == IMPORT:
        assert "Import open-weight model" in execution.path and "Deploy for evaluation" not in execution.path
        assert values[":approved"] == {"S": Approval.APPROVED_IMPORTED}
    else:
        assert TRAINING_STATE[platform] in execution.path
        assert values[":approved"] == {"S": Approval.APPROVED}
    assert values[":model"]["S"].startswith("arn:aws:bedrock:")
    # A customized model is left to the Serving stack: nothing the run made serves it, or bills, after the run.
    expected_serving = "imported-model" if (technique, mode) == (IMPORT, "on-demand") else "none"
    assert expected_serving in values[":serving"]["S"]
    if technique != IMPORT:
        assert {"Remove evaluation deployment", "Remove evaluation throughput"} & set(execution.path)
    # How the model was invoked for evaluation, by technique (Nova user guide: no on-demand for full rank).
    evaluated_on = {
        "Deploy for evaluation" in execution.path: "on-demand deployment",
        "Provision for evaluation" in execution.path: "provisioned throughput",
    }.get(True, "its own ARN")
    assert evaluated_on == EVALUATED_ON[technique]


def test_a_sagemaker_run_locates_its_checkpoint_in_the_output_archive_not_model_artifacts(environments, catalog):
    case = cases.served(
        cases.evaluated(cases.trained(cases.started(cases.example("sft_lora"), environments["dev"].settings, catalog)))
    )

    execution = run(environments["dev"].definition, case.execution_input, case.script)

    succeeded(execution, case)
    archive = execution.input_of("Locate checkpoint")["output_archive"]
    assert archive == "s3://acme-artifacts/runs/run/output/run-train/output/output.tar.gz"
    assert execution.input_of("Import into Bedrock")["ModelSourceConfig"] == {"S3DataSource": {"S3Uri": cases.ESCROW}}


def test_a_bedrock_run_reads_the_output_model_only_once_the_job_completed(environments, catalog):
    case = cases.started(cases.example("sft_lora_bedrock"), environments["dev"].settings, catalog)
    cases.served(cases.evaluated(cases.trained(case)))

    execution = run(environments["dev"].definition, case.execution_input, case.script)

    succeeded(execution, case)
    assert execution.path.count("Check customization job") == 2  # InProgress (no OutputModelArn), Completed
    assert execution.input_of("Deploy for evaluation")["ModelArn"].endswith(
        "custom-model/amazon.nova-lite-v1:0:300k/abcdef123456"
    )


def prod_run(environments, catalog, name: str = "sft_lora", **changes: Any) -> cases.Run:
    return cases.started(cases.example(name, **changes), environments["prod"].settings, catalog)


def hyperpod_run(environments, catalog) -> cases.Run:
    """A HyperPod sft_lora run on Nova Lite's smallest group, prod's raised to 4 (same state machine as prod)."""
    return cases.started(
        cases.example("sft_lora", **SMALLEST_LITE_GROUP), environment_for(environments, "prod-4").settings, catalog
    )


def test_a_failed_training_job_is_cleaned_up_recorded_and_notified_with_its_own_reason(environments, catalog):
    # How the SageMaker integration reports a failure (aws/aws-step-functions-data-science-sdk-python issue
    # 191); not retried, so the record keeps the job's own reason.
    failure = Throw("SageMaker.AmazonSageMakerException", "Training job run-train failed. Reason: AlgorithmError")
    case = prod_run(environments, catalog).answer("Train on SageMaker", failure)
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    values = failed_with(execution, "SageMaker.AmazonSageMakerException")
    assert "AlgorithmError" in json.loads(values[":cause"]["S"])["Cause"]
    assert execution.path.count("Train on SageMaker") == 1
    assert execution.input_of("Clean up")["prepared"]["sagemaker"]["job_name"] == "run-train"


def test_a_failed_hyperpod_job_is_removed_before_clean_up_and_says_which_job_failed(environments, catalog):
    case = hyperpod_run(environments, catalog)
    objects = [obj["name"] for obj in case.plan["hyperpod"]["objects"]]
    case.answer("Submit HyperPod job", Return({"created": objects})).answer(
        "Check HyperPod job", Return({"status": HyperPodJobStatus.FAILED, "detail": f"{objects[-1]}: DeadlineExceeded"})
    )
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    values = failed_with(execution, "HyperPodJobFailed")
    assert "DeadlineExceeded" in json.loads(values[":cause"]["S"])["Cause"]
    assert execution.path.index("Remove HyperPod job") < execution.path.index("Clean up")


def test_a_failed_customization_job_is_recorded(environments, catalog):
    case = cases.started(cases.example("sft_lora_bedrock"), environments["dev"].settings, catalog)
    job = case.plan["bedrock"]["job_arn"]
    case.answer(
        "Check customization job", cases.customization_job(job, "InProgress"), cases.customization_job(job, "Failed")
    )
    execution = run(environments["dev"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "CustomizationFailed")


def test_a_failed_import_deletes_nothing_it_did_not_make_and_is_recorded(environments, catalog):
    case = prod_run(environments, catalog)
    case.answer("Train on SageMaker", cases.training_job(case.plan["sagemaker"], "Completed")).answer(
        "Locate checkpoint", Return({"uri": cases.ESCROW})
    ).then(**cases.bedrock_import(status="Failed"))
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "ImportFailed")
    assert execution.input_of("Clean up")["imported"]["model_arn"].startswith("arn:aws:bedrock:")


def test_a_failed_evaluation_deployment_is_recorded(environments, catalog):
    case = cases.trained(prod_run(environments, catalog))
    deployment = f"{cases.BEDROCK}:custom-model-deployment/abcdef123456"
    case.answer(
        "Deploy for evaluation",
        sdk_integration_result("bedrock", "CreateCustomModelDeployment", customModelDeploymentArn=deployment),
    ).answer("Check evaluation deployment", cases.model_deployment(deployment, "Failed"))
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "DeploymentFailed")
    assert execution.input_of("Clean up")["evaluation_deployment"]["arn"] == deployment


def test_a_model_below_a_threshold_fails_the_gate_and_is_deleted(environments, catalog):
    case = cases.evaluated(cases.trained(prod_run(environments, catalog)), token_f1=0.1)
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    values = failed_with(execution, "QualityGateFailed")
    cause = json.loads(values[":cause"]["S"])["Cause"]
    assert "evaluation.json" in cause
    # The failure record names what the model was judged by and on, as a passed run's lineage does.
    assert f"rubric of SHA-256 {cases.RUBRIC} on dataset version {cases.DATASET_VERSION}" in cause
    assert "Deploy how?" not in execution.path


def test_a_customized_model_is_left_to_the_serving_stack_with_nothing_of_the_run_billing(environments, catalog):
    """One owner serves a model: the run deletes its evaluation deployment, buys nothing, and records the model
    approved, which the Serving stack reads (serving.model_source: lineage)."""
    case = cases.served(cases.evaluated(cases.trained(prod_run(environments, catalog))))
    execution = run(environments["prod"].definition, case.execution_input, case.script)

    values = succeeded(execution, case)
    deployment = execution.input_of("Remove evaluation deployment")["CustomModelDeploymentIdentifier"]
    assert ":custom-model-deployment/" in deployment
    assert not [state for state in execution.path if "throughput" in state.lower()]
    assert (values[":serving"], values[":approved"]) == ({"S": "none"}, {"S": Approval.APPROVED})
    assert "Provision throughput" not in every_state(environments["prod"].definition)


def test_a_rejected_input_touches_nothing_and_is_notified(environments, catalog):
    execution = run(
        environments["staging"].definition,
        {"technique": "rlhf"},
        {
            "Validate": [Throw("InvalidRunRequestError", "technique: 'rlhf' is not allowed; expected one of ...")],
            "Notify rejected": [cases.published()],
        },
    )

    assert runtime_errors(execution) == []
    assert (execution.status, execution.error) == ("FAILED", "InvalidRunRequest")
    assert execution.path == ["Validate", "Notify rejected", "Rejected"]
    assert execution.input_of("Notify rejected")["Message"].startswith("REJECTED ")


def test_a_hyperpod_run_larger_than_prods_group_is_rejected_at_validate_with_the_group_it_needs(environments, catalog):
    prod = environments["prod"]
    execution_input = cases.example("sft_lora", platform="hyperpod")  # replicas 4; prod's group has 2 nodes
    with pytest.raises(InvalidRunRequestError) as rejected:
        cases.started(execution_input, prod.settings, catalog)
    message = str(rejected.value)
    assert message == (
        "overrides.replicas: 4 is not allowed; expected at most 2 nodes in all, the restricted instance group's "
        "count; sft_lora on amazon.nova-lite-v1:0:300k needs a group of at least 4 (replicas 4, 8, 16)"
    )

    execution = run(
        prod.definition,
        execution_input,
        {"Validate": [Throw("InvalidRunRequestError", message)], "Notify rejected": [cases.published()]},
    )

    assert runtime_errors(execution) == []
    assert (execution.status, execution.error) == ("FAILED", "InvalidRunRequest")
    assert execution.path == ["Validate", "Notify rejected", "Rejected"]
    assert "needs a group of at least 4" in execution.input_of("Notify rejected")["Message"]


def test_a_taken_run_name_is_rejected_without_touching_that_run(environments, catalog):
    case = prod_run(environments, catalog)
    script = {
        "Validate": case.script["Validate"],
        "Check evaluation dataset": case.script["Check evaluation dataset"],
        "Prepare": [Throw("RunNameTakenError", "run_name: 'run' is not allowed; expected a name no earlier run used")],
        "Notify rejected": [cases.published()],
    }
    execution = run(environments["prod"].definition, case.execution_input, script)

    assert execution.path == ["Validate", "Check evaluation dataset", "Prepare", "Notify rejected", "Rejected"]
    assert "Record failure" not in execution.path and runtime_errors(execution) == []


def test_a_failing_clean_up_still_records_and_notifies_the_runs_own_error(environments, catalog):
    case = cases.evaluated(cases.trained(prod_run(environments, catalog)), judge_gain=-1.0)
    cases.failed(case, clean_up=Throw("ClientError", "AccessDenied on DeleteCustomModel"))
    execution = run(environments["prod"].definition, case.execution_input, case.script)

    values = failed_with(execution, "QualityGateFailed")
    assert values[":status"] == {"S": RunStatus.FAILED}
    assert execution.path.count("Clean up") == 1  # not a transient error: no retry


def test_validate_failing_unexpectedly_is_notified_without_a_record_it_has_no_name_for(environments):
    execution = run(
        environments["dev"].definition,
        {"run_name": "r"},
        {
            "Validate": [Throw("KeyError", "'DATASETS_BUCKET'")],
            "Notify validation failure": [cases.published()],
        },
    )

    assert runtime_errors(execution) == []
    assert (execution.status, execution.error) == ("FAILED", "KeyError")
    assert execution.path == ["Validate", "Notify validation failure", "Validation failed"]


def test_a_retried_import_asks_for_the_same_model_by_client_token(environments, catalog):
    case = cases.served(
        cases.evaluated(cases.trained(cases.started(cases.example("sft_lora"), environments["dev"].settings, catalog)))
    )
    case.script["Import into Bedrock"].insert(0, Throw("Bedrock.ThrottlingException", "Rate exceeded"))

    execution = run(environments["dev"].definition, case.execution_input, case.script)

    succeeded(execution, case)
    tokens = [call["ClientRequestToken"] for call in execution.task_inputs["Import into Bedrock"]]
    assert tokens == ["run-model", "run-model"]


def test_a_failed_open_weight_import_deletes_the_model_by_name_and_is_recorded(environments, catalog):
    case = cases.started(cases.example("import_open_weight"), environments["staging"].settings, catalog)
    job = f"{cases.BEDROCK}:model-import-job/abcdef123456"
    case.answer(
        "Import open-weight model", sdk_integration_result("bedrock", "CreateModelImportJob", jobArn=job)
    ).answer(
        "Check model import", cases.import_job(job, case.plan, "InProgress"), cases.import_job(job, case.plan, "Failed")
    )
    execution = run(environments["staging"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "ModelImportFailed")
    # No ARN was read: clean-up deletes the imported model by the name the run gave it.
    assert "imported" not in execution.input_of("Clean up")
    assert execution.input_of("Clean up")["prepared"]["import"]["model_name"] == case.plan["import"]["model_name"]


def test_evaluation_compares_with_the_base_model_bedrock_invokes_not_the_customization_variant(environments, catalog):
    case = cases.served(
        cases.evaluated(cases.trained(cases.started(cases.example("sft_lora"), environments["dev"].settings, catalog)))
    )

    execution = run(environments["dev"].definition, case.execution_input, case.script)

    succeeded(execution, case)
    assert case.request["base_model"] == "amazon.nova-lite-v1:0:300k"  # the recipe's model type
    assert execution.input_of("Score records")["candidates"]["base"]["model_id"] == "amazon.nova-lite-v1:0"


def checks_until(deadline_seconds: int, first: int = 600, step: int = 600, longest: int = 3600) -> int:
    """How many times a loop checks its job before its waits add up to the deadline (workflow_polling.Polling)."""
    waited, wait, checks = 0, first, 0
    while waited < deadline_seconds:
        waited += wait
        checks += 1
        wait = min(wait + step, longest) if wait < longest else wait
    return checks


def test_a_bedrock_customization_job_past_max_training_hours_is_stopped_and_recorded(environments, catalog):
    # CreateModelCustomizationJob takes no stopping condition: the run's own deadline is all that ends it.
    case = cases.started(cases.example("sft_lora_bedrock"), environments["dev"].settings, catalog)
    job = case.plan["bedrock"]["job_arn"]
    checks = checks_until(8 * 3600)  # dev: max_training_hours 8
    case.answer("Check customization job", *[cases.customization_job(job, "InProgress")] * checks)
    execution = run(environments["dev"].definition, case.execution_input, cases.failed(case).script)

    values = failed_with(execution, "TrainingTimedOut")
    assert "max_training_hours (8)" in json.loads(values[":cause"]["S"])["Cause"]
    assert execution.path.count("Check customization job") == checks
    # The clean-up stops the job Prepare started.
    assert execution.input_of("Clean up")["prepared"]["bedrock"]["job_arn"] == job


def test_a_hyperpod_job_that_outlives_its_own_deadline_is_removed_by_the_run(environments, catalog):
    case = hyperpod_run(environments, catalog)
    objects = [obj["name"] for obj in case.plan["hyperpod"]["objects"]]
    checks = checks_until((72 + 1) * 3600)  # prod: max_training_hours 72, and an hour's grace
    running = Return({"status": HyperPodJobStatus.RUNNING, "detail": ""})
    case.answer("Submit HyperPod job", Return({"created": objects})).answer("Check HyperPod job", *[running] * checks)
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "TrainingTimedOut")
    assert execution.path.index("Remove HyperPod job") < execution.path.index("Clean up")


def loop_deadlines(definition: dict[str, Any]) -> dict[str, int]:
    """Each polling loop's deadline in seconds, by loop name (the ``<name>: past the deadline?`` Choices)."""
    found = {}
    for name, state in definition["States"].items():
        if name.endswith(": past the deadline?"):
            (rule,) = state["Choices"]
            found[name.removesuffix(": past the deadline?")] = rule["NumericGreaterThanEquals"]
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_run_ends_by_its_own_deadlines_before_the_executions_timeout(environments, env):
    # An execution that times out runs no clean-up (a throughput would keep billing): the longest path's loop
    # deadlines (each overrun by at most its longest wait), the SageMaker job's stopping condition and the
    # clean-up's retries of a busy throughput must end inside the timeout.
    definition = environments[env].definition
    states = definition["States"]
    deadlines = loop_deadlines(definition)
    longest_wait = {
        name: states[f"{name}: longest wait?"]["Choices"][0]["NumericGreaterThanEquals"] for name in deadlines
    }
    sagemaker = states["Train on SageMaker"]["Parameters"]["StoppingCondition"]["MaxRuntimeInSeconds"]
    # A run takes one path through each phase's alternatives.
    alternatives = [
        {"Customization", "HyperPod job", "Model import"},
        {"Evaluation deployment", "Evaluation throughput"},
    ]
    assert set(deadlines) >= {
        "Customization",
        "Import",
        "Evaluation deployment",
        "Evaluation throughput",
        "Model import",
    }

    def bound(name: str) -> int:
        return deadlines[name] + longest_wait[name]

    training = max([sagemaker, *(bound(name) for name in alternatives[0] & set(deadlines))])
    evaluation = max(bound(name) for name in alternatives[1])
    rest = sum(bound(name) for name in deadlines if not any(name in phase for phase in alternatives))
    # The evaluation's map: every wave of batches running the batch function's whole timeout, then the report.
    map_state = environments[env].deployed["States"]["Score records"]
    waves = math.ceil(
        map_state["ItemReader"]["ReaderConfig"]["MaxItems"]
        / (map_state["ItemBatcher"]["MaxItemsPerBatch"] * map_state["MaxConcurrency"])
    )
    evaluation_map = waves * 15 * 60 + 10 * 60
    [busy] = [retry for retry in states["Clean up"]["Retry"] if "ResourceBusyError" in retry["ErrorEquals"]]
    clean_up = sum(
        min(busy["IntervalSeconds"] * busy["BackoffRate"] ** attempt, busy.get("MaxDelaySeconds", float("inf")))
        for attempt in range(busy["MaxAttempts"])
    )
    assert training + evaluation + evaluation_map + rest + clean_up < definition["TimeoutSeconds"]


# Step Functions fails an execution whose history reaches 25,000 events (quotas, "Maximum execution history
# size"), and a failed execution runs no clean-up.
HISTORY_LIMIT = 25_000


def test_the_longest_run_config_allows_stays_within_the_execution_history_limit(environments, catalog):
    # Count the events of one wait-and-check round of a training loop on the interpreter, then scale to the
    # longest training config allows (workflow.max_training_hours 672, plus HyperPod's grace hour).
    case = cases.started(cases.example("sft_lora_bedrock"), environments["dev"].settings, catalog)
    job = case.plan["bedrock"]["job_arn"]
    rounds = checks_until(8 * 3600)
    case.answer("Check customization job", *[cases.customization_job(job, "InProgress")] * rounds)
    execution = run(environments["dev"].definition, case.execution_input, cases.failed(case).script)
    per_round = len(execution.history) / rounds  # the rest of the run is counted as rounds too: an upper bound

    assert per_round * checks_until((672 + 1) * 3600) < HISTORY_LIMIT * 0.8


def full_rank_run(environments, catalog, judge_gain: float = 0.5, **changes: Any) -> cases.Run:
    return cases.evaluated(cases.trained(prod_run(environments, catalog, "sft_full", **changes)), judge_gain=judge_gain)


def test_a_full_rank_model_is_evaluated_on_a_throughput_the_run_buys_and_deletes(environments, catalog):
    case = cases.served(full_rank_run(environments, catalog, deploy_mode="none"))

    execution = run(environments["prod"].definition, case.execution_input, case.script)

    succeeded(execution, case)
    bought = execution.input_of("Provision for evaluation")
    assert (bought["ModelUnits"], "CommitmentDuration" in bought) == (1, False)  # hourly, deletable at once
    assert bought["ModelId"] == execution.input_of("Check import")["ModelIdentifier"]
    throughput = f"{cases.BEDROCK}:provisioned-model/evalpt123456"
    assert execution.input_of("Score records")["candidates"]["customized"]["model_id"] == throughput
    assert execution.input_of("Remove evaluation throughput") == {"ProvisionedModelId": throughput}
    assert "Deploy for evaluation" not in execution.path


def test_a_full_rank_model_below_the_gate_leaves_its_throughput_to_the_clean_up(environments, catalog):
    case = full_rank_run(environments, catalog, judge_gain=-1.0)
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "QualityGateFailed")
    cleaned = execution.input_of("Clean up")
    assert cleaned["evaluation_throughput"]["arn"].endswith(":provisioned-model/evalpt123456")


def test_an_evaluation_throughput_that_fails_is_recorded_and_cleaned_up(environments, catalog):
    case = cases.trained(prod_run(environments, catalog, "dpo_full"))
    throughput = f"{cases.BEDROCK}:provisioned-model/evalpt123456"
    case.answer(
        "Provision for evaluation",
        sdk_integration_result("bedrock", "CreateProvisionedModelThroughput", provisionedModelArn=throughput),
    ).answer("Check evaluation throughput", cases.throughput_status(throughput, "Failed"))
    execution = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)

    failed_with(execution, "ProvisioningFailed")
    assert execution.input_of("Clean up")["evaluation_throughput"]["arn"] == throughput


def test_clean_up_busy_with_a_creating_throughput_is_tried_again_minutes_later(environments, catalog):
    case = full_rank_run(environments, catalog, judge_gain=-1.0)
    busy = Throw("ResourceBusyError", "delete evaluation throughput: throughput is Creating")
    cases.failed(case, clean_up=busy)
    case.script["Clean up"].append(Return(["delete evaluation throughput", "delete custom model"]))
    execution = run(environments["prod"].definition, case.execution_input, case.script)

    failed_with(execution, "QualityGateFailed")
    assert len(execution.task_inputs["Clean up"]) == 2  # retried, not caught into the record
    retry = next(
        r
        for r in environments["prod"].definition["States"]["Clean up"]["Retry"]
        if "ResourceBusyError" in r["ErrorEquals"]
    )
    assert retry["IntervalSeconds"] >= 60


def test_a_failure_past_the_gate_keeps_the_approved_model_and_one_before_it_does_not(environments, catalog):
    # Past the gate (its evaluation deployment could not be deleted): the model the gate approved stays (training is
    # not thrown away); the gate failing: it goes.
    case = cases.evaluated(cases.trained(prod_run(environments, catalog)))
    case.script["Remove evaluation deployment"] = [Throw("Bedrock.AccessDeniedException", "not authorized")]
    served_failed = run(environments["prod"].definition, case.execution_input, cases.failed(case).script)
    gated = cases.evaluated(cases.trained(prod_run(environments, catalog)), token_f1=0.1)
    gate_failed = run(environments["prod"].definition, gated.execution_input, cases.failed(gated).script)

    failed_with(served_failed, "Bedrock.AccessDeniedException")
    model = served_failed.input_of("Import into Bedrock") and f"{cases.BEDROCK}:custom-model/imported/abcdef123456"
    assert served_failed.input_of("Clean up")["kept"] == {"model_arn": model}
    assert failed_with(served_failed, "Bedrock.AccessDeniedException")[":kept"] == {"S": model}  # the record names it
    assert "kept" not in gate_failed.input_of("Clean up")
    assert failed_with(gate_failed, "QualityGateFailed")[":kept"] == {"S": "none"}


def test_a_lineage_record_that_cannot_be_written_is_notified_and_nothing_served_is_cleaned_up(environments, catalog):
    case = cases.served(cases.evaluated(cases.trained(prod_run(environments, catalog))))
    case.script["Record lineage"] = [Throw("DynamoDB.AmazonDynamoDBException", "Requested resource not found")]
    case.answer("Notify lineage not recorded", cases.published())
    execution = run(environments["prod"].definition, case.execution_input, case.script)

    assert runtime_errors(execution) == []
    assert (execution.status, execution.error) == ("FAILED", "DynamoDB.AmazonDynamoDBException")
    assert execution.path[-2:] == ["Notify lineage not recorded", "Lineage not recorded"]
    assert "Clean up" not in execution.path  # the approved model stays, for a person to record and serve
    notice = execution.input_of("Notify lineage not recorded")["Message"]
    assert "custom-model/imported/" in notice


def test_an_evaluation_dataset_the_evaluation_could_not_read_rejects_the_run_before_anything_is_claimed(
    environments, catalog
):
    case = cases.started(cases.example("sft_lora"), environments["dev"].settings, catalog)
    cause = "s3://acme-datasets/sets/eval.jsonl: line 7: not valid JSON (Expecting value); expected one object a line"
    case.script["Check evaluation dataset"] = [Throw("DatasetError", cause)]
    case.answer("Notify rejected", cases.published())
    execution = run(environments["dev"].definition, case.execution_input, case.script)

    assert runtime_errors(execution) == []
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "InvalidRunRequest", cause)
    assert execution.path == ["Validate", "Check evaluation dataset", "Notify rejected", "Rejected"]
    assert execution.input_of("Check evaluation dataset") == {
        "evaluation_dataset": case.request["evaluation_dataset"],
        "min_records": 20,  # dev's workflow.evaluation
        "max_records": 10000,
        # Tried once each before anything is claimed: the base model as the evaluation invokes it, and the judge.
        "models": {"base": case.request["evaluation_base_model"], "judge": "amazon.nova-pro-v1:0"},
    }


def test_a_model_this_account_cannot_invoke_rejects_the_run_before_anything_is_claimed(environments, catalog):
    case = cases.started(cases.example("sft_lora"), environments["dev"].settings, catalog)
    cause = "base model 'amazon.nova-lite-v1:0': AccessDeniedException: You don't have access to the model"
    case.script["Check evaluation dataset"] = [Throw("ModelCheckError", cause)]
    case.answer("Notify rejected", cases.published())
    execution = run(environments["dev"].definition, case.execution_input, case.script)

    assert runtime_errors(execution) == []
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "InvalidRunRequest", cause)
    assert "Prepare" not in execution.path


def test_the_lineage_record_names_the_rubric_the_judge_scored_with(environments, catalog):
    case = cases.served(cases.evaluated(cases.trained(prod_run(environments, catalog))))
    execution = run(environments["prod"].definition, case.execution_input, case.script)

    values = succeeded(execution, case)
    assert values[":rubric"] == {"S": cases.RUBRIC}
    assert len(execution.input_of("Report evaluation")["rubric_sha256"]) == 64  # the committed rubric file's


def test_the_dataset_version_checked_is_the_one_evaluated_and_recorded(environments, catalog):
    """The map reads the version "Check evaluation dataset" read (its ItemReader's VersionId.$, checked on the
    definition in test_workflow); the report is told it and the lineage records it."""
    case = cases.served(cases.evaluated(cases.trained(prod_run(environments, catalog))))
    execution = run(environments["prod"].definition, case.execution_input, case.script)

    assert execution.input_of("Report evaluation")["dataset"] == {
        "uri": case.request["evaluation_dataset"],
        "version_id": cases.DATASET_VERSION,
    }
    assert succeeded(execution, case)[":dataset_version"] == {"S": cases.DATASET_VERSION}
