"""Where a run trains, and how its model reaches Bedrock: one builder per platform, plus the imports.

Each builder takes its collaborators as arguments (the functions it invokes, the roles it
passes, ``guard`` for retries and the catch into the failure path, ``failure`` itself, and
``then``, where the run continues) and returns its first state, in the spirit of
aws-cdk-lib's ``StateMachineFragment``: none depends on another having been built first.

What each leaves in the state for the next: the SageMaker and HyperPod paths put the
checkpoint at ``$.checkpoint.uri`` and continue into :func:`checkpoint_import`, which puts the
Bedrock model at ``$.imported.model_arn``; the Bedrock path and :func:`open_weight_import`
put it there themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.workflow_bedrock_calls import bedrock_call, environment_tags
from constructs.workflow_failure import Guard, steps_throttling_retried
from constructs.workflow_polling import (
    HOURS_LONG,
    HYPERPOD_GRACE_HOURS,
    IMPORT_HOURS,
    Deadline,
    PolledJob,
    hours,
    polled_job,
)
from customization.contract import ENVIRONMENT_TAG, HyperPodAction, HyperPodJobStatus, KubeApiTransientError


@dataclass(frozen=True)
class TrainingJobSettings:
    """What a SageMaker training job of this environment runs as, on and for how long."""

    role: iam.IRole
    """The job runs as it (the state machine passes it)."""
    key: kms.IKey
    """Encrypts the job's output and volumes."""
    vpc: ec2.IVpc
    """The training VPC (no default)."""
    subnets: Sequence[ec2.ISubnet]
    """Private subnets the job's network interfaces go in."""
    instance_type: str
    """A SageMaker training instance type, e.g. ``ml.p5.48xlarge``."""
    max_training_hours: int
    """The job's stopping condition."""
    environment: str
    """The job's ``ENVIRONMENT_TAG`` value."""


# EC2 families whose instances come with NVMe instance store ("Amazon EC2 instance store" in the EC2 user guide):
# the "d" variants (p4d, g4dn, m5d, ...) and the accelerated families that have it without the letter
# (SageMaker writes p6-b200, p6e-gb200: the family is the part before the hyphen).
LOCAL_STORAGE_FAMILIES = ("p5", "p5e", "p5en", "p6", "p6e", "g5", "g6", "g6e", "g7e", "trn1", "trn1n", "trn2")


def has_local_storage(instance_type: str) -> bool:
    """``ml.p5.48xlarge`` and ``ml.p6-b200.48xlarge`` -> True: the family has NVMe instance store."""
    family = instance_type.removeprefix("ml.").split(".")[0].split("-")[0]
    return family in LOCAL_STORAGE_FAMILIES or "d" in family[1:]


def sagemaker_training(
    scope: Construct, *, job: TrainingJobSettings, locate_fn: lambda_.IFunction, guard: Guard, then: sfn.IChainable
) -> sfn.IChainable:
    """``createTrainingJob.sync`` from Prepare's ``$.prepared.sagemaker`` plan, then the checkpoint its
    output archive's manifest names."""
    train = tasks.SageMakerCreateTrainingJob(
        scope,
        "Train on SageMaker",
        training_job_name=sfn.JsonPath.string_at("$.prepared.sagemaker.job_name"),
        role=job.role,
        algorithm_specification=tasks.AlgorithmSpecification(
            training_image=tasks.DockerImage.from_json_expression(
                sfn.JsonPath.string_at("$.prepared.sagemaker.training_image")
            ),
            training_input_mode=tasks.InputMode.FILE,
        ),
        hyperparameters={
            "sagemaker_recipe_local_path": sfn.JsonPath.string_at(
                "$.prepared.sagemaker.hyperparameters.sagemaker_recipe_local_path"
            ),
            "base_model": sfn.JsonPath.string_at("$.prepared.sagemaker.hyperparameters.base_model"),
        },
        input_data_config=[
            tasks.Channel(
                channel_name="recipe",
                data_source=tasks.DataSource(
                    s3_data_source=tasks.S3DataSource(
                        s3_location=tasks.S3Location.from_json_expression("$.prepared.sagemaker.recipe_prefix"),
                        s3_data_type=tasks.S3DataType.S3_PREFIX,
                    )
                ),
            )
        ],
        output_data_config=tasks.OutputDataConfig(
            s3_output_location=tasks.S3Location.from_json_expression("$.prepared.sagemaker.output_path"),
            encryption_key=job.key,
        ),
        resource_config=tasks.ResourceConfig(
            instance_count=sfn.JsonPath.number_at("$.prepared.sagemaker.instance_count"),
            instance_type=ec2.InstanceType(job.instance_type.removeprefix("ml.")),
            volume_size=cdk.Size.gibibytes(500),
            # CreateTrainingJob refuses a VolumeKmsKeyId on instance types with local storage (their NVMe is
            # encrypted by the instance's hardware module): SageMaker API reference, ResourceConfig.
            volume_encryption_key=None if has_local_storage(job.instance_type) else job.key,
        ),
        stopping_condition=tasks.StoppingCondition(max_runtime=cdk.Duration.hours(job.max_training_hours)),
        tags={ENVIRONMENT_TAG: job.environment},
        vpc_config=tasks.VpcConfig(vpc=job.vpc, subnets=ec2.SubnetSelection(subnets=list(job.subnets))),
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        # Not ModelArtifacts: a Nova job's DescribeTrainingJob has none (aws/sagemaker-python-sdk PR 6091), although
        # botocore marks it required. Prepare names the output archive the job's manifest is in instead.
        result_selector={"job_arn": sfn.JsonPath.string_at("$.TrainingJobArn")},
        result_path="$.training",
    )
    locate = steps_throttling_retried(
        tasks.LambdaInvoke(
            scope,
            "Locate checkpoint",
            lambda_function=locate_fn,
            payload=sfn.TaskInput.from_object(
                {"output_archive": sfn.JsonPath.string_at("$.prepared.sagemaker.output_archive")}
            ),
            payload_response_only=True,
            result_path="$.checkpoint",
        )
    )
    return guard(train).next(guard(locate)).next(then)


def hyperpod_step(
    scope: Construct, construct_id: str, hyperpod_fn: lambda_.IFunction, action: str, result_path: str
) -> tasks.LambdaInvoke:
    """One call of the HyperPod jobs step (``action`` from ``HyperPodAction``) on Prepare's plan; a busy or
    unreachable Kubernetes API (``KubeApiTransientError``) is tried again."""
    step = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=hyperpod_fn,
        payload=sfn.TaskInput.from_object(
            {"action": action, "hyperpod": sfn.JsonPath.object_at("$.prepared.hyperpod")}
        ),
        payload_response_only=True,
        result_path=result_path,
    )
    step.add_retry(
        errors=[KubeApiTransientError.__name__], interval=cdk.Duration.seconds(5), backoff_rate=2, max_attempts=5
    )
    return step


def hyperpod_training(
    scope: Construct,
    *,
    hyperpod_fn: lambda_.IFunction,
    locate_fn: lambda_.IFunction,
    max_training_hours: int,
    guard: Guard,
    failure: sfn.IChainable,
    then: sfn.IChainable,
) -> sfn.IChainable:
    """Create the run's Kubernetes objects, wait for its job, delete them (PPO's servers hold GPUs until
    then), then locate the checkpoint the job's manifest names. The job's own deadline ends it after
    ``max_training_hours``; the loop gives up an hour later, and the failure path removes the job."""
    release = hyperpod_step(scope, "Release HyperPod job", hyperpod_fn, HyperPodAction.REMOVE, "$.hyperpod_released")
    locate = steps_throttling_retried(
        tasks.LambdaInvoke(
            scope,
            "Locate HyperPod checkpoint",
            lambda_function=locate_fn,
            payload=sfn.TaskInput.from_object(
                {"manifest_uri": sfn.JsonPath.string_at("$.prepared.hyperpod.manifest_uri")}
            ),
            payload_response_only=True,
            result_path="$.checkpoint",
        )
    )
    return polled_job(
        scope,
        PolledJob(
            name="HyperPod job",
            key="hyperpod",
            start=hyperpod_step(
                scope, "Submit HyperPod job", hyperpod_fn, HyperPodAction.SUBMIT, "$.hyperpod_submitted"
            ),
            check=hyperpod_step(scope, "Check HyperPod job", hyperpod_fn, HyperPodAction.STATUS, "$.hyperpod_job"),
            status_path="$.hyperpod_job.status",
            done=[HyperPodJobStatus.SUCCEEDED],
            failed=[HyperPodJobStatus.FAILED],
            error="HyperPodJobFailed",
            cause=sfn.JsonPath.format(
                "A PyTorchJob of the run failed: {}", sfn.JsonPath.string_at("$.hyperpod_job.detail")
            ),
            polling=HOURS_LONG,
            deadline=Deadline(
                seconds=hours(max_training_hours + HYPERPOD_GRACE_HOURS),
                error="TrainingTimedOut",
                cause=f"The HyperPod job was still running {HYPERPOD_GRACE_HOURS} h after its deadline "
                f"(max_training_hours: {max_training_hours}); the run removed it",
            ),
        ),
        guard=guard,
        failure=failure,
        on_done=guard(release).next(guard(locate)).next(then),
    )


def bedrock_customization(
    scope: Construct, *, max_training_hours: int, guard: Guard, failure: sfn.IChainable, then: sfn.IChainable
) -> sfn.IChainable:
    """Wait for the customization job Prepare started; its output model is the candidate.

    CreateModelCustomizationJob takes no stopping condition (Bedrock API reference), so the run bounds
    the job: after ``max_training_hours`` the failure path's clean-up stops it."""

    def job_reader(construct_id: str, result_selector: dict[str, str], result_path: str) -> tasks.CallAwsService:
        return bedrock_call(
            scope,
            construct_id,
            "getModelCustomizationJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.prepared.bedrock.job_arn")},
            resources=["model-customization-job"],
            result_selector=result_selector,
            result_path=result_path,
        )

    check = job_reader("Check customization job", {"status": sfn.JsonPath.string_at("$.Status")}, "$.customization")
    # OutputModelArn is there once the job completed (GetModelCustomizationJob: not required); read it then.
    completed = guard(
        job_reader("Read customized model", {"model_arn": sfn.JsonPath.string_at("$.OutputModelArn")}, "$.imported")
    )
    return polled_job(
        scope,
        PolledJob(
            name="Customization",
            key="customization",
            check=check,
            status_path="$.customization.status",
            done=["Completed"],
            failed=["Failed", "Stopped"],
            error="CustomizationFailed",
            cause="Bedrock reported the customization job Failed or Stopped",
            polling=HOURS_LONG,
            deadline=Deadline(
                seconds=hours(max_training_hours),
                error="TrainingTimedOut",
                cause=f"The Bedrock customization job ran past max_training_hours ({max_training_hours}); "
                "the run stopped it",
            ),
        ),
        guard=guard,
        failure=failure,
        on_done=completed.next(then),
    )


def checkpoint_import(
    scope: Construct,
    *,
    environment: str,
    bedrock_role: iam.IRole,
    key: kms.IKey,
    guard: Guard,
    failure: sfn.IChainable,
    then: sfn.IChainable,
) -> sfn.IChainable:
    """Import a Nova checkpoint (``$.checkpoint.uri``) into Bedrock and wait until the model is active."""
    import_model = bedrock_call(
        scope,
        "Import into Bedrock",
        "createCustomModel",
        {
            "ModelName": sfn.JsonPath.format("{}-model", sfn.JsonPath.string_at("$.request.run_name")),
            # A retried call (throttled, or lost on the way back) must not create a second model.
            "ClientRequestToken": sfn.JsonPath.format("{}-model", sfn.JsonPath.string_at("$.request.run_name")),
            "ModelSourceConfig": {"S3DataSource": {"S3Uri": sfn.JsonPath.string_at("$.checkpoint.uri")}},
            "RoleArn": bedrock_role.role_arn,
            "ModelKmsKeyArn": key.key_arn,
            "ModelTags": environment_tags(environment),
        },
        # CreateCustomModel takes no resource type in IAM (Service Authorization Reference): "*" only.
        resources=["*"],
        passes_role=bedrock_role,
        result_selector={"model_arn": sfn.JsonPath.string_at("$.ModelArn")},
        result_path="$.imported",
    )
    check = bedrock_call(
        scope,
        "Check import",
        "getCustomModel",
        {"ModelIdentifier": sfn.JsonPath.string_at("$.imported.model_arn")},
        resources=["custom-model"],
        result_selector={"status": sfn.JsonPath.string_at("$.ModelStatus")},
        result_path="$.import_status",
    )
    return polled_job(
        scope,
        PolledJob(
            name="Import",
            key="import",
            start=import_model,
            check=check,
            status_path="$.import_status.status",
            done=["Active"],
            failed=["Failed"],
            error="ImportFailed",
            cause="Bedrock reported the model import Failed",
            deadline=Deadline(
                seconds=hours(IMPORT_HOURS),
                error="ImportTimedOut",
                cause=f"The model was not Active after {IMPORT_HOURS} h; the run's clean-up deletes it",
            ),
        ),
        guard=guard,
        failure=failure,
        on_done=then,
    )


def open_weight_import(
    scope: Construct,
    *,
    environment: str,
    bedrock_role: iam.IRole,
    key: kms.IKey,
    guard: Guard,
    failure: sfn.IChainable,
    then: sfn.IChainable,
) -> sfn.IChainable:
    """``CreateModelImportJob`` from the run's ``model_data`` folder, polled until the model exists; the
    imported model is the candidate (``$.candidate``) that ``then`` evaluates."""
    start = bedrock_call(
        scope,
        "Import open-weight model",
        "createModelImportJob",
        {
            "JobName": sfn.JsonPath.string_at("$.prepared.import.job_name"),
            "ImportedModelName": sfn.JsonPath.string_at("$.prepared.import.model_name"),
            "RoleArn": bedrock_role.role_arn,
            "ModelDataSource": {"S3DataSource": {"S3Uri": sfn.JsonPath.string_at("$.request.model_data")}},
            "ImportedModelKmsKeyId": key.key_arn,
            "ClientRequestToken": sfn.JsonPath.string_at("$.prepared.import.client_token"),
            "JobTags": environment_tags(environment),
            "ImportedModelTags": environment_tags(environment),
        },
        # CreateModelImportJob takes no resource type in IAM (Service Authorization Reference): "*" only.
        resources=["*"],
        passes_role=bedrock_role,
        result_selector={"job_arn": sfn.JsonPath.string_at("$.JobArn")},
        result_path="$.model_import",
    )

    def job_reader(construct_id: str, result_selector: dict[str, str], result_path: str) -> tasks.CallAwsService:
        return bedrock_call(
            scope,
            construct_id,
            "getModelImportJob",
            {"JobIdentifier": sfn.JsonPath.string_at("$.model_import.job_arn")},
            resources=["model-import-job"],
            result_selector=result_selector,
            result_path=result_path,
        )

    check = job_reader("Check model import", {"status": sfn.JsonPath.string_at("$.Status")}, "$.model_import_status")
    # ImportedModelArn is there once the job completed; read it then.
    read = job_reader("Read imported model", {"model_arn": sfn.JsonPath.string_at("$.ImportedModelArn")}, "$.imported")
    candidate = sfn.Pass(
        scope,
        "Evaluate the imported model",
        parameters={"model_id.$": "$.imported.model_arn"},
        result_path="$.candidate",
    )
    return polled_job(
        scope,
        PolledJob(
            name="Model import",
            key="model_import",
            start=start,
            check=check,
            status_path="$.model_import_status.status",
            done=["Completed"],
            failed=["Failed"],
            error="ModelImportFailed",
            cause="Bedrock reported the model import job Failed",
            deadline=Deadline(
                seconds=hours(IMPORT_HOURS),
                error="ImportTimedOut",
                cause=f"The model import job had not completed after {IMPORT_HOURS} h",
            ),
        ),
        guard=guard,
        failure=failure,
        on_done=guard(read).next(candidate).next(then),
    )
