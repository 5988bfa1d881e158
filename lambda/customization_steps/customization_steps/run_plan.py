"""What each platform is asked to do for one run, built from the validated request (pure functions).

Names and paths are derived from the run name, so a retried step asks for the same job and
writes the same objects; Bedrock calls carry a client request token for the same reason.
"""

from __future__ import annotations

import hashlib
from typing import Any

from customization.contract import ENVIRONMENT_TAG
from customization.recipes import Recipe

# How the SageMaker SDK's ModelTrainer runs a Nova recipe on a training job: the rendered
# recipe travels in an input channel named "recipe" and a hyperparameter points at it.
RECIPE_CHANNEL = "recipe"
RECIPE_FILE = "recipe.yaml"
RECIPE_CONTAINER_PATH = f"/opt/ml/input/data/{RECIPE_CHANNEL}/{RECIPE_FILE}"
BEDROCK_CUSTOMIZATION_TYPES = {
    "sft_lora": "FINE_TUNING",
    "sft_full": "FINE_TUNING",
    "distillation": "DISTILLATION",
    "cpt": "CONTINUED_PRE_TRAINING",
}


def job_name(run_name: str, step: str) -> str:
    """A SageMaker/Bedrock job name (at most 63 characters) unique to the run and the step."""
    name = f"{run_name}-{step}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:54]}-{digest}"


def request_token(run_name: str, step: str) -> str:
    return hashlib.sha256(f"{run_name}/{step}".encode()).hexdigest()[:32]


def recipe_key(run_name: str) -> str:
    return f"runs/{run_name}/{RECIPE_CHANNEL}/{RECIPE_FILE}"


def sagemaker_plan(
    run_name: str, recipe: Recipe, rendered: dict[str, Any], image: str, artifacts: str
) -> dict[str, Any]:
    run = rendered["run"]
    return {
        "job_name": job_name(run_name, "train"),
        "training_image": image,
        "recipe_prefix": f"s3://{artifacts}/runs/{run_name}/{RECIPE_CHANNEL}/",
        "hyperparameters": {
            "sagemaker_recipe_local_path": RECIPE_CONTAINER_PATH,
            "base_model": str(run["model_name_or_path"]),
        },
        "instance_count": int(run.get("replicas", 1)),
        "output_path": str(run["output_s3_path"]),
        "output_archive": output_archive(str(run["output_s3_path"]), job_name(run_name, "train")),
    }


def output_archive(output_path: str, training_job_name: str) -> str:
    """Where a Nova training job leaves its ``manifest.json``: inside ``<output>/<job>/output/output.tar.gz``
    (sagemaker-core's ``build_nova_output_tar_gz_s3_uri``; DescribeTrainingJob has no ModelArtifacts for it)."""
    return f"{output_path.rstrip('/')}/{training_job_name}/output/output.tar.gz"


def bedrock_request(
    run_name: str,
    recipe: Recipe,
    rendered: dict[str, Any],
    *,
    role_arn: str,
    key_arn: str,
    environment: str,
    validation: str | None,
) -> dict[str, Any]:
    """``CreateModelCustomizationJob``'s parameters for this run: the job and its model tagged with the
    environment, which the clean-up's Stop and Delete require."""
    tags = [{"key": ENVIRONMENT_TAG, "value": environment}]
    run, training = rendered["run"], rendered.get("training_config", {})
    request: dict[str, Any] = {
        "jobName": job_name(run_name, "customize"),
        "customModelName": job_name(run_name, "model"),
        "roleArn": role_arn,
        "clientRequestToken": request_token(run_name, "customize"),
        # The recipe's model type is Bedrock's customizable model id, context included.
        "baseModelIdentifier": str(run["model_type"]),
        "customizationType": BEDROCK_CUSTOMIZATION_TYPES[recipe.technique],
        "trainingDataConfig": {"s3Uri": str(run["data_s3_path"])},
        "outputDataConfig": {"s3Uri": str(run["output_s3_path"])},
        "customModelKmsKeyId": key_arn,
        "jobTags": tags,
        "customModelTags": tags,
    }
    if validation:
        request["validationDataConfig"] = {"validators": [{"s3Uri": validation}]}
    if recipe.technique == "distillation":
        request["customizationConfig"] = {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": str(training["teacher_model_id"]),
                    "maxResponseLengthForInference": int(training["max_response_length"]),
                }
            }
        }
    else:
        request["hyperParameters"] = bedrock_hyperparameters(training)
    return request


def bedrock_hyperparameters(training: dict[str, Any]) -> dict[str, str]:
    """Bedrock takes hyperparameters as strings: epochs and learning rate from the recipe."""
    values: dict[str, str] = {}
    epochs = training.get("trainer", {}).get("max_epochs")
    if epochs is not None:
        values["epochCount"] = str(epochs)
    rate = training.get("model", {}).get("optim", {}).get("lr")
    if rate is not None:
        values["learningRate"] = str(rate)
    return values
