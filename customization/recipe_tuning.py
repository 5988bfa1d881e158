"""Supervised fine-tuning (SFT) and direct preference optimization (DPO) recipes.

The LoRA and full-rank variants share one shape; ``peft.peft_scheme`` tells them apart and
must agree with the technique the file is named for, so a full-rank recipe can never be
run by a workflow that asked for a LoRA adapter (or the reverse). Replicas, global batch
size, LoRA ``alpha`` and DPO ``beta`` stay within the model's public recipe (``nova.PUBLIC_RECIPES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from customization import nova
from customization.problems import Problem
from customization.recipe_sections import Run, ScheduledOptimizer, batch_size_problems
from customization.typed_yaml import to_data
from customization.value_rules import between, dropout, one_of, positive, positive_int

MODEL_KEY = "training_config.model"


@dataclass(frozen=True)
class LoraTuning:
    """Size and learning-rate ratio of the LoRA adapter."""

    alpha: int
    loraplus_lr_ratio: float
    adapter_dropout: float


@dataclass(frozen=True)
class Peft:
    """``peft_scheme: lora`` trains an adapter; ``null`` updates every weight."""

    peft_scheme: Literal["lora"] | None
    lora_tuning: LoraTuning | None = None

    def problems(self, technique: nova.Technique) -> list[Problem]:
        key = f"{MODEL_KEY}.peft"
        if technique in nova.LORA_TECHNIQUES:
            found = []
            if self.peft_scheme != "lora":
                found.append(Problem(f"{key}.peft_scheme", self.peft_scheme, f"'lora' ({technique} trains an adapter)"))
            if self.lora_tuning is None:
                found.append(Problem.missing(f"{key}.lora_tuning", "required when peft_scheme is 'lora'"))
            else:
                # Every public Nova LoRA recipe: "Allowed values are 32, 64, 96, 128, 160 and 192".
                found += one_of(
                    f"{key}.lora_tuning.alpha", self.lora_tuning.alpha, nova.LORA_ALPHAS, "the public LoRA recipes"
                )
                found += positive(f"{key}.lora_tuning.loraplus_lr_ratio", self.lora_tuning.loraplus_lr_ratio)
                found += dropout(f"{key}.lora_tuning.adapter_dropout", self.lora_tuning.adapter_dropout)
            return found
        found = []
        if self.peft_scheme is not None:
            found.append(Problem(f"{key}.peft_scheme", self.peft_scheme, f"null ({technique} updates every weight)"))
        if self.lora_tuning is not None:
            found.append(
                Problem(f"{key}.lora_tuning", to_data(self.lora_tuning), "null or no key (peft_scheme is null)")
            )
        return found


@dataclass(frozen=True)
class Trainer:
    """How long to train: whole passes over the training data."""

    max_epochs: int


@dataclass(frozen=True)
class TuningModel:
    """Dropouts, optimizer and adapter settings of an SFT run."""

    hidden_dropout: float
    attention_dropout: float
    ffn_dropout: float
    optim: ScheduledOptimizer
    peft: Peft


@dataclass(frozen=True)
class DpoCfg:
    """``beta`` weighs the preference loss against staying close to the reference model."""

    beta: float


@dataclass(frozen=True)
class PreferenceModel(TuningModel):
    """An SFT model section plus the DPO settings."""

    dpo_cfg: DpoCfg


@dataclass(frozen=True)
class TuningConfig:
    """``training_config`` of an SFT recipe."""

    max_length: int
    global_batch_size: int
    trainer: Trainer
    model: TuningModel


@dataclass(frozen=True)
class PreferenceConfig:
    """``training_config`` of a DPO recipe."""

    max_length: int
    global_batch_size: int
    trainer: Trainer
    model: PreferenceModel


def _config_problems(
    config: TuningConfig | PreferenceConfig, technique: nova.Technique, model_type: str
) -> list[Problem]:
    model = config.model
    found = [
        *positive_int("training_config.max_length", config.max_length),
        *batch_size_problems(config.global_batch_size, technique, model_type),
        *positive_int("training_config.trainer.max_epochs", config.trainer.max_epochs),
        *dropout(f"{MODEL_KEY}.hidden_dropout", model.hidden_dropout),
        *dropout(f"{MODEL_KEY}.attention_dropout", model.attention_dropout),
        *dropout(f"{MODEL_KEY}.ffn_dropout", model.ffn_dropout),
        *model.optim.problems(f"{MODEL_KEY}.optim"),
        *model.peft.problems(technique),
    ]
    if isinstance(model, PreferenceModel):
        # Every public Nova DPO recipe: beta "Limits: [0.001, 0.5]".
        found += between(f"{MODEL_KEY}.dpo_cfg.beta", model.dpo_cfg.beta, nova.DPO_BETA_RANGE, "the public DPO recipes")
    return found


@dataclass(frozen=True)
class SftDocument:
    """A supervised fine-tuning recipe (``sft_lora`` or ``sft_full``)."""

    run: Run
    training_config: TuningConfig

    def problems(self, technique: nova.Technique) -> list[Problem]:
        return self.run.problems(technique) + _config_problems(self.training_config, technique, self.run.model_type)


@dataclass(frozen=True)
class DpoDocument:
    """A direct preference optimization recipe (``dpo_lora`` or ``dpo_full``)."""

    run: Run
    training_config: PreferenceConfig

    def problems(self, technique: nova.Technique) -> list[Problem]:
        return self.run.problems(technique) + _config_problems(self.training_config, technique, self.run.model_type)
