"""What each platform is asked to do: job names, the SageMaker plan, the Bedrock request and the Nova image."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber
from customization_steps import images, run_plan

from customization.recipes import Recipe, load_all, render

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
ROLE = "arn:aws:iam::123456789012:role/acme-customization"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
TRAIN = "s3://acme-datasets/sets/train.jsonl"
OUTPUT = "s3://acme-artifacts/runs/r1/output/"
JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-lite-v1:0:300k/abcdefghij12"
# SageMaker's TrainingJobName pattern (botocore's sagemaker model), anchored.
TRAINING_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@pytest.fixture(scope="module")
def catalog() -> dict[str, Recipe]:
    return load_all()


def rendered(recipe: Recipe, **overrides: object) -> dict[str, Any]:
    return render(recipe, {"train": TRAIN, "output": OUTPUT, **overrides})


def bedrock_client() -> Any:
    return boto3.client("bedrock", **KEYS)


def pattern_problems(shape: Any, value: Any, path: str = "") -> list[str]:
    """Values that break a ``pattern`` in the service model (botocore checks names and types, not patterns)."""
    found: list[str] = []
    if shape.type_name == "structure":
        for name, member in value.items():
            found += pattern_problems(shape.members[name], member, f"{path}.{name}".lstrip("."))
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            found += pattern_problems(shape.member, item, f"{path}[{index}]")
    elif shape.type_name == "map":
        for name, item in value.items():
            found += pattern_problems(shape.value, item, f"{path}.{name}")
    elif (
        shape.type_name == "string"
        and "pattern" in shape.metadata
        and not re.fullmatch(shape.metadata["pattern"], value)
    ):
        found.append(f"{path}={value!r} does not match {shape.metadata['pattern']}")
    return found


def create_input_shape() -> Any:
    return bedrock_client().meta.service_model.operation_model("CreateModelCustomizationJob").input_shape


# --- names ---------------------------------------------------------------------------------------------------


def test_a_short_job_name_is_the_run_and_the_step():
    assert run_plan.job_name("r1", "train") == "r1-train"
    assert run_plan.job_name("r" * 57, "train") == "r" * 57 + "-train"  # exactly 63


def test_a_long_job_name_is_cut_to_63_characters_with_a_stable_digest():
    name = run_plan.job_name("r" * 58, "train")  # 64 characters before cutting

    assert name == "r" * 54 + "-8358f5b2"  # sha256("rrr...-train")[:8], computed by hand
    assert len(name) == 63
    assert run_plan.job_name("r" * 58, "train") == name
    assert TRAINING_JOB_NAME.match(name)


def test_long_job_names_differing_after_the_cut_stay_distinct():
    first = run_plan.job_name("a" * 60 + "1", "train")
    second = run_plan.job_name("a" * 60 + "2", "train")

    assert first[:54] == second[:54]
    assert first != second
    assert run_plan.job_name("a" * 61, "train") != run_plan.job_name("a" * 61, "model")


def test_the_request_token_is_stable_and_per_step():
    token = run_plan.request_token("r1", "customize")

    assert token == "feff9be4981a9970676ed03491dbf2d6"  # sha256("r1/customize")[:32]
    assert run_plan.request_token("r1", "customize") == token
    assert run_plan.request_token("r1", "serve") != token


def test_the_recipe_goes_to_the_runs_recipe_channel():
    assert run_plan.recipe_key("r1") == "runs/r1/recipe/recipe.yaml"


# --- SageMaker ---------------------------------------------------------------------------------------------------


def test_the_sagemaker_plan_points_the_job_at_the_rendered_recipe(catalog):
    recipe = catalog["training/sft_lora"]
    image = "708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-fine-tune-repo:SM-TJ-SFT-latest"

    plan = run_plan.sagemaker_plan("r1", recipe, rendered(recipe), image, "acme-artifacts")

    assert plan == {
        "job_name": "r1-train",
        "training_image": image,
        "recipe_prefix": "s3://acme-artifacts/runs/r1/recipe/",
        "hyperparameters": {
            "sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/recipe.yaml",
            "base_model": "nova-lite/prod",
        },
        "instance_count": 4,
        "output_path": OUTPUT,
        # Where a Nova job's manifest is (DescribeTrainingJob names no ModelArtifacts for it).
        "output_archive": f"{OUTPUT}r1-train/output/output.tar.gz",
    }


def test_the_sagemaker_plan_uses_the_replicas_and_model_overrides(catalog):
    recipe = catalog["training/dpo_lora"]
    checkpoint = "s3://customer-escrow-123456789012-smtj/r0/step_100/"

    plan = run_plan.sagemaker_plan(
        "r1", recipe, rendered(recipe, replicas=8, model=checkpoint), "img", "acme-artifacts"
    )

    assert (plan["instance_count"], plan["hyperparameters"]["base_model"]) == (8, checkpoint)


# --- Bedrock -----------------------------------------------------------------------------------------------------


def test_the_bedrock_request_for_sft_lora_is_fine_tuning_with_string_hyperparameters(catalog):
    recipe = catalog["training/sft_lora"]

    request = run_plan.bedrock_request(
        "r1", recipe, rendered(recipe), role_arn=ROLE, key_arn=KEY, environment="dev", validation=None
    )

    assert request == {
        "jobName": "r1-customize",
        "customModelName": "r1-model",
        "roleArn": ROLE,
        "clientRequestToken": "feff9be4981a9970676ed03491dbf2d6",
        "baseModelIdentifier": "amazon.nova-lite-v1:0:300k",
        "customizationType": "FINE_TUNING",
        "trainingDataConfig": {"s3Uri": TRAIN},
        "outputDataConfig": {"s3Uri": OUTPUT},
        "customModelKmsKeyId": KEY,
        # The clean-up may stop or delete only what carries its environment's tag.
        "jobTags": [{"key": "environment", "value": "dev"}],
        "customModelTags": [{"key": "environment", "value": "dev"}],
        "hyperParameters": {"epochCount": "2", "learningRate": "1e-05"},  # sft_lora.yaml: max_epochs 2, lr 1.0e-5
    }


def test_the_bedrock_hyperparameters_follow_the_overrides_and_validation_is_passed(catalog):
    recipe = catalog["training/sft_lora"]
    validation = "s3://acme-datasets/sets/validation.jsonl"

    request = run_plan.bedrock_request(
        "r1",
        recipe,
        rendered(recipe, epochs=5, learning_rate=0.0002),
        role_arn=ROLE,
        key_arn=KEY,
        environment="dev",
        validation=validation,
    )

    assert request["hyperParameters"] == {"epochCount": "5", "learningRate": "0.0002"}
    assert request["validationDataConfig"] == {"validators": [{"s3Uri": validation}]}


def test_the_bedrock_request_for_distillation_names_the_teacher(catalog):
    recipe = catalog["training/distillation"]

    request = run_plan.bedrock_request(
        "r1", recipe, rendered(recipe), role_arn=ROLE, key_arn=KEY, environment="dev", validation=None
    )

    assert request["customizationType"] == "DISTILLATION"
    assert request["baseModelIdentifier"] == "amazon.nova-lite-v1:0:300k"
    assert request["customizationConfig"] == {
        "distillationConfig": {
            "teacherModelConfig": {
                "teacherModelIdentifier": "us.amazon.nova-pro-v1:0",
                "maxResponseLengthForInference": 1000,
            }
        }
    }
    assert "hyperParameters" not in request


@pytest.mark.parametrize(
    ("technique", "run_name", "validation"),
    [
        ("sft_lora", "r1", None),
        ("sft_lora", "support-bot-2026-11-25-with-a-48-character-name1", "s3://acme-datasets/v.jsonl"),
        ("distillation", "r1", None),
    ],
)
def test_the_bedrock_request_is_accepted_by_botocores_model(catalog, technique, run_name, validation):
    recipe = catalog[f"training/{technique}"]
    request = run_plan.bedrock_request(
        run_name, recipe, rendered(recipe), role_arn=ROLE, key_arn=KEY, environment="dev", validation=validation
    )
    bedrock = bedrock_client()

    with Stubber(bedrock) as stub:
        stub.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, request)
        assert bedrock.create_model_customization_job(**request) == {"jobArn": JOB_ARN}
        stub.assert_no_pending_responses()
    assert pattern_problems(create_input_shape(), request) == []


def test_the_stubbed_bedrock_client_rejects_a_parameter_the_model_lacks(catalog):
    """The check above can fail: botocore refuses a misspelled member before the stub answers."""
    recipe = catalog["training/sft_lora"]
    request = run_plan.bedrock_request(
        "r1", recipe, rendered(recipe), role_arn=ROLE, key_arn=KEY, environment="dev", validation=None
    )
    request["hyperparameters"] = request.pop("hyperParameters")
    bedrock = bedrock_client()

    with Stubber(bedrock) as stub:
        stub.add_response("create_model_customization_job", {"jobArn": JOB_ARN})
        with pytest.raises(ParamValidationError, match="hyperparameters"):
            bedrock.create_model_customization_job(**request)


def test_the_pattern_check_catches_a_name_bedrock_would_refuse():
    assert pattern_problems(create_input_shape(), {"customModelName": "two--dashes-model"}) != []


# --- the Nova training image ---------------------------------------------------------------------------------------

LITE = "amazon.nova-lite-v1:0:300k"


def hub_recipe(technique: str, peft: bool, image: str | None, subscription: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Name": f"nova_lite_{technique.lower()}_{'lora' if peft else 'full'}",
        "CustomizationTechnique": technique,
        "IsSubscriptionModel": subscription,
    }
    if peft:
        entry["Peft"] = "LORA"
    if image:
        entry["SmtjImageUri"] = image
    return entry


DOCUMENT = {
    "RecipeCollection": [
        hub_recipe("SFT", True, "sft-lora-subscription", subscription=True),
        hub_recipe("SFT", True, "sft-lora"),
        hub_recipe("SFT", False, "sft-full"),
        hub_recipe("DPO", True, "dpo-lora"),
        hub_recipe("DPO", False, None),  # no training-job image: a HyperPod-only entry
        hub_recipe("CPT", False, "cpt"),
    ]
}


@pytest.mark.parametrize(
    ("technique", "image"), [("sft_lora", "sft-lora"), ("sft_full", "sft-full"), ("dpo_lora", "dpo-lora")]
)
def test_the_image_is_the_non_subscription_recipe_of_the_technique_and_rank(technique, image):
    assert images.image_from_document(DOCUMENT, LITE, technique) == image


def test_a_subscription_recipe_is_used_when_it_is_the_only_one():
    document = {"RecipeCollection": [hub_recipe("SFT", True, "sft-lora-subscription", subscription=True)]}

    assert images.image_from_document(document, LITE, "sft_lora") == "sft-lora-subscription"


def test_no_matching_recipe_names_the_hub_model_the_technique_and_the_rank():
    with pytest.raises(images.TrainingImageNotFoundError) as raised:
        images.image_from_document(DOCUMENT, LITE, "dpo_full")

    assert str(raised.value) == (
        "the hub's nova-textgeneration-lite document has no DPO recipe (full rank) with a SageMaker training image"
    )


def test_a_document_without_recipes_has_no_image():
    with pytest.raises(images.TrainingImageNotFoundError, match="no SFT recipe \\(LoRA\\)"):
        images.image_from_document({}, LITE, "sft_lora")


def hub_content(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """A DescribeHubContent response with every member botocore's model requires."""
    return {
        "HubContentName": name,
        "HubContentArn": f"arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/{name}/1.0.0",
        "HubContentVersion": "1.0.0",
        "HubContentType": "Model",
        "DocumentSchemaVersion": "2.3.0",
        "HubName": "SageMakerPublicHub",
        "HubArn": "arn:aws:sagemaker:us-east-1:aws:hub/SageMakerPublicHub",
        "HubContentDocument": json.dumps(document),
        "HubContentStatus": "Available",
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
    }


@pytest.mark.parametrize(
    ("model_type", "hub_name"),
    [
        ("amazon.nova-lite-v1:0:300k", "nova-textgeneration-lite"),
        ("amazon.nova-2-lite-v1:0:256k", "nova-textgeneration-lite-v2"),
    ],
)
def test_the_training_image_is_read_from_the_public_hub(model_type, hub_name):
    sagemaker = boto3.client("sagemaker", **KEYS)

    with Stubber(sagemaker) as stub:
        stub.add_response(
            "describe_hub_content",
            hub_content(hub_name, DOCUMENT),
            {"HubName": "SageMakerPublicHub", "HubContentType": "Model", "HubContentName": hub_name},
        )
        assert images.training_image(sagemaker, model_type, "sft_full") == "sft-full"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("model_type", "technique"),
    [("amazon.nova-premier-v1:0:1000k", "sft_lora"), (LITE, "ppo"), (LITE, "distillation")],
)
def test_a_model_or_technique_without_a_training_job_image_is_refused_before_any_call(model_type, technique):
    sagemaker = boto3.client("sagemaker", **KEYS)

    with Stubber(sagemaker), pytest.raises(images.TrainingImageNotFoundError) as raised:
        images.training_image(sagemaker, model_type, technique)

    message = str(raised.value)
    assert f"model {model_type!r} with technique {technique!r} has no SageMaker training image" in message
    assert "expected a model from amazon.nova-micro-v1:0:128k, amazon.nova-lite-v1:0:300k" in message
    assert "a technique from sft_lora, sft_full, dpo_lora, dpo_full" in message
