"""Sections that several recipe kinds share: the ``run`` blocks and the optimizer.

Field names are the public Nova recipe keys (aws/sagemaker-hyperpod-recipes), so a
rendered recipe is what a SageMaker training job or HyperPod expects. Fields without a
default are required keys; ``X | None = None`` fields are optional keys. Each ``problems``
method returns every broken rule with its dotted key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from customization import nova
from customization.problems import Problem
from customization.value_rules import (
    S3_URI,
    S3_URI_FORM,
    job_name,
    learning_rate,
    non_negative,
    non_negative_int,
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


@dataclass(frozen=True)
class Run:
    """Which model a job uses, on how many instances, and where its data comes from and goes.

    Data paths stay ``""`` in the committed files: a run sets them (see ``recipe_render``).
    """

    name: str
    model_type: str
    model_name_or_path: str
    replicas: int
    data_s3_path: str = ""
    output_s3_path: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment_name: str = ""
    mlflow_run_name: str = ""

    def problems(self) -> list[Problem]:
        return [
            *job_name("run.name", self.name),
            *model_problems(self.model_type, self.model_name_or_path),
            *positive_int("run.replicas", self.replicas),
            *s3_uri("run.data_s3_path", self.data_s3_path, empty_ok=True),
            *s3_uri("run.output_s3_path", self.output_s3_path, empty_ok=True),
        ]


@dataclass(frozen=True)
class PretrainingRun(Run):
    """A CPT run: the common keys plus the validation data set (as in the public Nova 2 CPT recipe)."""

    validation_data_s3_path: str | None = None

    def problems(self) -> list[Problem]:
        found = super().problems()
        if self.validation_data_s3_path is not None:
            found += s3_uri("run.validation_data_s3_path", self.validation_data_s3_path, empty_ok=True)
        return found


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
    mlflow_experiment_name: str = ""
    mlflow_run_name: str = ""

    def problems(self) -> list[Problem]:
        found = [*job_name("run.name", self.name), *model_problems(self.model_type, self.model_name_or_path)]
        for role in ("actor_train", "actor_generation", "rm", "cm", "am"):
            found += positive_int(f"run.{role}_replicas", getattr(self, f"{role}_replicas"))
        found += s3_uri("run.data_s3_path", self.data_s3_path, empty_ok=True)
        found += s3_uri("run.output_s3_path", self.output_s3_path, empty_ok=True)
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
