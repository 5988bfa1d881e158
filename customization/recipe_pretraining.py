"""Continued pre-training (CPT) recipes: the public Nova 1 CPT recipe, key for key.

The shape is that of aws/sagemaker-hyperpod-recipes' ``training/nova/nova_1_0/nova_<model>/CPT/``
recipes: no validation data, no early stopping, no data mixing (Nova Forge's data-mix recipes
are subscription-only). Nova 2 Lite's public CPT recipe has another shape, so a CPT recipe
naming it is refused (``nova.OTHER_SHAPES``).
"""

from __future__ import annotations

from dataclasses import dataclass

from customization import nova
from customization.problems import Problem
from customization.recipe_sections import Run, ScheduledOptimizer, batch_size_problems
from customization.value_rules import dropout, positive_int

MODEL_KEY = "training_config.model"


@dataclass(frozen=True)
class PretrainingTrainer:
    """How long to train: whole passes over the raw text."""

    max_epochs: int


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


@dataclass(frozen=True)
class CptDocument:
    """A continued pre-training recipe: raw text in, a domain-adapted checkpoint out."""

    run: Run
    training_config: PretrainingConfig

    def problems(self, technique: nova.Technique) -> list[Problem]:
        config = self.training_config
        model = config.model
        return [
            *self.run.problems(technique),
            *positive_int("training_config.max_length", config.max_length),
            *batch_size_problems(config.global_batch_size, technique, self.run.model_type),
            *positive_int("training_config.trainer.max_epochs", config.trainer.max_epochs),
            *dropout(f"{MODEL_KEY}.hidden_dropout", model.hidden_dropout),
            *dropout(f"{MODEL_KEY}.attention_dropout", model.attention_dropout),
            *dropout(f"{MODEL_KEY}.ffn_dropout", model.ffn_dropout),
            *model.optim.problems(f"{MODEL_KEY}.optim"),
        ]
