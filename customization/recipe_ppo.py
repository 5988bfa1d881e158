"""Proximal policy optimization (PPO) recipes: five model roles, each on its own nodes.

The actor is trained; the actor-generation copy samples responses; the frozen reward model
scores them; the critic (trained) estimates value; the frozen anchor keeps the actor close
to where it started. Each role's ``trainer.num_nodes`` must point at its own replica count
in ``run`` (the public recipe's ``${recipes.run.<role>_replicas}`` interpolation), so the
replica counts in ``run`` are the only place a size is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from customization import nova
from customization.problems import Problem
from customization.recipe_sections import Optimizer, PpoRun
from customization.value_rules import dropout, non_negative, open_unit, positive_int, unit

# Role block -> the run key holding its replica count.
ROLE_REPLICAS = {
    "ppo_actor_generation": "actor_generation_replicas",
    "ppo_actor_train": "actor_train_replicas",
    "ppo_reward": "rm_replicas",
    "ppo_critic": "cm_replicas",
    "ppo_anchor": "am_replicas",
}


@dataclass(frozen=True)
class Nodes:
    """``trainer`` of a role: how many nodes it runs on, as a reference to ``run``."""

    num_nodes: str


@dataclass(frozen=True)
class FrozenModel:
    """A role whose weights do not change (reward model, anchor)."""

    global_batch_size: int


@dataclass(frozen=True)
class CriticModel:
    """The critic: trained alongside the actor."""

    global_batch_size: int
    optim: Optimizer


@dataclass(frozen=True)
class ActorModel:
    """The policy being trained, with the PPO loss settings."""

    global_batch_size: int
    clip_ratio: float
    lam: float
    ent_coeff: float
    kl_loss_coeff: float
    kl_loss_type: Literal["low_var_kl"]
    kl_reward_penalty_coeff: float
    hidden_dropout: float
    attention_dropout: float
    ffn_dropout: float
    optim: Optimizer


@dataclass(frozen=True)
class ActorGeneration:
    """The sampling copy of the actor; its weights are refreshed from the trained actor."""

    actor_model_max_length: int
    trainer: Nodes


@dataclass(frozen=True)
class ActorTrain:
    """The trained policy: how long it trains and how many rollouts it buffers per update."""

    max_length: int
    max_steps: int
    actor_model_max_length: int
    reward_model_max_length: int
    trajectory_buffer_scale: int
    model: ActorModel
    trainer: Nodes


@dataclass(frozen=True)
class ScoringRole:
    """The reward model or the anchor: frozen, scoring sequences up to ``max_length``."""

    max_length: int
    model: FrozenModel
    trainer: Nodes


@dataclass(frozen=True)
class Critic:
    """The value model, trained alongside the actor."""

    max_length: int
    model: CriticModel
    trainer: Nodes


@dataclass(frozen=True)
class PpoDocument:
    """A PPO recipe (top-level keys as in the public Nova PPO recipe)."""

    run: PpoRun
    ppo_actor_generation: ActorGeneration
    ppo_actor_train: ActorTrain
    ppo_reward: ScoringRole
    ppo_critic: Critic
    ppo_anchor: ScoringRole

    def problems(self, technique: nova.Technique) -> list[Problem]:
        found = self.run.problems()
        for role, replicas in ROLE_REPLICAS.items():
            nodes = getattr(self, role).trainer.num_nodes
            expected = "${recipes.run." + replicas + "}"
            if nodes != expected:
                found.append(Problem(f"{role}.trainer.num_nodes", nodes, repr(expected)))
        generation, actor, critic = self.ppo_actor_generation, self.ppo_actor_train, self.ppo_critic
        found += positive_int("ppo_actor_generation.actor_model_max_length", generation.actor_model_max_length)
        for name in ("max_length", "max_steps", "actor_model_max_length", "reward_model_max_length"):
            found += positive_int(f"ppo_actor_train.{name}", getattr(actor, name))
        found += positive_int("ppo_actor_train.trajectory_buffer_scale", actor.trajectory_buffer_scale)
        found += _actor_model_problems(actor.model)
        found += positive_int("ppo_critic.max_length", critic.max_length)
        found += positive_int("ppo_critic.model.global_batch_size", critic.model.global_batch_size)
        found += critic.model.optim.problems("ppo_critic.model.optim")
        for role in ("ppo_reward", "ppo_anchor"):
            block: ScoringRole = getattr(self, role)
            found += positive_int(f"{role}.max_length", block.max_length)
            found += positive_int(f"{role}.model.global_batch_size", block.model.global_batch_size)
        return found


def _actor_model_problems(model: ActorModel) -> list[Problem]:
    key = "ppo_actor_train.model"
    return [
        *positive_int(f"{key}.global_batch_size", model.global_batch_size),
        *open_unit(f"{key}.clip_ratio", model.clip_ratio),
        *unit(f"{key}.lam", model.lam),
        *non_negative(f"{key}.ent_coeff", model.ent_coeff),
        *non_negative(f"{key}.kl_loss_coeff", model.kl_loss_coeff),
        *non_negative(f"{key}.kl_reward_penalty_coeff", model.kl_reward_penalty_coeff),
        *dropout(f"{key}.hidden_dropout", model.hidden_dropout),
        *dropout(f"{key}.attention_dropout", model.attention_dropout),
        *dropout(f"{key}.ffn_dropout", model.ffn_dropout),
        *model.optim.problems(f"{key}.optim"),
    ]
