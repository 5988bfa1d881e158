"""What Amazon Nova customization accepts: model ids, teachers, benchmarks, platforms.

Kept apart from the recipe parser so that a new model or benchmark is one line here.
Sources: the Amazon Nova user guide (customization and distillation tables, CPT, PPO and
evaluation pages), the Bedrock API reference (TeacherModelConfig) and the public
aws/sagemaker-hyperpod-recipes repository. Re-check when Nova adds models.
"""

from __future__ import annotations

from typing import Literal

Technique = Literal["sft_lora", "sft_full", "dpo_lora", "dpo_full", "ppo", "distillation", "cpt", "evaluation"]
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

# Trainable model types (the recipes' run.model_type) and the base checkpoint each names in
# run.model_name_or_path. Nova Premier is a distillation teacher only, so it is not here.
MODEL_BASE_PATHS: dict[str, str] = {
    "amazon.nova-micro-v1:0:128k": "nova-micro/prod",
    "amazon.nova-lite-v1:0:300k": "nova-lite/prod",
    "amazon.nova-pro-v1:0:300k": "nova-pro/prod",
    "amazon.nova-2-lite-v1:0:256k": "nova-lite-2/prod",
}
MODEL_TYPES: tuple[str, ...] = tuple(MODEL_BASE_PATHS)

# Bedrock model distillation: teacher foundation model id -> student model types it can teach.
# A cross-Region inference profile (``us.``, ``eu.``, ``apac.`` prefix) names the same teacher.
DISTILLATION_STUDENTS: dict[str, tuple[str, ...]] = {
    "amazon.nova-premier-v1:0": (
        "amazon.nova-pro-v1:0:300k",
        "amazon.nova-lite-v1:0:300k",
        "amazon.nova-micro-v1:0:128k",
    ),
    "amazon.nova-pro-v1:0": ("amazon.nova-lite-v1:0:300k", "amazon.nova-micro-v1:0:128k"),
}
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.")

# Evaluation tasks a recipe may name, with the strategies and metrics each accepts, and
# whether the task brings its own data (a built-in benchmark takes no data_s3_path).
EVALUATION_TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "mmlu": (("zs_cot",), ("accuracy",), False),
    "gen_qa": (("gen_qa",), ("all",), True),
    "llm_judge": (("judge",), ("all",), True),
}

# Nova curated data categories a CPT data mix may draw on (Nova Forge data mixing).
NOVA_DATA_CATEGORIES = (
    "general",
    "code",
    "math",
    "chat",
    "planning",
    "instruction-following",
    "reasoning",
    "stem",
    "rag",
    "factuality",
)

# Where each technique runs, from the Nova user guide's table of training recipes per service.
PLATFORMS: dict[Technique, tuple[Platform, ...]] = {
    "sft_lora": ("sagemaker-training-job", "hyperpod", "bedrock"),
    "sft_full": ("sagemaker-training-job", "hyperpod"),
    "dpo_lora": ("sagemaker-training-job", "hyperpod"),
    "dpo_full": ("sagemaker-training-job", "hyperpod"),
    "ppo": ("hyperpod",),
    "cpt": ("hyperpod",),
    "distillation": ("bedrock",),
    "evaluation": ("sagemaker-training-job", "hyperpod"),
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
