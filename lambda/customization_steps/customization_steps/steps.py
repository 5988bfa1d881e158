"""The workflow's Lambda steps. Each handler parses its event, calls pure functions and returns state.

- ``validate``: the first state; every problem in the input at once.
- ``prepare``: renders the recipe into the (versioned) artifacts bucket, records the run in the
  lineage table and plans the platform's job; on Bedrock it also starts the customization job,
  for HyperPod it lists the Kubernetes objects to create (``hyperpod_steps`` creates them).
- ``locate_checkpoint``: a Nova training job writes its checkpoint to an AWS escrow bucket and
  names it in ``manifest.json`` (inside a training job's output archive; next to a HyperPod
  job's output); Bedrock imports it from there.
- ``clean_up``: after a failure, stops what the run started and deletes what it half-created.
"""

from __future__ import annotations

import functools
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from customization.contract import (
    IMPORT,
    THROTTLING_CODES,
    Approval,
    CheckpointNotFoundError,
    Env,
    Platform,
    ResourceBusyError,
    RunNameTakenError,
    RunStatus,
    ServiceThrottledError,
)
from customization.problems import Problem
from customization.recipes import Recipe, load_all, recipe_hash, render, rendered_yaml
from customization_steps import hyperpod_jobs, images, run_plan
from customization_steps.clients import client
from customization_steps.hyperpod_jobs import Placement
from customization_steps.images import hyperpod_images
from customization_steps.request import Limits, RunRequest, check_request, output_uri

logger = Logger()
tracer = Tracer()
_recipes: dict[str, Recipe] = {}


@dataclass(frozen=True)
class Settings:
    """The environment a step runs in, from the function's environment variables (set by the construct)."""

    limits: Limits
    runs_table: str
    customization_role_arn: str
    key_arn: str
    environment: str
    """Tagged on the customization job and its model (``ENVIRONMENT_TAG``)."""
    hyperpod: Placement | None = None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            limits=Limits(
                datasets_bucket=env[Env.DATASETS_BUCKET],
                artifacts_bucket=env[Env.ARTIFACTS_BUCKET],
                platforms=tuple(p for p in env[Env.PLATFORMS].split(",") if p),
                region=env.get(Env.AWS_REGION, ""),
                hyperpod_max_nodes=int(env.get(Env.HYPERPOD_MAX_NODES, "0")),
                inference_profile_prefix=env.get(Env.INFERENCE_PROFILE_PREFIX, ""),
            ),
            runs_table=env[Env.RUNS_TABLE],
            customization_role_arn=env.get(Env.CUSTOMIZATION_ROLE_ARN, ""),
            key_arn=env[Env.KEY_ARN],
            environment=env[Env.ENVIRONMENT],
            hyperpod=Placement(
                namespace=env[Env.HYPERPOD_NAMESPACE],
                instance_type=env[Env.HYPERPOD_INSTANCE_TYPE],
                account=env[Env.ACCOUNT_ID],
                region=env[Env.AWS_REGION],
                max_seconds=int(env[Env.MAX_TRAINING_SECONDS]),
            )
            if Env.HYPERPOD_NAMESPACE in env
            else None,
        )


def recipes() -> dict[str, Recipe]:
    if not _recipes:
        _recipes.update(load_all())
    return _recipes


def validate_run(event: dict[str, Any], settings: Settings, catalog: dict[str, Recipe]) -> dict[str, Any]:
    request = check_request(
        event.get("input"), recipes=catalog, limits=settings.limits, execution_name=str(event.get("execution", ""))
    )
    return request.as_state()


def prepare_run(
    request: RunRequest,
    settings: Settings,
    catalog: dict[str, Recipe],
    *,
    s3: Any,
    dynamodb: Any,
    sagemaker: Any,
    bedrock: Any,
    execution_arn: str,
) -> dict[str, Any]:
    if request.technique == IMPORT:
        imported = import_plan(request, settings)
        _record_start(dynamodb, settings.runs_table, request, imported, execution_arn)
        return imported
    recipe = catalog[request.recipe]
    overrides: dict[str, object] = {
        **request.overrides,
        "train": request.training_data,
        "output": output_uri(settings.limits, request.run_name),
    }
    rendered = render(recipe, overrides)
    if request.platform == Platform.HYPERPOD:
        if settings.hyperpod is None:
            raise ValueError("platform: 'hyperpod' is not wired in this environment (no restricted instance group)")
        # The job is named after the run: its manifest lands under <output>/<run.name>/.
        run = {**rendered["run"], "name": hyperpod_jobs.base_name(request.run_name)}
        rendered = {**rendered, "run": run}
    digest = recipe_hash(rendered)
    key = run_plan.recipe_key(request.run_name)
    artifacts = settings.limits.artifacts_bucket
    # Claim the run name before anything is written or started under it.
    _record_start(
        dynamodb,
        settings.runs_table,
        request,
        {"recipe_uri": f"s3://{artifacts}/{key}", "recipe_hash": digest},
        execution_arn,
    )
    put = s3.put_object(
        Bucket=artifacts,
        Key=key,
        Body=rendered_yaml(recipe, rendered).encode(),
        ContentType="application/yaml",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=settings.key_arn,
    )
    plan: dict[str, Any] = {
        "run_name": request.run_name,
        "recipe_uri": f"s3://{artifacts}/{key}",
        "recipe_version": put.get("VersionId", ""),
        "recipe_hash": digest,
        "approval": Approval.APPROVED,
        "output_uri": output_uri(settings.limits, request.run_name),
        # The evaluation's map writes its results here (ResultWriter takes the bucket by name).
        "artifacts_bucket": settings.limits.artifacts_bucket,
    }
    if request.platform == Platform.SAGEMAKER_TRAINING_JOB:
        image = images.training_image(sagemaker, str(rendered["run"]["model_type"]), request.technique)
        plan["sagemaker"] = run_plan.sagemaker_plan(request.run_name, recipe, rendered, image, artifacts)
    elif request.platform == Platform.BEDROCK:
        job = run_plan.bedrock_request(
            request.run_name,
            recipe,
            rendered,
            role_arn=settings.customization_role_arn,
            key_arn=settings.key_arn,
            environment=settings.environment,
            validation=request.validation_data,
        )
        plan["bedrock"] = {"job_arn": _start_customization(bedrock, job), "job_name": job["jobName"]}
    elif request.platform == Platform.HYPERPOD:
        plan["hyperpod"] = _hyperpod_plan(request, settings, rendered, sagemaker)
    return plan


def import_plan(request: RunRequest, settings: Settings) -> dict[str, Any]:
    """``CreateModelImportJob``'s names for an open-weight import (the state machine starts the job)."""
    return {
        "run_name": request.run_name,
        "output_uri": output_uri(settings.limits, request.run_name),
        "artifacts_bucket": settings.limits.artifacts_bucket,
        "approval": Approval.APPROVED_IMPORTED,
        "import": {
            "job_name": run_plan.job_name(request.run_name, "import"),
            "model_name": run_plan.job_name(request.run_name, "model"),
            "client_token": run_plan.request_token(request.run_name, "import"),
        },
    }


def _hyperpod_plan(request: RunRequest, settings: Settings, rendered: dict[str, Any], sagemaker: Any) -> dict[str, Any]:
    """The run's Kubernetes objects; the job writes ``manifest.json`` under ``<output>/<run.name>/``."""
    placement = settings.hyperpod
    assert placement is not None  # prepare_run checked it before writing anything
    run = rendered["run"]
    images = hyperpod_images(sagemaker, str(run["model_type"]), request.technique, placement.region)
    plan = hyperpod_jobs.job_objects(request.run_name, request.technique, rendered, placement, images)
    plan["manifest_uri"] = f"{str(run['output_s3_path']).rstrip('/')}/{run['name']}/manifest.json"
    return plan


# What CreateModelCustomizationJob answers when the job name is taken (its modelled errors have no
# ResourceInUseException); a real validation error still surfaces, as no job by that name exists.
NAME_TAKEN_CODES = ("ConflictException", "ValidationException")


def _start_customization(bedrock: Any, job: dict[str, Any]) -> str:
    """Starts the job; a retry with the same token (or a job already there by name) returns the same ARN."""
    try:
        return str(bedrock.create_model_customization_job(**job)["jobArn"])
    except ClientError as error:
        if error.response["Error"]["Code"] not in NAME_TAKEN_CODES:
            raise
        try:
            existing = bedrock.get_model_customization_job(jobIdentifier=job["jobName"])
        except ClientError as lookup:
            if lookup.response["Error"]["Code"] == "ResourceNotFoundException":
                raise error from None
            raise
        return str(existing["jobArn"])


MAX_OUTPUT_ARCHIVE_BYTES = 64 * 1024 * 1024


def locate_checkpoint(output_archive: str, s3: Any) -> str:
    """The ``checkpoint_s3_bucket`` URI from the ``manifest.json`` in a Nova training job's
    ``<output>/<job>/output/output.tar.gz`` (DescribeTrainingJob names no ModelArtifacts for Nova jobs; the
    SageMaker SDK reads the manifest there: sagemaker-core ``resolve_nova_checkpoint_uri``)."""
    bucket, _, key = output_archive.removeprefix("s3://").partition("/")
    if not output_archive.startswith("s3://") or not bucket or not key:
        raise CheckpointNotFoundError(
            f"output_archive: {output_archive!r} is not allowed; expected s3://<bucket>/<key>"
        )
    head = s3.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] > MAX_OUTPUT_ARCHIVE_BYTES:
        raise CheckpointNotFoundError(
            f"{output_archive} is {head['ContentLength']} bytes; a Nova job's output archive holds only its manifest"
        )
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            member = next(
                (m for m in tar.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] == "manifest.json"), None
            )
            if member is None:
                raise CheckpointNotFoundError(f"{output_archive} has no manifest.json")
            extracted = tar.extractfile(member)
            manifest = json.loads(extracted.read()) if extracted is not None else {}
    except (tarfile.TarError, EOFError, OSError) as error:
        raise CheckpointNotFoundError(f"{output_archive} is not a readable tar.gz archive: {error}") from error
    except ValueError as error:  # json.JSONDecodeError, UnicodeDecodeError
        raise CheckpointNotFoundError(f"manifest.json in {output_archive} is not valid JSON: {error}") from error
    return _checkpoint_in(manifest, f"manifest.json in {output_archive}")


def locate_manifest(manifest_uri: str, s3: Any) -> str:
    """The ``checkpoint_s3_bucket`` URI from a HyperPod job's ``manifest.json`` (a plain object, no archive)."""
    bucket, _, key = manifest_uri.removeprefix("s3://").partition("/")
    if not manifest_uri.startswith("s3://") or not bucket or not key:
        raise CheckpointNotFoundError(f"manifest_uri: {manifest_uri!r} is not allowed; expected s3://<bucket>/<key>")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise CheckpointNotFoundError(f"{manifest_uri} does not exist: the job wrote no manifest") from error
        raise
    try:
        manifest = json.loads(body)
    except ValueError as error:
        raise CheckpointNotFoundError(f"{manifest_uri} is not valid JSON: {error}") from error
    return _checkpoint_in(manifest, manifest_uri)


def _checkpoint_in(manifest: object, where: str) -> str:
    checkpoint = manifest.get("checkpoint_s3_bucket") if isinstance(manifest, dict) else None
    if not isinstance(checkpoint, str) or not checkpoint.startswith("s3://"):
        raise CheckpointNotFoundError(
            f"{where}: checkpoint_s3_bucket {checkpoint!r} is not allowed; expected an S3 URI"
        )
    return checkpoint


def _record_start(dynamodb: Any, table: str, request: RunRequest, plan: dict[str, Any], execution_arn: str) -> None:
    """The lineage record an auditor reads: input, recipe hash and data (or the imported weights' URI);
    the workflow completes it later."""
    item = {
        "run_name": {"S": request.run_name},
        "status": {"S": RunStatus.RUNNING},
        "execution_arn": {"S": execution_arn},
        "technique": {"S": request.technique},
        "platform": {"S": request.platform},
        "base_model": {"S": request.base_model},
        "evaluation_dataset": {"S": request.evaluation_dataset},
        "deploy_mode": {"S": request.deploy_mode},
    }
    if request.model_data:
        item["model_data"] = {"S": request.model_data}
    else:
        item |= {
            "recipe": {"S": request.recipe},
            "recipe_uri": {"S": plan["recipe_uri"]},
            "recipe_hash": {"S": plan["recipe_hash"]},
            "training_data": {"S": request.training_data},
        }
    try:
        # A retry of this execution may write again; another execution may not take the name.
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(run_name) OR execution_arn = :execution",
            ExpressionAttributeValues={":execution": {"S": execution_arn}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        taken = Problem(
            "run_name", request.run_name, "a name no earlier run in this environment used (the lineage table has it)"
        )
        raise RunNameTakenError(str(taken)) from error


def clean_up(state: dict[str, Any], *, sagemaker: Any, bedrock: Any) -> list[str]:
    """Stops the run's training job or customization job and deletes what it half-made: the throughputs and
    deployment it bought, then the model (a model still in use by a throughput cannot go first).

    Each action tolerates "already gone" or "not running", so a retried clean-up is safe. One action's error
    does not keep the others from being tried; then the worst is raised: a refused call as itself (the failure
    record keeps it), throttling or a 5xx as ServiceThrottledError and a resource still changing
    (ConflictException: a throughput still Creating, say) as ResourceBusyError, both of which the state machine
    retries.
    """
    errors = _CleanUpErrors()
    done = _cleaned_up(state, sagemaker=sagemaker, bedrock=bedrock, errors=errors)
    errors.raise_worst()
    return done


@dataclass
class _CleanUpErrors:
    refused: list[ClientError] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    def add(self, action: str, error: ClientError) -> None:
        code = error.response["Error"]["Code"]
        reason = f"{action}: {code}: {error.response['Error'].get('Message', '')}"
        if code == "ConflictException":
            self.busy.append(reason)
        elif code in THROTTLING_CODES or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            self.transient.append(reason)
        else:
            logger.error("clean-up action refused", extra={"action": action, "reason": code})
            self.refused.append(error)

    def raise_worst(self) -> None:
        if self.refused:
            raise self.refused[0]
        if self.transient:
            raise ServiceThrottledError("; ".join(self.transient))
        if self.busy:
            raise ResourceBusyError("; ".join(self.busy))


def _cleaned_up(state: dict[str, Any], *, sagemaker: Any, bedrock: Any, errors: _CleanUpErrors) -> list[str]:
    def attempt(codes: list[str], action: str, call: Any) -> list[str]:
        return _tried(codes, action, call, errors)

    def found(codes: list[str], action: str, call: Any) -> Any:
        """What ``call`` reads, or None when ``codes`` say it does not exist (or on another error, kept). Stop and
        Delete are allowed only on what carries the environment's tag, so IAM refuses them on something that was
        never created (AccessDenied, no tag to match) before the service could say it is not there: what is
        known only by name is looked up first."""
        try:
            return call()
        except ClientError as error:
            if error.response["Error"]["Code"] not in codes:
                errors.add(action, error)
            else:
                logger.info("nothing to do", extra={"action": action, "reason": error.response["Error"]["Code"]})
            return None

    done: list[str] = []
    plan = state.get("prepared") or {}
    if "sagemaker" in plan:
        job_name = plan["sagemaker"]["job_name"]
        missing = ["ValidationException", "ResourceNotFound"]
        job = found(missing, "stop training job", lambda: sagemaker.describe_training_job(TrainingJobName=job_name))
        if job is not None and job["TrainingJobStatus"] == "InProgress":
            done += attempt(missing, "stop training job", lambda: sagemaker.stop_training_job(TrainingJobName=job_name))
    if "bedrock" in plan:
        done += attempt(
            ["ValidationException", "ResourceNotFoundException"],
            "stop customization job",
            lambda: bedrock.stop_model_customization_job(jobIdentifier=plan["bedrock"]["job_arn"]),
        )
    # "serving": executions started before runs left serving to the Serving stack may still carry one.
    for purpose, throughput in (
        ("evaluation", (state.get("evaluation_throughput") or {}).get("arn")),
        ("serving", (state.get("serving") or {}).get("arn")),
    ):
        if throughput and ":provisioned-model/" in throughput:
            done += attempt(
                ["ResourceNotFoundException"],
                f"delete {purpose} throughput",
                lambda arn=throughput: bedrock.delete_provisioned_model_throughput(provisionedModelId=arn),
            )
    deployment = (state.get("evaluation_deployment") or {}).get("arn")
    if deployment:
        done += attempt(
            ["ResourceNotFoundException"],
            "delete evaluation deployment",
            lambda: bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=deployment),
        )
    model = (state.get("imported") or {}).get("model_arn")
    # Past the quality gate the state machine keeps the model ($.kept): a later failure must not throw it away.
    keep = bool((state.get("kept") or {}).get("model_arn"))
    if "import" in plan and not keep:
        # Before its ARN was read, the model is known by the name the run gave it (if the job got that far;
        # Bedrock cannot stop an import job, so one still running may create it after this).
        imported = model or plan["import"]["model_name"]

        def lookup() -> Any:
            return bedrock.get_imported_model(modelIdentifier=imported)

        if model or found(["ResourceNotFoundException"], "delete imported model", lookup) is not None:
            done += attempt(
                ["ResourceNotFoundException"],
                "delete imported model",
                lambda: bedrock.delete_imported_model(modelIdentifier=imported),
            )
    elif model and not keep:
        done += attempt(
            ["ResourceNotFoundException"],
            "delete custom model",
            lambda: bedrock.delete_custom_model(modelIdentifier=model),
        )
    return done


def _tried(codes: list[str], action: str, call: Any, errors: _CleanUpErrors) -> list[str]:
    """``call``, with the error ``codes`` that mean "nothing to do"; any other error is kept in ``errors``."""
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] not in codes:
            errors.add(action, error)
            return []
        logger.info("nothing to do", extra={"action": action, "reason": error.response["Error"]["Code"]})
        return []
    return [action]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def validate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate_run(event, Settings.from_environment(), recipes())


def throttling_is_transient(handler: Any) -> Any:
    """A step whose AWS calls are throttled raises :class:`ServiceThrottledError`, which the state machine retries."""

    @functools.wraps(handler)
    def wrapped(event: dict[str, Any], context: LambdaContext) -> Any:
        try:
            return handler(event, context)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in THROTTLING_CODES:
                raise ServiceThrottledError(str(error)) from error
            raise

    return wrapped


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@throttling_is_transient
def prepare(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RunRequest.from_state(event["request"])
    return prepare_run(
        request,
        Settings.from_environment(),
        recipes(),
        s3=client("s3"),
        dynamodb=client("dynamodb"),
        sagemaker=client("sagemaker"),
        bedrock=client("bedrock"),
        execution_arn=str(event.get("execution", "")),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@throttling_is_transient
def locate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "manifest_uri" in event:
        return {"uri": locate_manifest(str(event["manifest_uri"]), client("s3"))}
    return {"uri": locate_checkpoint(str(event.get("output_archive", "")), client("s3"))}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@throttling_is_transient
def clean_up_run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"cleaned_up": clean_up(event, sagemaker=client("sagemaker"), bedrock=client("bedrock"))}
