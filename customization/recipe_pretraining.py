"""Continued pre-training (CPT) recipes, with early stopping and data mixing.

The public Nova CPT recipe has no early-stopping or data-mixing keys of its own; these two
optional blocks are this platform's, named after the Lightning trainer settings (monitor,
patience, min_delta) and Nova Forge data mixing (customer_data_percent plus Nova data
categories whose shares sum to 100), so that the workflow can stop a run whose
validation loss stalls and keep general skills while learning a domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from customization import nova
from customization.problems import Problem
from customization.recipe_sections import PretrainingRun, ScheduledOptimizer
from customization.value_rules import dropout, non_negative, positive_int

TRAINER_KEY = "training_config.trainer"
MIXING_KEY = "training_config.data_mixing"


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when validation loss has not improved by ``min_delta`` in ``patience`` checks."""

    monitor: Literal["val_loss"]
    patience: int
    min_delta: float


@dataclass(frozen=True)
class PretrainingTrainer:
    """Epochs, and how often (in steps) and on how many batches validation runs."""

    max_epochs: int
    val_check_interval: int | None = None
    limit_val_batches: int | None = None
    early_stopping: EarlyStopping | None = None

    def problems(self) -> list[Problem]:
        found = positive_int(f"{TRAINER_KEY}.max_epochs", self.max_epochs)
        if self.val_check_interval is not None:
            found += positive_int(f"{TRAINER_KEY}.val_check_interval", self.val_check_interval)
        if self.limit_val_batches is not None:
            found += positive_int(f"{TRAINER_KEY}.limit_val_batches", self.limit_val_batches)
        if self.early_stopping is not None:
            if self.val_check_interval is None:
                found.append(
                    Problem.missing(
                        f"{TRAINER_KEY}.val_check_interval", "early stopping needs validation every this many steps"
                    )
                )
            found += positive_int(f"{TRAINER_KEY}.early_stopping.patience", self.early_stopping.patience)
            found += non_negative(f"{TRAINER_KEY}.early_stopping.min_delta", self.early_stopping.min_delta)
        return found


@dataclass(frozen=True)
class DataMixing:
    """Share of the customer's data, and how the rest splits over Nova's curated data."""

    customer_data_percent: float
    nova_data: dict[str, float]

    def problems(self) -> list[Problem]:
        found = []
        if not 0 < self.customer_data_percent <= 100:
            found.append(
                Problem(
                    f"{MIXING_KEY}.customer_data_percent", self.customer_data_percent, "a percentage > 0 and <= 100"
                )
            )
        for category, share in self.nova_data.items():
            if category not in nova.NOVA_DATA_CATEGORIES:
                found.append(Problem.unknown_key(f"{MIXING_KEY}.nova_data.{category}", nova.NOVA_DATA_CATEGORIES))
            elif share < 0:
                found.append(Problem(f"{MIXING_KEY}.nova_data.{category}", share, "a percentage >= 0"))
        total = sum(self.nova_data.values())
        if self.customer_data_percent < 100 and not math.isclose(total, 100.0, abs_tol=1e-6):
            found.append(
                Problem(
                    f"{MIXING_KEY}.nova_data", dict(self.nova_data), f"shares that sum to 100 (they sum to {total:g})"
                )
            )
        return found


@dataclass(frozen=True)
class PretrainingModel:
    """Dropouts and optimizer of a CPT run (CPT updates every weight: no ``peft``)."""

    hidden_dropout: float
    attention_dropout: float
    ffn_dropout: float
    optim: ScheduledOptimizer


@dataclass(frozen=True)
class PretrainingConfig:
    """``training_config`` of a CPT recipe."""

    max_length: int
    global_batch_size: int
    trainer: PretrainingTrainer
    model: PretrainingModel
    data_mixing: DataMixing | None = None


@dataclass(frozen=True)
class CptDocument:
    """A continued pre-training recipe: raw text in, a domain-adapted checkpoint out."""

    run: PretrainingRun
    training_config: PretrainingConfig

    def problems(self, technique: nova.Technique) -> list[Problem]:
        config = self.training_config
        model = config.model
        found = [
            *self.run.problems(),
            *positive_int("training_config.max_length", config.max_length),
            *positive_int("training_config.global_batch_size", config.global_batch_size),
            *config.trainer.problems(),
            *dropout("training_config.model.hidden_dropout", model.hidden_dropout),
            *dropout("training_config.model.attention_dropout", model.attention_dropout),
            *dropout("training_config.model.ffn_dropout", model.ffn_dropout),
            *model.optim.problems("training_config.model.optim"),
        ]
        if config.data_mixing is not None:
            found += config.data_mixing.problems()
        return found

    @property
    def needs_validation_data(self) -> bool:
        """Early stopping watches validation loss, so a run must name validation data."""
        return self.training_config.trainer.early_stopping is not None
