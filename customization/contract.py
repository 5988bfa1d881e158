"""What the workflow's constructs and its step handlers must agree on, written once.

This module ships in the steps' code asset (``customization/``) and is imported at synth
time by ``constructs/``, so a name the state machine matches and the handler raises, or a
variable the construct sets and the handler reads, cannot drift apart: an IDE rename moves
both ends. The state machine catches ``RunNameTakenError.__name__``, never a literal.

Plain ``str`` constants rather than ``enum.Enum``: jsii serializes Python enums as jsii enums,
and these values go into templates as strings.
"""

from __future__ import annotations

# --- errors a step raises and the state machine matches by class name ---------------------------------------


class InvalidRunRequestError(Exception):
    """The workflow input breaks rules; the message lists every problem. The run is rejected."""


class RunNameTakenError(Exception):
    """Another execution recorded a run under this name; the run is rejected, that run left untouched."""


class CheckpointNotFoundError(Exception):
    """The training job's output names no S3 checkpoint (no manifest, or one without ``checkpoint_s3_bucket``)."""


class TrainingImageNotFoundError(Exception):
    """The SageMaker public hub lists no image for this model and technique (the message says which)."""


class KubeApiTransientError(Exception):
    """The Kubernetes API server was busy, failing or out of reach; the state machine retries it."""


class ResourceBusyError(Exception):
    """A resource the clean-up deletes is still changing (Bedrock's ConflictException, e.g. a provisioned
    throughput still Creating); the state machine tries the clean-up again minutes later."""


class ServiceThrottledError(Exception):
    """An AWS call of a step was throttled or the service was briefly unavailable; the state machine retries it.

    boto3 raises a class of its own only for the error codes a service models (Bedrock's ThrottlingException);
    SageMaker's throttling, S3's SlowDown and the like arrive as a plain ClientError, which Lambda reports as
    "ClientError", indistinguishable from a refused request. The steps turn those into this error.
    """


# Error codes AWS services use for "try again later" (botocore's retry handler treats them as throttling).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class Env:
    """Environment variables the construct sets on the step functions and the handlers read."""

    DATASETS_BUCKET = "DATASETS_BUCKET"
    ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"
    PLATFORMS = "PLATFORMS"  # comma-separated Platform values wired in this environment
    RUNS_TABLE = "RUNS_TABLE"
    CUSTOMIZATION_ROLE_ARN = "CUSTOMIZATION_ROLE_ARN"
    KEY_ARN = "KEY_ARN"
    # The environment's name: the value of the ENVIRONMENT_TAG the workflow puts on what it creates.
    ENVIRONMENT = "ENVIRONMENT"
    # Set only where a restricted instance group is wired (the HyperPod platform).
    HYPERPOD_NAMESPACE = "HYPERPOD_NAMESPACE"
    HYPERPOD_INSTANCE_TYPE = "HYPERPOD_INSTANCE_TYPE"
    HYPERPOD_MAX_NODES = "HYPERPOD_MAX_NODES"
    MAX_TRAINING_SECONDS = "MAX_TRAINING_SECONDS"
    # The environment's cross-Region profile prefix for base models (workflow.inference_profile_prefix), or "".
    INFERENCE_PROFILE_PREFIX = "INFERENCE_PROFILE_PREFIX"
    ACCOUNT_ID = "ACCOUNT_ID"
    # The HyperPod jobs step only.
    CLUSTER_NAME = "CLUSTER_NAME"
    # Set by the Lambda runtime, not by the construct.
    AWS_REGION = "AWS_REGION"


RUNTIME_ENV = frozenset({Env.AWS_REGION})

# Every job, model, deployment and throughput a run creates carries this tag with its environment's name, and the
# workflow may stop or delete only what carries its own (``aws:ResourceTag/environment`` in its policies): in an
# account several environments share, one environment's runs cannot touch another's.
ENVIRONMENT_TAG = "environment"


class Platform:
    """Where a run trains (the input's ``platform``)."""

    SAGEMAKER_TRAINING_JOB = "sagemaker-training-job"
    BEDROCK = "bedrock"
    HYPERPOD = "hyperpod"


PLATFORMS = (Platform.SAGEMAKER_TRAINING_JOB, Platform.HYPERPOD, Platform.BEDROCK)
# Every environment's workflow has these branches; HyperPod only with a restricted instance group.
ALWAYS_WIRED_PLATFORMS = (Platform.SAGEMAKER_TRAINING_JOB, Platform.BEDROCK)

# The technique of an open-weight import (Bedrock Custom Model Import): no recipe, no training.
IMPORT = "import"


class DeployMode:
    """How a run's model is served once it passes the gate (the input's ``deploy_mode``)."""

    ON_DEMAND = "on-demand"
    NONE = "none"


# A customized model is served by the Serving stack (``serving.model_source: lineage``), the one owner of what
# serves a model: a run approves and records it and leaves nothing serving, so no throughput is bought twice and
# none outlives the stack that should delete it.
TRAINED_DEPLOY_MODES = (DeployMode.NONE,)
# An imported model is invoked on demand by its own ARN: nothing is made for it, nothing bills while idle.
IMPORT_DEPLOY_MODES = (DeployMode.ON_DEMAND, DeployMode.NONE)


class EvaluationRoute:
    """How the workflow invokes a run's model to evaluate it (Validate sets the request's ``evaluation_route``)."""

    ON_DEMAND_DEPLOYMENT = "on-demand-deployment"  # CreateCustomModelDeployment: LoRA and Bedrock-made models
    PROVISIONED_THROUGHPUT = "provisioned-throughput"  # a run's own 1-unit, no-commitment throughput: full rank
    IMPORTED_MODEL = "imported-model"  # an open-weight import is invoked by its own ARN


# The evaluation's metrics the quality gate compares with the run's thresholds (a metric the dataset does
# not measure is absent and does not block), and the judge's required gain over the base model.
GATED_METRICS = ("exact_match", "token_f1", "rouge_l", "tool_call_valid", "sql_execution_match", "judge_score")
JUDGE_IMPROVEMENT = "min_judge_improvement"


class Approval:
    """Partitions of the lineage table's approved-models index (Prepare picks one per run)."""

    APPROVED = "APPROVED"  # customized models: what the Serving stack deploys
    APPROVED_IMPORTED = "APPROVED_IMPORTED"  # open-weight imports, served by their own ARN


APPROVED_INDEX = "approved-models"
# The SageMaker public hub Prepare reads Nova's training images from (owned by the account "aws").
PUBLIC_HUB = "SageMakerPublicHub"


class RunStatus:
    """The lineage record's ``status``."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class HyperPodAction:
    """What the HyperPod jobs step is asked to do (its event's ``action``)."""

    SUBMIT = "submit"
    STATUS = "status"
    REMOVE = "remove"


class HyperPodJobStatus:
    """The HyperPod jobs step's ``status`` answer, which the state machine branches on."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
