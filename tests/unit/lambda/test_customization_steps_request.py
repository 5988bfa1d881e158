"""The workflow's first state: check_request accepts each technique's input and names every problem at once."""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "customization-steps")

from typing import Any

import pytest
from customization_steps.request import InvalidRunRequestError, Limits, RunRequest, check_request, output_uri
from customization_steps.steps import Settings, validate_run

from customization.recipes import Recipe, load_all

DATASETS = "acme-datasets"
ARTIFACTS = "acme-artifacts"
NOVA_LITE = "amazon.nova-lite-v1:0:300k"
LIMITS = Limits(datasets_bucket=DATASETS, artifacts_bucket=ARTIFACTS, platforms=("sagemaker-training-job", "bedrock"))
WITH_HYPERPOD = Limits(
    DATASETS, ARTIFACTS, ("sagemaker-training-job", "hyperpod", "bedrock"), region="us-east-1", hyperpod_max_nodes=16
)
DEFAULT_THRESHOLDS = {
    "exact_match": 0.0,
    "token_f1": 0.0,
    "rouge_l": 0.0,
    "tool_call_valid": 0.0,
    "sql_execution_match": 0.0,
    "judge_score": 1.0,
    "min_judge_improvement": 0.0,
}
KNOWN_KEYS = (
    "run_name, technique, base_model, recipe, training_data, validation_data, evaluation_dataset, "
    "platform, overrides, thresholds, deploy_mode"
)


@pytest.fixture(scope="module")
def catalog() -> dict[str, Recipe]:
    return load_all()


def event(catalog: dict[str, Recipe], technique: str = "sft_lora", **fields: Any) -> dict[str, Any]:
    """A valid input for ``technique``; ``fields`` replace or add keys (``None`` removes one)."""
    base: dict[str, Any] = {
        "technique": technique,
        "base_model": catalog[f"training/{technique}"].run.model_type,
        "platform": "sagemaker-training-job",
        "training_data": f"s3://{DATASETS}/sets/train.jsonl",
        "evaluation_dataset": f"s3://{DATASETS}/sets/eval.jsonl",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def rejected(catalog: dict[str, Recipe], payload: object, limits: Limits = LIMITS, execution: str = "exec-1") -> str:
    with pytest.raises(InvalidRunRequestError) as raised:
        check_request(payload, recipes=catalog, limits=limits, execution_name=execution)
    return str(raised.value)


# --- accepted ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("technique", "platform"),
    [
        ("sft_lora", "sagemaker-training-job"),
        ("sft_full", "sagemaker-training-job"),
        ("dpo_lora", "sagemaker-training-job"),
        ("dpo_full", "sagemaker-training-job"),
        ("sft_lora", "bedrock"),
        ("distillation", "bedrock"),
    ],
)
def test_a_valid_input_per_technique_returns_a_request_with_defaults(catalog, technique, platform):
    request = check_request(
        event(catalog, technique, platform=platform), recipes=catalog, limits=LIMITS, execution_name="exec-2026-11-25"
    )

    assert request == RunRequest(
        run_name="exec-2026-11-25",
        technique=technique,
        base_model=NOVA_LITE,
        recipe=f"training/{technique}",
        training_data=f"s3://{DATASETS}/sets/train.jsonl",
        evaluation_dataset=f"s3://{DATASETS}/sets/eval.jsonl",
        platform=platform,
        deploy_mode="none",
        validation_data=None,
        overrides={},
        thresholds=DEFAULT_THRESHOLDS,
    )


def test_given_values_are_kept_and_the_state_is_sorted(catalog):
    payload = event(
        catalog,
        run_name="support-bot-v2",
        deploy_mode="none",
        overrides={"replicas": 8, "epochs": 3, "learning_rate": 2e-5},
        thresholds={"token_f1": 0.6, "judge_score": 4, "min_judge_improvement": -0.5},
    )

    state = check_request(payload, recipes=catalog, limits=LIMITS, execution_name="ignored").as_state()

    assert state == {
        "run_name": "support-bot-v2",
        "technique": "sft_lora",
        "base_model": NOVA_LITE,
        "evaluation_base_model": "amazon.nova-lite-v1:0",
        "evaluation_route": "on-demand-deployment",
        "evaluation_dataset_bucket": DATASETS,
        "evaluation_dataset_key": "sets/eval.jsonl",
        "recipe": "training/sft_lora",
        "training_data": f"s3://{DATASETS}/sets/train.jsonl",
        "validation_data": None,
        "evaluation_dataset": f"s3://{DATASETS}/sets/eval.jsonl",
        "platform": "sagemaker-training-job",
        "deploy_mode": "none",
        "overrides": {"epochs": 3, "learning_rate": 2e-5, "replicas": 8},
        "thresholds": {**DEFAULT_THRESHOLDS, "token_f1": 0.6, "judge_score": 4.0, "min_judge_improvement": -0.5},
        "model_data": None,
    }
    assert list(state["overrides"]) == ["epochs", "learning_rate", "replicas"]
    assert list(state["thresholds"]) == sorted(DEFAULT_THRESHOLDS)


def test_bedrock_fine_tuning_accepts_validation_data(catalog):
    validation = f"s3://{DATASETS}/sets/validation.jsonl"

    request = check_request(
        event(catalog, platform="bedrock", validation_data=validation),
        recipes=catalog,
        limits=LIMITS,
        execution_name="exec-1",
    )

    assert request.validation_data == validation


def test_cpt_runs_on_hyperpod_where_hyperpod_is_wired(catalog):
    request = check_request(
        event(catalog, "cpt", platform="hyperpod"), recipes=catalog, limits=WITH_HYPERPOD, execution_name="exec-1"
    )

    assert (request.technique, request.platform, request.validation_data) == ("cpt", "hyperpod", None)


def test_a_hyperpod_run_in_a_region_without_nova_images_is_rejected(catalog):
    limits = Limits(DATASETS, ARTIFACTS, ("hyperpod",), region="eu-west-1", hyperpod_max_nodes=16)

    with pytest.raises(InvalidRunRequestError) as error:
        check_request(event(catalog, "ppo", platform="hyperpod"), recipes=catalog, limits=limits, execution_name="e")

    assert "platform: 'hyperpod' is not allowed; expected a region with Nova HyperPod images: us-east-1" in str(
        error.value
    )
    assert "(this environment is in 'eu-west-1')" in str(error.value)


def group_of(nodes: int) -> Limits:
    return Limits(DATASETS, ARTIFACTS, ("hyperpod",), region="us-east-1", hyperpod_max_nodes=nodes)


@pytest.mark.parametrize(
    ("technique", "overrides", "nodes", "needs"),
    [
        # The recipe's own replicas (4): Nova Lite's smallest SFT group is 4 nodes.
        (
            "sft_lora",
            {},
            2,
            "overrides.replicas: 4 is not allowed; expected at most 2 nodes in all, the restricted "
            "instance group's count; sft_lora on amazon.nova-lite-v1:0:300k needs a group of at least 4 "
            "(replicas 4, 8, 16)",
        ),
        # Asking for more than the group has, where a smaller allowed count would fit.
        (
            "dpo_full",
            {"replicas": 8},
            4,
            "overrides.replicas: 8 is not allowed; expected at most 4 nodes in all, "
            "the restricted instance group's count; dpo_full on amazon.nova-lite-v1:0:300k needs a group of at least 4 "
            "(replicas 4, 8, 16)",
        ),
        (
            "cpt",
            {},
            8,
            "overrides.replicas: 16 is not allowed; expected at most 8 nodes in all, the restricted "
            "instance group's count; cpt on amazon.nova-lite-v1:0:300k needs a group of at least 4 "
            "(replicas 4, 8, 16, 32)",
        ),
        # PPO's roles each take nodes: 2 actor train + 2 actor generation + reward, critic and anchor.
        (
            "ppo",
            {},
            4,
            "recipe: 7 is not allowed; expected at most 4 nodes in all, the restricted instance group's "
            "count; ppo on amazon.nova-lite-v1:0:300k needs a group of at least 7 (actor_train_replicas 2, and 5 for "
            "the other roles)",
        ),
    ],
)
def test_a_hyperpod_run_larger_than_the_restricted_group_says_what_it_needs(
    catalog, technique, overrides, nodes, needs
):
    message = rejected(catalog, event(catalog, technique, platform="hyperpod", overrides=overrides), group_of(nodes))

    assert message == needs


def test_a_hyperpod_run_below_the_models_smallest_group_is_refused_by_the_recipes_value_set(catalog):
    message = rejected(catalog, event(catalog, platform="hyperpod", overrides={"replicas": 2}), group_of(2))

    assert message == (
        "recipes/training/sft_lora.yaml with overrides: run.replicas: 2 is not allowed; expected one of 4, 8, 16 "
        "(sft_lora on amazon.nova-lite-v1:0:300k, per the public recipe nova_lite_1_0_p5_p4d_gpu_lora_sft.yaml)"
    )


def test_a_hyperpod_run_that_fits_the_group_is_accepted(catalog):
    request = check_request(
        event(catalog, platform="hyperpod", overrides={"replicas": 4}),
        recipes=catalog,
        limits=group_of(4),
        execution_name="e",
    )

    assert request.overrides == {"replicas": 4}


def test_output_uri_is_under_the_run_in_the_artifacts_bucket():
    assert output_uri(LIMITS, "run-7") == "s3://acme-artifacts/runs/run-7/output/"


# --- rejected ------------------------------------------------------------------------------------------------


def test_every_problem_is_named_at_once(catalog):
    payload = event(
        catalog,
        run_name="bad name!",
        base_model="amazon.nova-pro-v1:0:300k",
        training_data="s3://other-bucket/train.jsonl",
        evaluation_dataset="not-a-uri",
        deploy_mode="serverless",
        overrides={"epochs": 3, "batch_size": 8},
        thresholds={"judge_score": 7, "bleu": 0.5},
        color="blue",
    )

    message = rejected(catalog, payload)

    for expected in (
        f"(input): ['color'] is not allowed; expected known keys: {KNOWN_KEYS}",
        "run_name: 'bad name!' is not allowed; expected 1-48 characters: letters or digits",
        "deploy_mode: 'serverless' is not allowed; expected none: the Serving stack serves approved models",
        "base_model: 'amazon.nova-pro-v1:0:300k' is not allowed; "
        "expected the recipe's run.model_type 'amazon.nova-lite-v1:0:300k'",
        "training_data: 's3://other-bucket/train.jsonl' is not allowed; "
        "expected an object in this environment's datasets bucket s3://acme-datasets/",
        "evaluation_dataset: 'not-a-uri' is not allowed; expected an S3 URI s3://<bucket>/<key>",
        "overrides.batch_size: 8 is not allowed; expected only epochs, learning_rate, replicas",
        "thresholds.judge_score: 7 is not allowed; expected a number from 1 to 5",
        "thresholds.bleu: 0.5 is not allowed; expected one of exact_match, token_f1, rouge_l, tool_call_valid, "
        "sql_execution_match, judge_score, min_judge_improvement",
    ):
        assert expected in message
    assert message.count(" is not allowed; ") == 9


def test_an_unknown_technique_names_the_techniques_and_the_recipes(catalog):
    message = rejected(catalog, {**event(catalog), "technique": "sft_qlora"})

    assert (
        "technique: 'sft_qlora' is not allowed; expected one of sft_lora, sft_full, dpo_lora, dpo_full, ppo, "
        "distillation, cpt" in message
    )
    assert (
        "recipe: 'training/sft_qlora' is not allowed; expected one of training/cpt, training/distillation, "
        "training/dpo_full, training/dpo_lora, training/ppo, training/sft_full, training/sft_lora" in message
    )


@pytest.mark.parametrize(
    ("technique", "platform", "limits", "allowed"),
    [
        ("ppo", "sagemaker-training-job", LIMITS, "none: this environment cannot run it"),
        ("ppo", "hyperpod", LIMITS, "none: this environment cannot run it"),
        ("cpt", "hyperpod", LIMITS, "none: this environment cannot run it"),
        ("ppo", "bedrock", WITH_HYPERPOD, "hyperpod"),
        ("dpo_lora", "bedrock", LIMITS, "sagemaker-training-job"),
        ("sft_full", "bedrock", WITH_HYPERPOD, "sagemaker-training-job, hyperpod"),
        ("distillation", "sagemaker-training-job", WITH_HYPERPOD, "bedrock"),
    ],
)
def test_a_platform_the_technique_cannot_use_here_is_rejected(catalog, technique, platform, limits, allowed):
    message = rejected(catalog, event(catalog, technique, platform=platform), limits)

    assert message == f"platform: {platform!r} is not allowed; expected a platform for {technique} here: {allowed}"


def test_an_unknown_platform_lists_the_platforms(catalog):
    message = rejected(catalog, event(catalog, platform="ec2"))

    assert message == "platform: 'ec2' is not allowed; expected one of sagemaker-training-job, hyperpod, bedrock"


def test_a_recipe_of_another_technique_is_rejected(catalog):
    message = rejected(catalog, event(catalog, recipe="training/dpo_lora"))

    assert message == "recipe: 'training/dpo_lora' is not allowed; expected a sft_lora recipe (this one is dpo_lora)"


def test_a_base_model_other_than_the_recipes_is_rejected(catalog):
    message = rejected(catalog, event(catalog, base_model="amazon.nova-micro-v1:0:128k"))

    assert message == (
        "base_model: 'amazon.nova-micro-v1:0:128k' is not allowed; "
        "expected the recipe's run.model_type 'amazon.nova-lite-v1:0:300k'"
    )


def test_a_missing_base_model_is_named(catalog):
    message = rejected(catalog, event(catalog, base_model=None))

    assert message.startswith("base_model: null is not allowed;")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("training_data", "s3://acme-datasets", "an S3 URI s3://<bucket>/<key>"),
        ("training_data", "s3://acme-datasets/", "an S3 URI s3://<bucket>/<key>"),
        ("training_data", "https://acme-datasets.s3.amazonaws.com/train.jsonl", "an S3 URI s3://<bucket>/<key>"),
        ("training_data", 42, "an S3 URI s3://<bucket>/<key>"),
        ("training_data", None, "an S3 URI s3://<bucket>/<key>"),
        ("evaluation_dataset", "s3://Acme_Datasets/eval.jsonl", "an S3 URI s3://<bucket>/<key>"),
        (
            "evaluation_dataset",
            "s3://acme-artifacts/eval.jsonl",
            "an object in this environment's datasets bucket s3://acme-datasets/",
        ),
        ("validation_data", "s3:/acme-datasets/v.jsonl", "an S3 URI s3://<bucket>/<key>"),
        (
            "validation_data",
            "s3://acme-datasets-copy/v.jsonl",
            "an object in this environment's datasets bucket s3://acme-datasets/",
        ),
    ],
)
def test_an_s3_uri_outside_the_datasets_bucket_or_malformed_is_rejected(catalog, field, value, allowed):
    message = rejected(catalog, event(catalog, platform="bedrock", **{field: value}))

    shown = "null" if value is None else repr(value)
    assert message == f"{field}: {shown} is not allowed; expected {allowed}"


@pytest.mark.parametrize(
    ("technique", "platform"),
    [("sft_lora", "sagemaker-training-job"), ("distillation", "bedrock"), ("cpt", "hyperpod")],
)
def test_validation_data_where_nothing_would_use_it_is_rejected(catalog, technique, platform):
    validation = f"s3://{DATASETS}/sets/validation.jsonl"
    payload = event(catalog, technique, platform=platform, validation_data=validation)

    message = rejected(catalog, payload, WITH_HYPERPOD)

    assert message.startswith(f"validation_data: {validation!r} is not allowed; expected none for {technique}")
    assert "overrides.validation" not in message


def test_cpt_validation_data_is_refused_as_the_public_nova_1_cpt_recipe_has_no_validation_set(catalog):
    validation = f"s3://{DATASETS}/sets/validation.jsonl"

    message = rejected(catalog, event(catalog, "cpt", platform="hyperpod", validation_data=validation), WITH_HYPERPOD)

    assert message == (
        f"validation_data: {validation!r} is not allowed; expected none for cpt on hyperpod; "
        "validation data is for Bedrock fine-tuning (sft_lora, sft_full)"
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"batch_size": 8}, "overrides.batch_size: 8 is not allowed; expected only epochs, learning_rate, replicas"),
        ({"train": "s3://acme-datasets/x"}, "overrides.train: 's3://acme-datasets/x' is not allowed; expected only"),
        (["epochs"], "overrides: ['epochs'] is not allowed; expected an object with epochs, learning_rate, replicas"),
        ({"epochs": 0}, "overrides.epochs: 0 is not allowed; expected a positive integer"),
        ({"epochs": True}, "overrides.epochs: true is not allowed; expected a positive integer"),
        ({"replicas": "4"}, "overrides.replicas: '4' is not allowed; expected a positive integer"),
        ({"learning_rate": 2}, "overrides.learning_rate: 2 is not allowed; expected a learning rate > 0 and < 1"),
    ],
)
def test_an_unknown_or_bad_override_is_rejected(catalog, overrides, expected):
    assert expected in rejected(catalog, event(catalog, overrides=overrides))


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        ({"token_f1": 1.5}, "thresholds.token_f1: 1.5 is not allowed; expected a number from 0 to 1"),
        ({"exact_match": -0.1}, "thresholds.exact_match: -0.1 is not allowed; expected a number from 0 to 1"),
        ({"judge_score": 0.5}, "thresholds.judge_score: 0.5 is not allowed; expected a number from 1 to 5"),
        (
            {"min_judge_improvement": -5},
            "thresholds.min_judge_improvement: -5 is not allowed; expected a number from -4 to 4",
        ),
        ({"rouge_l": True}, "thresholds.rouge_l: true is not allowed; expected a number from 0 to 1"),
        ({"rouge_l": "0.5"}, "thresholds.rouge_l: '0.5' is not allowed; expected a number from 0 to 1"),
        ([0.5], "thresholds: [0.5] is not allowed; expected an object of metric -> number"),
    ],
)
def test_a_threshold_out_of_range_is_rejected(catalog, thresholds, expected):
    assert rejected(catalog, event(catalog, thresholds=thresholds)) == expected


@pytest.mark.parametrize(
    "run_name",
    [
        "-starts-with-dash",
        "ends-with-dash-",
        "two--dashes",
        "under_score",
        "dotted.name",
        "",
        "a" * 49,
        "a-" * 29 + "a",  # 59 characters, 30 of them letters: "<run>-eval" would exceed Bedrock's 63
        7,
    ],
)
def test_a_bad_run_name_is_rejected(catalog, run_name):
    message = rejected(catalog, event(catalog, run_name=run_name))

    assert message == (
        f"run_name: {run_name!r} is not allowed; "
        "expected 1-48 characters: letters or digits, single '-' between them (no '--', no '-' at either end)"
    )


def test_a_run_name_of_48_characters_is_accepted(catalog):
    name = "a" * 47 + "1"

    assert check_request(event(catalog, run_name=name), recipes=catalog, limits=LIMITS, execution_name="x").run_name


def test_the_execution_name_stands_in_for_a_missing_run_name_and_is_checked_too(catalog):
    message = rejected(catalog, event(catalog), execution="exec_2026_11_25")

    assert message.startswith("run_name: 'exec_2026_11_25' is not allowed;")


def test_a_non_object_input_is_rejected():
    with pytest.raises(InvalidRunRequestError, match=r"^\(input\): 'train please' is not allowed; expected a JSON"):
        check_request("train please", recipes={}, limits=LIMITS, execution_name="exec-1")


# --- the handler's view: settings and validate_run -------------------------------------------------------------

ENVIRONMENT = {
    "DATASETS_BUCKET": DATASETS,
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "PLATFORMS": "sagemaker-training-job,bedrock,",
    "RUNS_TABLE": "acme-runs",
    "KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "ENVIRONMENT": "dev",
}


def test_settings_come_from_the_functions_environment():
    settings = Settings.from_environment({**ENVIRONMENT, "CUSTOMIZATION_ROLE_ARN": "arn:aws:iam::1:role/r"})

    assert settings.limits == LIMITS
    assert (settings.runs_table, settings.customization_role_arn) == ("acme-runs", "arn:aws:iam::1:role/r")
    assert (settings.key_arn, settings.environment) == (ENVIRONMENT["KEY_ARN"], "dev")
    assert Settings.from_environment(ENVIRONMENT).customization_role_arn == ""


def test_validate_run_checks_the_input_under_the_execution_name(catalog):
    settings = Settings.from_environment(ENVIRONMENT)

    state = validate_run({"input": event(catalog), "execution": "exec-42"}, settings, catalog)

    assert (state["run_name"], state["recipe"], state["deploy_mode"]) == ("exec-42", "training/sft_lora", "none")


def test_validate_run_rejects_a_missing_input(catalog):
    settings = Settings.from_environment(ENVIRONMENT)

    with pytest.raises(InvalidRunRequestError, match=r"^\(input\): null is not allowed; expected a JSON object$"):
        validate_run({"execution": "exec-42"}, settings, catalog)


# --- open-weight import ----------------------------------------------------------------------------------------

LLAMA = "meta.llama3-1-8b-instruct-v1:0"


def import_event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "technique": "import",
        "base_model": LLAMA,
        "model_data": f"s3://{DATASETS}/models/llama-support/",
        "evaluation_dataset": f"s3://{DATASETS}/sets/eval.jsonl",
        "deploy_mode": "on-demand",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def test_an_open_weight_import_needs_no_recipe_and_runs_on_bedrock(catalog):
    request = check_request(import_event(), recipes=catalog, limits=LIMITS, execution_name="import-1")

    assert (request.technique, request.platform, request.recipe, request.training_data) == (
        "import",
        "bedrock",
        "",
        "",
    )
    assert request.model_data == f"s3://{DATASETS}/models/llama-support/"
    assert (request.base_model, request.deploy_mode, request.run_name) == (LLAMA, "on-demand", "import-1")
    assert request.thresholds == DEFAULT_THRESHOLDS


def test_an_import_names_every_problem_at_once(catalog):
    payload = import_event(
        base_model="Llama 3",
        model_data="s3://other-bucket/models/x/",
        deploy_mode="provisioned-throughput",
        recipe="training/sft_lora",
        evaluation_dataset=None,
    )

    with pytest.raises(InvalidRunRequestError) as error:
        check_request(payload, recipes=catalog, limits=LIMITS, execution_name="import-1")

    message = str(error.value)
    assert "(input): ['recipe'] is not allowed; expected for technique import: run_name" in message
    assert "base_model: 'Llama 3' is not allowed; expected the Bedrock model id to compare with" in message
    assert (
        "model_data: 's3://other-bucket/models/x/' is not allowed; expected an object in this environment's" in message
    )
    assert "evaluation_dataset: null is not allowed; expected an S3 URI" in message
    assert "deploy_mode: 'provisioned-throughput' is not allowed; expected on-demand or none" in message


def test_import_model_data_must_be_a_folder(catalog):
    with pytest.raises(InvalidRunRequestError, match=r"model_data: .* expected a folder \(ending in '/'\)"):
        check_request(
            import_event(model_data=f"s3://{DATASETS}/models/weights.safetensors"),
            recipes=catalog,
            limits=LIMITS,
            execution_name="import-1",
        )


def test_an_unknown_technique_names_import_among_the_allowed(catalog):
    with pytest.raises(
        InvalidRunRequestError, match=r"technique: 'rlhf' is not allowed; expected one of .*, cpt, import"
    ):
        check_request(
            event(catalog, technique="sft_lora") | {"technique": "rlhf"},
            recipes=catalog,
            limits=LIMITS,
            execution_name="e",
        )


def test_an_import_base_model_takes_no_cross_region_prefix(catalog):
    with pytest.raises(
        InvalidRunRequestError, match=r"base_model: 'us\.meta\.llama3-1-8b-instruct-v1:0' is not allowed"
    ):
        check_request(import_event(base_model="us." + LLAMA), recipes=catalog, limits=LIMITS, execution_name="i-1")


def test_a_base_model_bedrock_serves_only_through_a_profile_needs_the_environment_to_use_one(catalog):
    """Nova 2 Lite has no in-Region on-demand id (Nova 2 user guide, "Core inference"): without a profile every base
    call of the evaluation would fail, after the run."""
    nova_2 = "amazon.nova-2-lite-v1:0"
    with pytest.raises(InvalidRunRequestError) as raised:
        check_request(import_event(base_model=nova_2), recipes=catalog, limits=LIMITS, execution_name="i-1")
    assert (
        f"base_model: '{nova_2}' is not allowed; expected a model invokable here: set "
        f"workflow.inference_profile_prefix (now none) to us.: Bedrock serves {nova_2} on demand only through "
        "cross-Region profiles"
    ) in str(raised.value)
    us = dataclasses.replace(LIMITS, inference_profile_prefix="us.")
    assert check_request(import_event(base_model=nova_2), recipes=catalog, limits=us, execution_name="i-1")


def test_model_data_belongs_to_imports_only(catalog):
    with pytest.raises(
        InvalidRunRequestError, match=r"model_data: 's3://.*' is not allowed; expected none for sft_lora"
    ):
        check_request(
            event(catalog, model_data=f"s3://{DATASETS}/models/x/"), recipes=catalog, limits=LIMITS, execution_name="e"
        )


def test_the_state_names_the_base_model_as_bedrock_invokes_it_on_demand(catalog):
    request = check_request(event(catalog, platform="bedrock"), recipes=catalog, limits=LIMITS, execution_name="x")

    state = request.as_state()

    assert (state["base_model"], state["evaluation_base_model"]) == (
        "amazon.nova-lite-v1:0:300k",
        "amazon.nova-lite-v1:0",
    )
    assert RunRequest.from_state(state) == request


@pytest.mark.parametrize(
    ("technique", "platform", "route"),
    [
        ("sft_lora", "sagemaker-training-job", "on-demand-deployment"),
        ("sft_lora", "bedrock", "on-demand-deployment"),
        ("dpo_lora", "sagemaker-training-job", "on-demand-deployment"),
        ("distillation", "bedrock", "on-demand-deployment"),
        ("sft_full", "sagemaker-training-job", "provisioned-throughput"),
        ("dpo_full", "sagemaker-training-job", "provisioned-throughput"),
    ],
)
def test_full_rank_models_are_evaluated_on_a_throughput_the_others_on_demand(catalog, technique, platform, route):
    # Nova user guide, "On-demand inference of custom Nova models": not for full-rank fine-tuned models.
    payload = event(catalog, technique, platform=platform, training_data=f"s3://{DATASETS}/sets/prompts.jsonl")
    request = check_request(payload, recipes=catalog, limits=LIMITS, execution_name="x")

    assert request.as_state()["evaluation_route"] == route
    assert RunRequest.from_state(request.as_state()) == request


@pytest.mark.parametrize(("technique", "mode"), [("sft_lora", "on-demand"), ("sft_full", "provisioned-throughput")])
def test_a_customized_run_serves_nothing_itself(catalog, technique, mode):
    """The Serving stack is the one owner of serving: a run that bought a throughput too would pay twice, and
    nothing would delete the run's."""
    message = rejected(catalog, event(catalog, technique, deploy_mode=mode))

    assert (
        f"deploy_mode: {mode!r} is not allowed; expected none: the Serving stack serves approved models "
        "(serving.model_source: lineage; bump serving.lineage_generation and deploy)"
    ) in message
