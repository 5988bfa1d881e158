"""The training image of a Nova recipe, from the SageMaker public hub, as the SageMaker Python SDK finds it.

Nova training images are not a fixed list: the hub's model document carries a recipe
collection, each entry naming its technique, whether it is LoRA (``Peft``) and the image
for SageMaker training jobs (``SmtjImageUri``). The SDK's trainers read the same document
(``DescribeHubContent``); this module does so without the SDK, which is too large for Lambda.
"""

from __future__ import annotations

import json
from typing import Any

from customization.contract import PUBLIC_HUB, TrainingImageNotFoundError
from customization.nova import HYPERPOD_IMAGE_REGISTRIES
from customization_steps.hyperpod_jobs import Images

# Recipe model types -> hub content names (the SDK's model alias table).
HUB_MODELS = {
    "amazon.nova-micro-v1:0:128k": "nova-textgeneration-micro",
    "amazon.nova-lite-v1:0:300k": "nova-textgeneration-lite",
    "amazon.nova-pro-v1:0:300k": "nova-textgeneration-pro",
    "amazon.nova-2-lite-v1:0:256k": "nova-textgeneration-lite-v2",
}
# Our techniques -> the hub's CustomizationTechnique and whether the recipe is LoRA.
HUB_TECHNIQUES = {
    "sft_lora": ("SFT", True),
    "sft_full": ("SFT", False),
    "dpo_lora": ("DPO", True),
    "dpo_full": ("DPO", False),
}


def training_image(sagemaker: Any, model_type: str, technique: str) -> str:
    """The ``SmtjImageUri`` of the hub recipe for ``model_type`` and ``technique`` (non-subscription first)."""
    if model_type not in HUB_MODELS or technique not in HUB_TECHNIQUES:
        raise TrainingImageNotFoundError(
            f"model {model_type!r} with technique {technique!r} has no SageMaker training image; expected a model "
            f"from {', '.join(HUB_MODELS)} and a technique from {', '.join(HUB_TECHNIQUES)}"
        )
    content = sagemaker.describe_hub_content(
        HubName=PUBLIC_HUB, HubContentType="Model", HubContentName=HUB_MODELS[model_type]
    )
    return image_from_document(json.loads(content["HubContentDocument"]), model_type, technique)


def image_from_document(document: dict[str, Any], model_type: str, technique: str) -> str:
    hub_technique, lora = HUB_TECHNIQUES[technique]
    candidates = [
        recipe
        for recipe in document.get("RecipeCollection", [])
        if recipe.get("CustomizationTechnique") == hub_technique
        and bool(recipe.get("Peft")) == lora
        and recipe.get("SmtjImageUri")
    ]
    candidates.sort(key=lambda recipe: bool(recipe.get("IsSubscriptionModel")))
    if not candidates:
        raise TrainingImageNotFoundError(
            f"the hub's {HUB_MODELS[model_type]} document has no {hub_technique} recipe "
            f"({'LoRA' if lora else 'full rank'}) with a SageMaker training image"
        )
    return str(candidates[0]["SmtjImageUri"])


# HyperPod images the hub does not list (CPT and PPO), from the same launcher file as the
# registries in ``customization.nova``: tags per technique and model generation.
HYPERPOD_TAGS = {
    ("cpt", 1): "HP-CPT-latest",
    ("cpt", 2): "SM-HP-CPT-V2-latest",
    ("ppo", 1): "SMHP-PPO-TRAIN-latest",
}
PPO_GENERATION_TAG = "SMHP-PPO-TRT-latest"
INIT_CONTAINER = "{registry}.dkr.ecr.{region}.amazonaws.com/init-container-repo:latest"
NOVA_REPOSITORY = "{registry}.dkr.ecr.{region}.amazonaws.com/nova-fine-tune-repo:{tag}"


def hyperpod_images(sagemaker: Any, model_type: str, technique: str, region: str) -> Images:
    """The images of a HyperPod run: SFT and DPO from the hub as the SDK's ``_train_hyperpod`` falls back
    to (the training-job image with ``SM-TJ-`` read as ``SM-HP-``); CPT and PPO from the launcher's tags."""
    registry = HYPERPOD_IMAGE_REGISTRIES.get(region)
    if registry is None:
        raise TrainingImageNotFoundError(
            f"region {region!r} has no Nova HyperPod images; expected one of {', '.join(HYPERPOD_IMAGE_REGISTRIES)}"
        )
    init = INIT_CONTAINER.format(registry=registry, region=region)
    if technique in HUB_TECHNIQUES:
        image = training_image(sagemaker, model_type, technique)
        return Images(training=image.replace("SM-TJ-", "SM-HP-"), init=init)
    generation = 2 if "nova-2-" in model_type else 1
    tag = HYPERPOD_TAGS.get((technique, generation))
    if tag is None:
        raise TrainingImageNotFoundError(
            f"model {model_type!r} with technique {technique!r} has no HyperPod image; HyperPod images exist for "
            + ", ".join(f"{t} (Nova {g})" for t, g in HYPERPOD_TAGS)
        )
    return Images(
        training=NOVA_REPOSITORY.format(registry=registry, region=region, tag=tag),
        init=init,
        actor_generation=NOVA_REPOSITORY.format(registry=registry, region=region, tag=PPO_GENERATION_TAG)
        if technique == "ppo"
        else None,
    )
