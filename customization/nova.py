"""What Amazon Nova customization accepts: model ids, teachers, the public recipes' value sets, platforms.

Kept apart from the recipe parser so that a new model or value set is one line here.
Sources: the Amazon Nova user guide (customization and distillation tables, CPT and PPO
pages), the Bedrock API reference (TeacherModelConfig) and the public
aws/sagemaker-hyperpod-recipes repository (HPR below, commit 263199555b2e; notes in
docs/research/nova_recipes.md). Re-check when Nova adds models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Technique = Literal["sft_lora", "sft_full", "dpo_lora", "dpo_full", "ppo", "distillation", "cpt"]
Platform = Literal["sagemaker-training-job", "hyperpod", "bedrock"]

TRAINING_TECHNIQUES: tuple[Technique, ...] = (
    "sft_lora",
    "sft_full",
    "dpo_lora",
    "dpo_full",
    "ppo",
    "distillation",
    "cpt",
)
LORA_TECHNIQUES: frozenset[Technique] = frozenset({"sft_lora", "dpo_lora"})

NOVA_MICRO = "amazon.nova-micro-v1:0:128k"
NOVA_LITE = "amazon.nova-lite-v1:0:300k"
NOVA_PRO = "amazon.nova-pro-v1:0:300k"
NOVA_2_LITE = "amazon.nova-2-lite-v1:0:256k"

# Trainable model types (the recipes' run.model_type) and the base checkpoint each names in
# run.model_name_or_path. Nova Premier is a distillation teacher only, so it is not here.
MODEL_BASE_PATHS: dict[str, str] = {
    NOVA_MICRO: "nova-micro/prod",
    NOVA_LITE: "nova-lite/prod",
    NOVA_PRO: "nova-pro/prod",
    NOVA_2_LITE: "nova-lite-2/prod",
}
MODEL_TYPES: tuple[str, ...] = tuple(MODEL_BASE_PATHS)


@dataclass(frozen=True)
class PublicRecipe:
    """What one model's public recipe of a technique allows, as the recipe's comments state it."""

    replicas: tuple[int, ...]
    """``run.replicas``."""
    global_batch_sizes: tuple[int, ...]
    """``training_config.global_batch_size``."""
    file: str
    """The HPR file the values come from (its folder is in the comment above ``PUBLIC_RECIPES``)."""


# Per technique, the models with a public recipe of it and what that recipe allows, from the multi-node p5 recipes
# (ml.p5.48xlarge, p5en, p4d; the one-node g5/g6 recipes are not offered here). Values are the files' comments:
# "allowed values are ...", "All supported values: {...}", "Limits: {...}", "options: ...". Files are in HPR
# recipes_collection/recipes/fine-tuning/nova/nova_<1|2>_0/nova_<model>/<SFT|DPO>/, CPT in
# recipes_collection/recipes/training/nova/nova_1_0/nova_<model>/CPT/. A model missing from a technique is refused:
# Nova 2 Lite has no public DPO recipe, and its CPT recipe has another shape (OTHER_SHAPES).
PUBLIC_RECIPES: dict[str, dict[str, PublicRecipe]] = {
    "sft_lora": {
        NOVA_MICRO: PublicRecipe((2, 4, 8), (16, 32, 64), "nova_micro_1_0_p5_p4d_gpu_lora_sft.yaml"),
        NOVA_LITE: PublicRecipe((4, 8, 16), (16, 32, 64), "nova_lite_1_0_p5_p4d_gpu_lora_sft.yaml"),
        NOVA_PRO: PublicRecipe((6, 12, 24), (16, 32), "nova_pro_1_0_p5_p4d_gpu_lora_sft.yaml"),
    },
    "sft_full": {
        NOVA_MICRO: PublicRecipe((2, 4, 8), (16, 32, 64), "nova_micro_1_0_p5_p4d_gpu_sft.yaml"),
        NOVA_LITE: PublicRecipe((4, 8, 16), (16, 32, 64), "nova_lite_1_0_p5_p4d_gpu_sft.yaml"),
        NOVA_PRO: PublicRecipe((6, 12, 24), (16, 32), "nova_pro_1_0_p5_gpu_sft.yaml"),
    },
    "dpo_lora": {
        NOVA_MICRO: PublicRecipe((2, 4, 8), (16, 32, 64, 128, 256), "nova_micro_1_0_p5_p4d_gpu_lora_dpo.yaml"),
        NOVA_LITE: PublicRecipe((4, 8, 16), (16, 32, 64, 128, 256), "nova_lite_1_0_p5_p4d_gpu_lora_dpo.yaml"),
        NOVA_PRO: PublicRecipe((6, 12, 24), (16, 32, 64, 128), "nova_pro_1_0_p5_p4d_gpu_lora_dpo.yaml"),
    },
    "dpo_full": {
        NOVA_MICRO: PublicRecipe((2, 4, 8), (16, 32, 64, 128, 256), "nova_micro_1_0_p5_p4d_gpu_dpo.yaml"),
        NOVA_LITE: PublicRecipe((4, 8, 16), (16, 32, 64, 128, 256), "nova_lite_1_0_p5_p4d_gpu_dpo.yaml"),
        NOVA_PRO: PublicRecipe((6, 12, 24), (16, 32, 64, 128), "nova_pro_1_0_p5_gpu_dpo.yaml"),
    },
    "cpt": {
        NOVA_MICRO: PublicRecipe((2, 4, 8, 16, 32), (32, 64, 128, 256), "nova_micro_1_0_p5x8_gpu_pretrain.yaml"),
        NOVA_LITE: PublicRecipe((4, 8, 16, 32), (32, 64, 128, 256), "nova_lite_1_0_p5x16_gpu_pretrain.yaml"),
        NOVA_PRO: PublicRecipe((6, 12, 24), (32, 64, 128, 256), "nova_pro_1_0_p5x24_gpu_pretrain.yaml"),
    },
}

# PPO's run.actor_train_replicas per model: the PPO recipes (HPR fine-tuning/nova/nova_1_0/nova_<model>/PPO/
# nova_<model>_1_0_p5_gpu_ppo.yaml) state no range, so this is the public launcher's templatization enum (HPR
# launcher/recipe_templatization/nova/nova_recipe_template_parameters.json, nova_ppo.replicas, per Model_ID).
# Nova 2 Lite has no public PPO recipe.
PPO_ACTOR_TRAIN_REPLICAS: dict[str, tuple[int, ...]] = {
    NOVA_MICRO: (2,),
    NOVA_LITE: (2,),
    NOVA_PRO: (6,),
}

# Why a model that has a public recipe of a technique is refused all the same: this loader reads the Nova 1 shape.
_NOVA_2_SFT = (
    "has another shape: training_config.max_steps instead of trainer.max_epochs, optim_config and lr_scheduler "
    "instead of model.optim, lora_tuning.lora_plus_lr_ratio"
)
OTHER_SHAPES: dict[tuple[str, str], str] = {
    # HPR recipes_collection/recipes/fine-tuning/nova/nova_2_0/nova_lite/SFT/
    (
        "sft_lora",
        NOVA_2_LITE,
    ): f"Nova 2 Lite's public LoRA SFT recipe, nova_lite_2_0_p5_gpu_lora_sft.yaml, {_NOVA_2_SFT}",
    ("sft_full", NOVA_2_LITE): f"Nova 2 Lite's public SFT recipe, nova_lite_2_0_p5_gpu_sft.yaml, {_NOVA_2_SFT}",
    # HPR recipes_collection/recipes/training/nova/nova_2_0/nova_lite/CPT/nova_lite_2_0_p5x8_gpu_pretrain.yaml
    ("cpt", NOVA_2_LITE): (
        "Nova 2 Lite's public CPT recipe, nova_lite_2_0_p5x8_gpu_pretrain.yaml, has another shape: "
        "training_config.optim beside model, and trainer.max_steps instead of max_epochs"
    ),
}

# lora_tuning.alpha: every SFT and DPO LoRA recipe in PUBLIC_RECIPES ("Allowed values are 32, 64, 96, 128, 160
# and 192"; Nova 2 Lite: "options: 32, 64, 96, 128, 160, 192").
LORA_ALPHAS: tuple[int, ...] = (32, 64, 96, 128, 160, 192)
# dpo_cfg.beta, lowest and highest: every DPO recipe in PUBLIC_RECIPES ("Limits: [0.001, 0.5]"; the templatization's
# adam_beta stops at 0.1, but the recipes' own limit is the one kept here).
DPO_BETA_RANGE: tuple[float, float] = (0.001, 0.5)

# Bedrock model distillation: teacher foundation model id -> student model types it can teach.
# A cross-Region inference profile (``us.``, ``eu.``, ``apac.`` prefix) names the same teacher.
DISTILLATION_STUDENTS: dict[str, tuple[str, ...]] = {
    "amazon.nova-premier-v1:0": (NOVA_PRO, NOVA_LITE, NOVA_MICRO),
    "amazon.nova-pro-v1:0": (NOVA_LITE, NOVA_MICRO),
}
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.")

# Where each technique runs, from the Nova user guide's table of training recipes per service.
PLATFORMS: dict[Technique, tuple[Platform, ...]] = {
    "sft_lora": ("sagemaker-training-job", "hyperpod", "bedrock"),
    "sft_full": ("sagemaker-training-job", "hyperpod"),
    "dpo_lora": ("sagemaker-training-job", "hyperpod"),
    "dpo_full": ("sagemaker-training-job", "hyperpod"),
    "ppo": ("hyperpod",),
    "cpt": ("hyperpod",),
    "distillation": ("bedrock",),
}

# Nova's image registries for HyperPod, per region: the public launcher's regional parameters
# (aws/sagemaker-hyperpod-recipes, launcher/recipe_templatization/nova/nova_regional_parameters.json,
# commit 263199555b2e). HyperPod training runs only where Nova publishes its training images.
HYPERPOD_IMAGE_REGISTRIES: dict[str, str] = {
    "us-east-1": "708977205387",
    "us-west-2": "176779409107",
    "ap-northeast-1": "878185805882",
}


# How Bedrock can invoke a customized Nova model (Nova user guide, "Customizing Amazon Nova models" table and
# "On-demand inference of custom Nova models": on-demand inference is for models customized in Bedrock and for
# PEFT (LoRA) models from SageMaker, "not supported for Full-rank fine-tuned models"; every recipe's model can
# use provisioned throughput). Full-rank SFT and DPO, PPO and CPT are evaluated on a provisioned throughput.
# Models Bedrock serves on demand only through cross-Region inference profiles (no in-Region model id), with the
# profile prefixes of this platform's geographies that serve them: Amazon Nova 2 user guide, "Core inference"
# (model IDs: Nova 2 Lite is us. or global. only). Invoked without one, Converse refuses the model id.
PROFILE_ONLY_MODELS: dict[str, tuple[str, ...]] = {"amazon.nova-2-lite-v1:0": ("us.",)}


def profile_problem(model_id: str, prefix: str) -> str | None:
    """Why ``prefix`` (an environment's inference profile prefix, ``""`` for none) cannot invoke ``model_id`` (an id
    without a prefix of its own) on demand, naming the prefixes that can; ``None`` when it can."""
    allowed = PROFILE_ONLY_MODELS.get(model_id)
    if allowed is None or prefix in allowed:
        return None
    return f"{' or '.join(allowed)}: Bedrock serves {model_id} on demand only through cross-Region profiles"


ON_DEMAND_TECHNIQUES: frozenset[Technique] = frozenset({"sft_lora", "dpo_lora", "distillation"})


def on_demand_invokable(technique: str) -> bool:
    """Whether a model of ``technique`` can have an on-demand deployment in Bedrock."""
    return technique in ON_DEMAND_TECHNIQUES


def teacher_base(model_id: str) -> str:
    """The teacher's foundation model id without a cross-Region inference profile prefix."""
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def platforms_for(technique: str) -> tuple[Platform, ...]:
    """The platforms that can run ``technique``; raises ``ValueError`` for an unknown technique."""
    if technique not in PLATFORMS:
        raise ValueError(f"technique: {technique!r} is not allowed; expected one of {', '.join(PLATFORMS)}")
    return PLATFORMS[technique]


def public_models(technique: str) -> tuple[str, ...]:
    """The model types with a public ``technique`` recipe in the shape this loader reads (none for distillation,
    which Bedrock runs: see ``DISTILLATION_STUDENTS``)."""
    if technique == "ppo":
        return tuple(PPO_ACTOR_TRAIN_REPLICAS)
    return tuple(PUBLIC_RECIPES.get(technique, {}))


def allowed_replicas(technique: str, model_type: str) -> tuple[int, ...]:
    """The node counts a ``technique`` run of ``model_type`` may ask for (PPO: the trained actor's), or ``()``
    when no public recipe applies (distillation has no nodes; Bedrock runs it)."""
    if technique == "ppo":
        return PPO_ACTOR_TRAIN_REPLICAS.get(model_type, ())
    recipe = PUBLIC_RECIPES.get(technique, {}).get(model_type)
    return recipe.replicas if recipe is not None else ()
