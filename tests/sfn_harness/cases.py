"""Scripts for whole runs: what each task answers on a run's path, built as the real steps would.

Validate and Prepare answer with the real step code (``check_request``, ``prepare_run``) run on
this environment's settings, with in-memory AWS clients; AWS calls answer with results built by
:mod:`sfn_harness.responses` (validated against botocore, only members present at that moment).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from customization_steps import steps
from customization_steps.hyperpod_jobs import Placement
from customization_steps.request import Limits, RunRequest
from model_evaluation.summary import GateSettings, seed_for, summarize

from customization.contract import IMPORT, Env, EvaluationRoute, HyperPodJobStatus, Platform
from customization.recipes import Recipe
from sfn_harness.definition import ACCOUNT
from sfn_harness.responses import Return, Throw, aws_result, sdk_integration_result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATASETS = "acme-datasets"
ARTIFACTS = "acme-artifacts"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/acme-bedrock"
WHEN = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)
ESCROW = "s3://customer-escrow-123456789012-smtj-abcdef/run/checkpoint/"
BEDROCK = f"arn:aws:bedrock:us-east-1:{ACCOUNT}"
DATASET_VERSION = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"  # an S3 version id, as "Check evaluation dataset" returns it
RUBRIC = "9f2c" * 16  # a rubric file's SHA-256


def settings_for(template: dict[str, Any], region: str = "us-east-1") -> steps.Settings:
    """The steps' settings as the environment's functions would load them (buckets and key are placeholders)."""
    variables = next(
        resource["Properties"]["Environment"]["Variables"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == "customization_steps.steps.prepare"
    )
    hyperpod = None
    if Env.HYPERPOD_NAMESPACE in variables:
        hyperpod = Placement(
            namespace=variables[Env.HYPERPOD_NAMESPACE],
            instance_type=variables[Env.HYPERPOD_INSTANCE_TYPE],
            account=ACCOUNT,
            region=region,
            max_seconds=int(variables[Env.MAX_TRAINING_SECONDS]),
        )
    return steps.Settings(
        limits=Limits(
            datasets_bucket=DATASETS,
            artifacts_bucket=ARTIFACTS,
            platforms=tuple(variables[Env.PLATFORMS].split(",")),
            region=region,
            hyperpod_max_nodes=int(variables.get(Env.HYPERPOD_MAX_NODES, "0")),
        ),
        runs_table="acme-runs",
        customization_role_arn=ROLE,
        key_arn=KEY,
        environment="dev",
        hyperpod=hyperpod,
    )


def example(name: str, **changes: Any) -> dict[str, Any]:
    """``examples/<name>.json`` with this harness's datasets bucket, and ``changes`` applied."""
    text = (EXAMPLES / f"{name}.json").read_text(encoding="utf-8").replace("DATASETS_BUCKET", DATASETS)
    return {**json.loads(text), **changes}


class _Clients:
    """What Prepare calls, answering as AWS does (the unit tests check the calls themselves with Stubber)."""

    def put_object(self, **_: Any) -> dict[str, Any]:
        return {"VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"}

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def describe_hub_content(self, **request: Any) -> dict[str, Any]:
        recipes = [
            {"CustomizationTechnique": technique, "SmtjImageUri": f"image:SM-TJ-{technique}-{peft}", **extra}
            for technique in ("SFT", "DPO")
            for peft, extra in (("LORA", {"Peft": "LORA"}), ("FULL", {}))
        ]
        return {"HubContentDocument": json.dumps({"RecipeCollection": recipes}), **request}

    def create_model_customization_job(self, **request: Any) -> dict[str, Any]:
        return {"jobArn": f"{BEDROCK}:model-customization-job/{request['jobName']}"}


@dataclass
class Run:
    """One run: its input, the request Validate makes of it, Prepare's plan, and the tasks' script."""

    execution_input: dict[str, Any]
    request: dict[str, Any]
    plan: dict[str, Any]
    script: dict[str, list[Return | Throw]] = field(default_factory=dict)

    def then(self, **states: list[Return | Throw]) -> Run:
        for state, results in states.items():
            self.script.setdefault(state.replace("_", " "), []).extend(results)
        return self

    def answer(self, state: str, *results: Return | Throw) -> Run:
        self.script.setdefault(state, []).extend(results)
        return self


def started(
    execution_input: dict[str, Any], settings: steps.Settings, catalog: dict[str, Recipe], name: str = "run"
) -> Run:
    """Validate and Prepare, as the real steps answer for this environment."""
    request = steps.validate_run({"input": execution_input, "execution": name}, settings, catalog)
    fake = _Clients()
    plan = steps.prepare_run(
        RunRequest.from_state(request),
        settings,
        catalog,
        s3=fake,
        dynamodb=fake,
        sagemaker=fake,
        bedrock=fake,
        execution_arn=f"arn:aws:states:us-east-1:{ACCOUNT}:execution:workflow:{name}",
    )
    run = Run(execution_input=execution_input, request=request, plan=plan)
    return (
        run.answer("Validate", Return(request))
        .answer("Check evaluation dataset", Return({"records": 120, "version_id": DATASET_VERSION}))
        .answer("Prepare", Return(plan))
    )


def trained(run: Run) -> Run:
    """The training of the run's platform succeeds (one poll still running where the workflow polls)."""
    platform, plan = run.request["platform"], run.plan
    if run.request["technique"] == IMPORT:
        job = f"{BEDROCK}:model-import-job/{plan['import']['job_name']}"
        model = f"{BEDROCK}:imported-model/abcdef123456"
        return (
            run.answer(
                "Import open-weight model", sdk_integration_result("bedrock", "CreateModelImportJob", jobArn=job)
            )
            .answer(
                "Check model import", import_job(job, plan, "InProgress"), import_job(job, plan, "Completed", model)
            )
            .answer("Read imported model", import_job(job, plan, "Completed", model))
        )
    if platform == Platform.SAGEMAKER_TRAINING_JOB:
        return (
            run.answer("Train on SageMaker", training_job(plan["sagemaker"], "Completed"))
            .answer("Locate checkpoint", Return({"uri": ESCROW}))
            .then(**bedrock_import())
        )
    if platform == Platform.HYPERPOD:
        objects = [obj["name"] for obj in plan["hyperpod"]["objects"]]
        return (
            run.answer("Submit HyperPod job", Return({"created": objects}))
            .answer(
                "Check HyperPod job",
                Return({"status": HyperPodJobStatus.RUNNING, "detail": ""}),
                Return({"status": HyperPodJobStatus.SUCCEEDED, "detail": ""}),
            )
            .answer("Release HyperPod job", Return({"removed": objects}))
            .answer("Locate HyperPod checkpoint", Return({"uri": ESCROW}))
            .then(**bedrock_import())
        )
    job = plan["bedrock"]["job_arn"]
    return run.answer(
        "Check customization job", customization_job(job, "InProgress"), customization_job(job, "Completed")
    ).answer("Read customized model", customization_job(job, "Completed"))


def bedrock_import(status: str = "Active") -> dict[str, list[Return | Throw]]:
    model = f"{BEDROCK}:custom-model/imported/abcdef123456"
    return {
        "Import into Bedrock": [sdk_integration_result("bedrock", "CreateCustomModel", modelArn=model)],
        "Check import": [custom_model(model, "Creating"), custom_model(model, status)],
    }


def evaluated(run: Run, judge_gain: float = 0.5, **customized: float) -> Run:
    """Deployed for evaluation (customized models) and scored; scores default to passing the gate."""
    scores = {"exact_match": 0.6, "token_f1": 0.8, "rouge_l": 0.7, "judge_score": 4.2, **customized}
    if run.request["evaluation_route"] == EvaluationRoute.PROVISIONED_THROUGHPUT:
        throughput = f"{BEDROCK}:provisioned-model/evalpt123456"
        run.answer(
            "Provision for evaluation",
            sdk_integration_result("bedrock", "CreateProvisionedModelThroughput", provisionedModelArn=throughput),
        ).answer(
            "Check evaluation throughput",
            throughput_status(throughput, "Creating"),
            throughput_status(throughput, "InService"),
        )
    elif run.request["technique"] != IMPORT:
        deployment = f"{BEDROCK}:custom-model-deployment/abcdef123456"
        run.answer(
            "Deploy for evaluation",
            sdk_integration_result("bedrock", "CreateCustomModelDeployment", customModelDeploymentArn=deployment),
        ).answer(
            "Check evaluation deployment",
            model_deployment(deployment, "Creating"),
            model_deployment(deployment, "Active"),
        )
    output = f"s3://{ARTIFACTS}/runs/{run.request['run_name']}/output/evaluation/"
    manifest = {"Bucket": ARTIFACTS, "Key": f"runs/{run.request['run_name']}/output/evaluation/map/abc/manifest.json"}
    # The report's summary and gate as the real code decides them, on 120 records scored alike.
    base = {**scores, "judge_score": scores["judge_score"] - judge_gain}
    records = [{"id": f"r{i}", "scores": {"base": base, "customized": scores}} for i in range(120)]
    summary = summarize(records, run.request["thresholds"], GateSettings(), seed_for(run.request["run_name"]))
    return run.answer(
        "Score records",
        Return(
            {
                "MapRunArn": f"arn:aws:states:us-east-1:{ACCOUNT}:mapRun:workflow/Score:1",
                "ResultWriterDetails": manifest,
            }
        ),
    ).answer(
        "Report evaluation",
        Return(
            {
                "run_id": run.request["run_name"],
                **summary,
                "results": output + "evaluation.json",
                "rubric_sha256": RUBRIC,
                "dataset": {"uri": run.request["evaluation_dataset"], "version_id": DATASET_VERSION},
            }
        ),
    )


def served(run: Run) -> Run:
    """Past the gate: what the run made to evaluate is deleted (the Serving stack serves approved models),
    recorded and notified."""
    if run.request["evaluation_route"] == EvaluationRoute.PROVISIONED_THROUGHPUT:
        run.answer(
            "Remove evaluation throughput", sdk_integration_result("bedrock", "DeleteProvisionedModelThroughput")
        )
    elif run.request["technique"] != IMPORT:
        run.answer("Remove evaluation deployment", sdk_integration_result("bedrock", "DeleteCustomModelDeployment"))
    return run.answer("Record lineage", aws_result("dynamodb", "UpdateItem")).answer("Notify success", published())


def failed(run: Run, *, clean_up: Return | Throw | None = None) -> Run:
    """The failure path's tasks answer (clean-up with what it did, or with ``clean_up``)."""
    if "hyperpod" in run.plan:
        run.answer("Remove HyperPod job", Return({"removed": []}))
    return (
        run.answer("Clean up", clean_up or Return({"cleaned_up": []}))
        .answer("Record failure", aws_result("dynamodb", "UpdateItem"))
        .answer("Notify failure", published())
    )


def published() -> Return:
    return aws_result("sns", "Publish", MessageId="2b7f1c5e-0000-4000-8000-000000000000")


# --- AWS results at a given moment of a job's life ------------------------------------------------------------


def training_job(plan: dict[str, Any], status: str) -> Return:
    """DescribeTrainingJob once a Nova job ended: no ModelArtifacts (see responses.ABSENT_REQUIRED)."""
    return aws_result(
        "sagemaker",
        "DescribeTrainingJob",
        TrainingJobName=plan["job_name"],
        TrainingJobArn=f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/{plan['job_name']}",
        AlgorithmSpecification={"TrainingImage": plan["training_image"], "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": plan["output_path"]},
        ResourceConfig={
            "InstanceType": "ml.p5.48xlarge",
            "InstanceCount": plan["instance_count"],
            "VolumeSizeInGB": 500,
        },
        StoppingCondition={"MaxRuntimeInSeconds": 86400},
        TrainingJobStatus=status,
        SecondaryStatus="Completed" if status == "Completed" else "Failed",
        CreationTime=WHEN,
    )


def customization_job(job: str, status: str) -> Return:
    """GetModelCustomizationJob: ``outputModelArn`` only once the job completed."""
    members: dict[str, Any] = {
        "jobArn": job,
        "jobName": job.rsplit("/", 1)[-1],
        "outputModelName": "run-model",
        "roleArn": ROLE,
        "status": status,
        "creationTime": WHEN,
        "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k",
        "trainingDataConfig": {"s3Uri": f"s3://{DATASETS}/train.jsonl"},
        "validationDataConfig": {"validators": []},
        "outputDataConfig": {"s3Uri": f"s3://{ARTIFACTS}/runs/run/output/"},
    }
    if status == "Completed":
        members["outputModelArn"] = f"{BEDROCK}:custom-model/amazon.nova-lite-v1:0:300k/abcdef123456"
    return sdk_integration_result("bedrock", "GetModelCustomizationJob", **members)


def custom_model(model: str, status: str) -> Return:
    return sdk_integration_result(
        "bedrock",
        "GetCustomModel",
        modelArn=model,
        modelName="run-model",
        creationTime=WHEN,
        modelStatus=status,
    )


def model_deployment(deployment: str, status: str) -> Return:
    return sdk_integration_result(
        "bedrock",
        "GetCustomModelDeployment",
        customModelDeploymentArn=deployment,
        modelDeploymentName="run-eval",
        modelArn=f"{BEDROCK}:custom-model/imported/abcdef123456",
        createdAt=WHEN,
        status=status,
    )


def throughput_status(throughput: str, status: str) -> Return:
    return sdk_integration_result(
        "bedrock",
        "GetProvisionedModelThroughput",
        modelUnits=1,
        desiredModelUnits=1,
        provisionedModelName="run",
        provisionedModelArn=throughput,
        modelArn=f"{BEDROCK}:custom-model/imported/abcdef123456",
        desiredModelArn=f"{BEDROCK}:custom-model/imported/abcdef123456",
        foundationModelArn="arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k",
        status=status,
        creationTime=WHEN,
        lastModifiedTime=WHEN,
    )


def import_job(job: str, plan: dict[str, Any], status: str, model: str | None = None) -> Return:
    """GetModelImportJob: ``importedModelArn`` only once the job completed."""
    members: dict[str, Any] = {
        "jobArn": job,
        "jobName": plan["import"]["job_name"],
        "importedModelName": plan["import"]["model_name"],
        "roleArn": ROLE,
        "modelDataSource": {"s3DataSource": {"s3Uri": f"s3://{DATASETS}/weights/"}},
        "status": status,
        "creationTime": WHEN,
    }
    if model is not None:
        members["importedModelArn"] = model
    return sdk_integration_result("bedrock", "GetModelImportJob", **members)
