"""Sections that several recipe kinds share: the ``run`` blocks and the optimizer.

Field names are the public Nova recipe keys (aws/sagemaker-hyperpod-recipes), so a
rendered recipe is what a SageMaker training job or HyperPod expects. Fields without a
default are required keys; ``X | None = None`` fields are optional keys. Each ``problems``
method returns every broken rule with its dotted key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from customization import nova
from customization.problems import Problem
from customization.value_rules import (
    S3_URI,
    S3_URI_FORM,
    job_name,
    learning_rate,
    non_empty,
    non_negative,
    non_negative_int,
    one_of,
    open_unit,
    positive,
    positive_int,
    s3_uri,
    unit,
)


def model_problems(model_type: str, model_name_or_path: str | None) -> list[Problem]:
    """``model_type`` is a trainable Nova model and the checkpoint path belongs to it."""
    if model_type not in nova.MODEL_BASE_PATHS:
        return [Problem("run.model_type", model_type, "one of " + ", ".join(nova.MODEL_TYPES))]
    base = nova.MODEL_BASE_PATHS[model_type]
    if model_name_or_path is None or model_name_or_path == base or S3_URI.match(model_name_or_path):
        return []
    return [
        Problem(
            "run.model_name_or_path",
            model_name_or_path,
            f"{base!r} (the base checkpoint of {model_type}) or {S3_URI_FORM} (a trained checkpoint)",
        )
    ]


def technique_model_problems(technique: str, model_type: str) -> list[Problem]:
    """``model_type`` has a public ``technique`` recipe in the shape this loader reads (``nova.PUBLIC_RECIPES``)."""
    models = nova.public_models(technique)
    if model_type not in nova.MODEL_BASE_PATHS or model_type in models:
        return []  # model_problems names an unknown model type
    reason = nova.OTHER_SHAPES.get((technique, model_type), f"the models with a public {technique} recipe")
    return [Problem("run.model_type", model_type, f"one of {', '.join(models)} ({reason})")]


def public_recipe_rule(technique: str, model_type: str, recipe: nova.PublicRecipe) -> str:
    """Whose value set a problem quotes: ``sft_lora on <model>, per the public recipe <file>``."""
    return f"{technique} on {model_type}, per the public recipe {recipe.file}"


def batch_size_problems(size: int, technique: str, model_type: str) -> list[Problem]:
    """``training_config.global_batch_size`` is one the model's public recipe of the technique allows."""
    recipe = nova.PUBLIC_RECIPES.get(technique, {}).get(model_type)
    if recipe is None:  # the model is refused for the technique: run.model_type says why
        return positive_int("training_config.global_batch_size", size)
    rule = public_recipe_rule(technique, model_type, recipe)
    return one_of("training_config.global_batch_size", size, recipe.global_batch_sizes, rule)


# The public training recipes say of both MLflow names: "Note: leave this field non-empty".
MLFLOW_NAMES_RULE = 'the public Nova recipes: "leave this field non-empty"'


def mlflow_problems(experiment_name: str, run_name: str) -> list[Problem]:
    return [
        *non_empty("run.mlflow_experiment_name", experiment_name, MLFLOW_NAMES_RULE),
        *non_empty("run.mlflow_run_name", run_name, MLFLOW_NAMES_RULE),
    ]


@dataclass(frozen=True)
class Run:
    """Which model a job uses, on how many instances, where its data comes from and goes, and its MLflow names.

    Data paths stay ``""`` in the committed files: a run sets them (see ``recipe_render``). The
    MLflow names are required and non-empty, as the public recipes ask; the tracking URI may stay
    ``""`` (MLflow off).
    """

    name: str
    model_type: str
    model_name_or_path: str
    replicas: int
    data_s3_path: str = ""
    output_s3_path: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment_name: str = field(kw_only=True)
    mlflow_run_name: str = field(kw_only=True)

    def problems(self, technique: str) -> list[Problem]:
        found = [
            *job_name("run.name", self.name),
            *model_problems(self.model_type, self.model_name_or_path),
            *technique_model_problems(technique, self.model_type),
        ]
        recipe = nova.PUBLIC_RECIPES.get(technique, {}).get(self.model_type)
        if recipe is None:
            found += positive_int("run.replicas", self.replicas)
        else:
            rule = public_recipe_rule(technique, self.model_type, recipe)
            found += one_of("run.replicas", self.replicas, recipe.replicas, rule)
        return [
            *found,
            *s3_uri("run.data_s3_path", self.data_s3_path, empty_ok=True),
            *s3_uri("run.output_s3_path", self.output_s3_path, empty_ok=True),
            *mlflow_problems(self.mlflow_experiment_name, self.mlflow_run_name),
        ]


@dataclass(frozen=True)
class PpoRun:
    """A PPO run: one replica count per model role instead of a single ``replicas``."""

    name: str
    model_type: str
    model_name_or_path: str
    actor_train_replicas: int
    actor_generation_replicas: int
    rm_replicas: int
    cm_replicas: int
    am_replicas: int
    data_s3_path: str = ""
    output_s3_path: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment_name: str = field(kw_only=True)
    mlflow_run_name: str = field(kw_only=True)

    def problems(self) -> list[Problem]:
        found = [
            *job_name("run.name", self.name),
            *model_problems(self.model_type, self.model_name_or_path),
            *technique_model_problems("ppo", self.model_type),
        ]
        for role in ("actor_train", "actor_generation", "rm", "cm", "am"):
            found += positive_int(f"run.{role}_replicas", getattr(self, f"{role}_replicas"))
        actor = nova.PPO_ACTOR_TRAIN_REPLICAS.get(self.model_type)
        if actor is not None and self.actor_train_replicas >= 1:
            # The public launcher's PPO templatization enum (nova.PPO_ACTOR_TRAIN_REPLICAS).
            rule = f"ppo on {self.model_type}, per the public launcher's PPO template"
            found += one_of("run.actor_train_replicas", self.actor_train_replicas, actor, rule)
        found += s3_uri("run.data_s3_path", self.data_s3_path, empty_ok=True)
        found += s3_uri("run.output_s3_path", self.output_s3_path, empty_ok=True)
        found += mlflow_problems(self.mlflow_experiment_name, self.mlflow_run_name)
        return found


@dataclass(frozen=True)
class DistillationRun:
    """A Bedrock distillation run: ``model_type`` is the student; data is prompts only."""

    name: str
    model_type: str
    data_s3_path: str = ""
    output_s3_path: str = ""

    def problems(self) -> list[Problem]:
        return [
            *job_name("run.name", self.name),
            *model_problems(self.model_type, None),
            *s3_uri("run.data_s3_path", self.data_s3_path, empty_ok=True),
            *s3_uri("run.output_s3_path", self.output_s3_path, empty_ok=True),
        ]


@dataclass(frozen=True)
class Optimizer:
    """AdamW settings as the Nova recipes spell them."""

    name: Literal["distributed_fused_adam"]
    lr: float
    adam_w_mode: bool
    eps: float
    weight_decay: float
    betas: tuple[float, ...]

    def problems(self, key: str) -> list[Problem]:
        found = [
            *learning_rate(f"{key}.lr", self.lr),
            *positive(f"{key}.eps", self.eps),
            *unit(f"{key}.weight_decay", self.weight_decay),
        ]
        if len(self.betas) != 2:
            found.append(Problem(f"{key}.betas", list(self.betas), "two numbers, e.g. [0.9, 0.999]"))
        for i, beta in enumerate(self.betas):
            found += open_unit(f"{key}.betas[{i}]", beta)
        return found


@dataclass(frozen=True)
class Schedule:
    """Learning-rate warm-up and decay floor."""

    warmup_steps: int
    constant_steps: int
    min_lr: float


@dataclass(frozen=True)
class ScheduledOptimizer(Optimizer):
    """The SFT, DPO and CPT optimizer: AdamW plus a learning-rate schedule."""

    sched: Schedule

    def problems(self, key: str) -> list[Problem]:
        found = super().problems(key)
        found += non_negative_int(f"{key}.sched.warmup_steps", self.sched.warmup_steps)
        found += non_negative_int(f"{key}.sched.constant_steps", self.sched.constant_steps)
        found += non_negative(f"{key}.sched.min_lr", self.sched.min_lr)
        if 0 < self.lr < 1 and self.sched.min_lr >= self.lr:
            found.append(Problem(f"{key}.sched.min_lr", self.sched.min_lr, f"a number below {key}.lr ({self.lr})"))
        return found
