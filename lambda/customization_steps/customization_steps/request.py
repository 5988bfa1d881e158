"""The workflow's input, checked all at once: every problem names the field, the value and what is allowed.

The state machine's first state runs this, so a bad request fails before anything is
created or billed. Rules that need the recipe (its technique, model and the overrides it
accepts) come from the typed recipe loader in ``customization/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from customization.contract import (
    GATED_METRICS,
    IMPORT,
    IMPORT_DEPLOY_MODES,
    JUDGE_IMPROVEMENT,
    PLATFORMS,
    TRAINED_DEPLOY_MODES,
    DeployMode,
    EvaluationRoute,
    InvalidRunRequestError,
    Platform,
)
from customization.nova import (
    HYPERPOD_IMAGE_REGISTRIES,
    TRAINING_TECHNIQUES,
    allowed_replicas,
    on_demand_invokable,
    platforms_for,
    profile_problem,
)
from customization.problems import Problem
from customization.recipes import Recipe, RecipeError, render

# Bedrock names built from it (custom model, deployment, provisioned throughput) allow no "--".
# 48 characters in all: the longest name built from it, "<run>-model" or "<run>-eval", stays within Bedrock's 63
# (CreateCustomModel modelName, CreateProvisionedModelThroughput provisionedModelName).
RUN_NAME = re.compile(r"^(?=.{1,48}$)[a-zA-Z0-9](-?[a-zA-Z0-9])*$")
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
TUNABLE = ("epochs", "learning_rate", "replicas")
# Bedrock fine-tuning jobs take validation data in the request (validationDataConfig).
BEDROCK_VALIDATED = ("sft_lora", "sft_full")
# Quality gate: metric -> (default, lowest, highest). Rule-based metrics are fractions; the
# judge scores 1-5; min_judge_improvement compares customized with base on the judge's scale.
THRESHOLDS: dict[str, tuple[float, float, float]] = {
    **{metric: (1.0, 1.0, 5.0) if metric == "judge_score" else (0.0, 0.0, 1.0) for metric in GATED_METRICS},
    JUDGE_IMPROVEMENT: (0.0, -4.0, 4.0),
}
# A Bedrock foundation model id to compare an imported model with; the workflow adds the environment's
# cross-Region prefix (workflow.inference_profile_prefix) itself, so the id has none.
FOUNDATION_MODEL_ID = re.compile(r"^(?!(us|eu|apac)\.)[a-z0-9-]+\.[a-z0-9.-]+(:[a-z0-9-]+){0,2}$")
IMPORT_KEYS = ("run_name", "technique", "base_model", "model_data", "evaluation_dataset", "thresholds", "deploy_mode")
KNOWN_KEYS = (
    "run_name",
    "technique",
    "base_model",
    "recipe",
    "training_data",
    "validation_data",
    "evaluation_dataset",
    "platform",
    "overrides",
    "thresholds",
    "deploy_mode",
    "model_data",
)


# What as_state adds to the request for the state machine, derived from the rest.
DERIVED_KEYS = ("evaluation_base_model", "evaluation_route", "evaluation_dataset_bucket", "evaluation_dataset_key")


@dataclass(frozen=True)
class Limits:
    """What this environment offers a run: its datasets bucket and the platforms wired here."""

    datasets_bucket: str
    artifacts_bucket: str
    platforms: tuple[str, ...]
    region: str = ""
    hyperpod_max_nodes: int = 0
    inference_profile_prefix: str = ""
    """How the evaluation invokes base models (``us.``...; ``""``: in-Region)."""


def output_uri(limits: Limits, run_name: str) -> str:
    """Where a run's model and checkpoints go (the artifacts bucket is versioned: nothing is overwritten)."""
    return f"s3://{limits.artifacts_bucket}/runs/{run_name}/output/"


@dataclass
class RunRequest:
    run_name: str
    technique: str
    base_model: str
    recipe: str
    training_data: str
    evaluation_dataset: str
    platform: str
    deploy_mode: str
    validation_data: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    model_data: str | None = None

    @property
    def evaluation_base_model(self) -> str:
        """The base model as Bedrock invokes it on demand: a recipe's model type names a customization variant
        with its context length (``amazon.nova-lite-v1:0:300k``), which Converse refuses; the on-demand id
        drops it (``amazon.nova-lite-v1:0``; Bedrock user guide, supported foundation models). An imported
        model's base is already a foundation model id. The environment's inference profile prefix is added
        by the state machine."""
        if self.technique == IMPORT:
            return self.base_model
        return ":".join(self.base_model.split(":")[:2])

    @property
    def evaluation_dataset_bucket(self) -> str:
        """The datasets bucket (Validate checked the URI names it), where the evaluation's map reads the dataset."""
        return self.evaluation_dataset.removeprefix("s3://").partition("/")[0]

    @property
    def evaluation_dataset_key(self) -> str:
        """The dataset's key in the datasets bucket, which the evaluation's map reads it from (Validate checked
        that the URI names that bucket)."""
        return self.evaluation_dataset.removeprefix("s3://").partition("/")[2]

    @property
    def evaluation_route(self) -> str:
        """How the state machine invokes the run's model to evaluate it (an ``EvaluationRoute``)."""
        if self.technique == IMPORT:
            return EvaluationRoute.IMPORTED_MODEL
        if on_demand_invokable(self.technique):
            return EvaluationRoute.ON_DEMAND_DEPLOYMENT
        return EvaluationRoute.PROVISIONED_THROUGHPUT

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunRequest:
        """The request Validate put in the state (derived keys dropped)."""
        return cls(**{key: value for key, value in state.items() if key not in DERIVED_KEYS})

    def as_state(self) -> dict[str, Any]:
        return {
            "run_name": self.run_name,
            "technique": self.technique,
            "base_model": self.base_model,
            "evaluation_base_model": self.evaluation_base_model,
            "evaluation_route": self.evaluation_route,
            "evaluation_dataset_bucket": self.evaluation_dataset_bucket,
            "evaluation_dataset_key": self.evaluation_dataset_key,
            "recipe": self.recipe,
            "training_data": self.training_data,
            "validation_data": self.validation_data,
            "evaluation_dataset": self.evaluation_dataset,
            "platform": self.platform,
            "deploy_mode": self.deploy_mode,
            "overrides": dict(sorted(self.overrides.items())),
            "thresholds": dict(sorted(self.thresholds.items())),
            "model_data": self.model_data,
        }


def _problem(key: str, value: object, allowed: str) -> str:
    return str(Problem(key, value, allowed))


def _s3(key: str, value: object, bucket: str, problems: list[str], required: bool = True) -> str | None:
    if value is None and not required:
        return None
    match = S3_URI.match(value) if isinstance(value, str) else None
    if match is None:
        problems.append(_problem(key, value, "an S3 URI s3://<bucket>/<key>"))
        return None
    if match["bucket"] != bucket:
        problems.append(_problem(key, value, f"an object in this environment's datasets bucket s3://{bucket}/"))
        return None
    return str(value)


def check_request(event: object, *, recipes: dict[str, Recipe], limits: Limits, execution_name: str) -> RunRequest:
    """A :class:`RunRequest` with defaults filled in, or :class:`InvalidRunRequestError` listing every problem."""
    if not isinstance(event, dict):
        raise InvalidRunRequestError(_problem("(input)", event, "a JSON object"))
    if event.get("technique") == IMPORT:
        return _check_import(event, limits, execution_name)
    problems = _unknown_keys(event, KNOWN_KEYS, "known keys: ")

    run_name = _run_name(event, execution_name, problems)
    technique = event.get("technique")
    if technique not in TRAINING_TECHNIQUES:
        problems.append(_problem("technique", technique, "one of " + ", ".join((*TRAINING_TECHNIQUES, IMPORT))))
    platform = event.get("platform")
    if platform not in PLATFORMS:
        problems.append(_problem("platform", platform, "one of " + ", ".join(PLATFORMS)))
    elif technique in TRAINING_TECHNIQUES:
        possible = [p for p in platforms_for(str(technique)) if p in limits.platforms]
        if platform not in possible:
            allowed = ", ".join(possible) if possible else "none: this environment cannot run it"
            problems.append(_problem("platform", platform, f"a platform for {technique} here: {allowed}"))
    deploy_mode = event.get("deploy_mode", DeployMode.NONE)
    if deploy_mode not in TRAINED_DEPLOY_MODES:
        problems.append(
            _problem(
                "deploy_mode",
                deploy_mode,
                "none: the Serving stack serves approved models (serving.model_source: lineage; bump "
                "serving.lineage_generation and deploy)",
            )
        )

    recipe_name = event.get("recipe", f"training/{technique}")
    recipe = recipes.get(recipe_name) if isinstance(recipe_name, str) else None
    if recipe is None:
        training = sorted(name for name in recipes if name.startswith("training/"))
        problems.append(_problem("recipe", recipe_name, "one of " + ", ".join(training)))
    elif technique in TRAINING_TECHNIQUES and recipe.technique != technique:
        problems.append(_problem("recipe", recipe_name, f"a {technique} recipe (this one is {recipe.technique})"))
    base_model = event.get("base_model")
    if recipe is not None and base_model != recipe.run.model_type:
        problems.append(_problem("base_model", base_model, f"the recipe's run.model_type {recipe.run.model_type!r}"))
    elif isinstance(base_model, str):
        _invokable(base_model, limits, problems)

    bucket = limits.datasets_bucket
    training_data = _s3("training_data", event.get("training_data"), bucket, problems)
    validation_data = _s3("validation_data", event.get("validation_data"), bucket, problems, required=False)
    evaluation_dataset = _s3("evaluation_dataset", event.get("evaluation_dataset"), bucket, problems)
    bedrock_fine_tuning = platform == Platform.BEDROCK and technique in BEDROCK_VALIDATED
    if validation_data and recipe is not None and not bedrock_fine_tuning:
        problems.append(
            _problem(
                "validation_data",
                validation_data,
                f"none for {technique} on {platform}; validation data is for Bedrock fine-tuning "
                f"({', '.join(BEDROCK_VALIDATED)})",
            )
        )

    if "model_data" in event:
        problems.append(
            _problem("model_data", event["model_data"], f"none for {technique}: it is for technique import")
        )
    overrides = event.get("overrides", {})
    if not isinstance(overrides, dict):
        problems.append(_problem("overrides", overrides, "an object with " + ", ".join(TUNABLE)))
        overrides = {}
    for name in sorted(set(overrides) - set(TUNABLE)):
        problems.append(_problem(f"overrides.{name}", overrides[name], "only " + ", ".join(TUNABLE)))
    thresholds = _thresholds(event.get("thresholds", {}), problems)

    if recipe is not None and training_data and not problems:
        # The recipe loader checks the run's values against the recipe as a whole.
        data_paths: dict[str, object] = {"train": training_data, "output": output_uri(limits, str(run_name))}
        try:
            rendered = render(recipe, {**{k: v for k, v in overrides.items() if k in TUNABLE}, **data_paths})
        except RecipeError as error:
            problems += [line.strip() for line in str(error).splitlines() if line.strip()]
        else:
            if platform == Platform.HYPERPOD:
                problems += _hyperpod_problems(rendered, recipe, limits)
    if problems:
        raise InvalidRunRequestError("; ".join(problems))
    return RunRequest(
        run_name=str(run_name),
        technique=str(technique),
        base_model=str(base_model),
        recipe=str(recipe_name),
        training_data=str(training_data),
        validation_data=validation_data,
        evaluation_dataset=str(evaluation_dataset),
        platform=str(platform),
        deploy_mode=str(deploy_mode),
        overrides={k: v for k, v in overrides.items() if k in TUNABLE},
        thresholds=thresholds,
    )


# Recipe run keys that hold node counts: one per PPO model role, else ``replicas``.
NODE_KEYS = (
    "replicas",
    "actor_train_replicas",
    "actor_generation_replicas",
    "rm_replicas",
    "cm_replicas",
    "am_replicas",
)


def _hyperpod_problems(rendered: dict[str, Any], recipe: Recipe, limits: Limits) -> list[str]:
    """A HyperPod run must fit the restricted instance group and run where Nova publishes its images."""
    problems = []
    if limits.region not in HYPERPOD_IMAGE_REGISTRIES:
        allowed = "a region with Nova HyperPod images: " + ", ".join(HYPERPOD_IMAGE_REGISTRIES)
        problems.append(
            _problem("platform", Platform.HYPERPOD, f"{allowed} (this environment is in {limits.region!r})")
        )
    run = rendered["run"]
    nodes = sum(int(run[key]) for key in NODE_KEYS if key in run) or 1
    if limits.hyperpod_max_nodes and nodes > limits.hyperpod_max_nodes:
        problems.append(
            _problem(
                "overrides.replicas" if "replicas" in run else "recipe",
                nodes,
                f"at most {limits.hyperpod_max_nodes} nodes in all, the restricted instance group's count; "
                + _smallest_group(recipe.technique, run),
            )
        )
    return problems


def _smallest_group(technique: str, run: dict[str, Any]) -> str:
    """The smallest restricted instance group the technique's model can run in, from the public recipe's
    replica counts (``nova.PUBLIC_RECIPES``; PPO: the actor's, plus the recipe's other roles)."""
    model = str(run["model_type"])
    allowed = allowed_replicas(technique, model)
    if not allowed:
        return f"{technique} on {model} has no public recipe's replica counts to go by"
    counts = ", ".join(str(count) for count in allowed)
    if "replicas" in run:
        return f"{technique} on {model} needs a group of at least {min(allowed)} (replicas {counts})"
    others = sum(int(run[key]) for key in NODE_KEYS if key in run and key != "actor_train_replicas")
    return (
        f"{technique} on {model} needs a group of at least {min(allowed) + others} "
        f"(actor_train_replicas {counts}, and {others} for the other roles)"
    )


def _unknown_keys(event: dict[str, Any], known: tuple[str, ...], allowed: str) -> list[str]:
    unknown = sorted(set(event) - set(known))
    return [_problem("(input)", unknown, allowed + ", ".join(known))] if unknown else []


def _run_name(event: dict[str, Any], execution_name: str, problems: list[str]) -> str:
    run_name = event.get("run_name", execution_name)
    if not isinstance(run_name, str) or not RUN_NAME.match(run_name):
        allowed = "1-48 characters: letters or digits, single '-' between them (no '--', no '-' at either end)"
        problems.append(_problem("run_name", run_name, allowed))
    return str(run_name)


def _check_import(event: dict[str, Any], limits: Limits, execution_name: str) -> RunRequest:
    """An open-weight model's weights (Hugging Face layout: config.json, safetensors, tokenizer) to import,
    evaluate against ``base_model`` and gate; Bedrock runs the import, so the platform is ``bedrock``."""
    problems = _unknown_keys(event, IMPORT_KEYS, "for technique import: ")
    run_name = _run_name(event, execution_name, problems)
    base_model = event.get("base_model")
    if not isinstance(base_model, str) or not FOUNDATION_MODEL_ID.match(base_model):
        problems.append(
            _problem(
                "base_model",
                base_model,
                "the Bedrock model id to compare with, without a us./eu./apac. prefix, "
                "e.g. meta.llama3-1-8b-instruct-v1:0",
            )
        )
    if isinstance(base_model, str):
        _invokable(base_model, limits, problems)
    model_data = _s3("model_data", event.get("model_data"), limits.datasets_bucket, problems)
    if model_data and not model_data.endswith("/"):
        problems.append(_problem("model_data", model_data, "a folder (ending in '/') holding the model's files"))
    evaluation_dataset = _s3("evaluation_dataset", event.get("evaluation_dataset"), limits.datasets_bucket, problems)
    deploy_mode = event.get("deploy_mode", "none")
    if deploy_mode not in IMPORT_DEPLOY_MODES:
        problems.append(
            _problem("deploy_mode", deploy_mode, "on-demand or none: an imported model is invoked on demand by its ARN")
        )
    thresholds = _thresholds(event.get("thresholds", {}), problems)
    if problems:
        raise InvalidRunRequestError("; ".join(problems))
    return RunRequest(
        run_name=run_name,
        technique=IMPORT,
        base_model=str(base_model),
        recipe="",
        training_data="",
        evaluation_dataset=str(evaluation_dataset),
        platform=Platform.BEDROCK,
        deploy_mode=str(deploy_mode),
        thresholds=thresholds,
        model_data=model_data,
    )


def _invokable(base_model: str, limits: Limits, problems: list[str]) -> None:
    """The evaluation compares with the base model on demand: one Bedrock serves only through a profile needs this
    environment's prefix to be one (or every base call of the evaluation fails, after training)."""
    problem = profile_problem(":".join(base_model.split(":")[:2]), limits.inference_profile_prefix)
    if problem is not None:
        now = limits.inference_profile_prefix or "none"
        problems.append(
            _problem(
                "base_model",
                base_model,
                f"a model invokable here: set workflow.inference_profile_prefix (now {now}) to {problem}",
            )
        )


def _thresholds(value: object, problems: list[str]) -> dict[str, float]:
    if not isinstance(value, dict):
        problems.append(_problem("thresholds", value, "an object of metric -> number"))
        return {}
    result = {}
    for name, (default, lowest, highest) in THRESHOLDS.items():
        given = value.get(name, default)
        if isinstance(given, bool) or not isinstance(given, int | float) or not lowest <= given <= highest:
            problems.append(_problem(f"thresholds.{name}", given, f"a number from {lowest:g} to {highest:g}"))
            continue
        result[name] = float(given)
    for name in sorted(set(value) - set(THRESHOLDS)):
        problems.append(_problem(f"thresholds.{name}", value[name], "one of " + ", ".join(THRESHOLDS)))
    return result
