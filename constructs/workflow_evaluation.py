"""The evaluation itself, at scale: a Distributed Map scores the dataset's records in batches, then one
function summarizes, decides the gate and writes the report.

Why a Distributed Map: a run of 10,000 records makes 40,000 model calls, hours of work for one
function; the map reads the JSONL dataset straight from S3 (``ItemReader``, JSONL), hands
``batch_size`` records to each call (``ItemBatcher``), runs ``max_concurrency`` calls at once and
writes every batch's result to S3 (``ResultWriter``), so no state carries the records (Step
Functions developer guide, "Distributed Map state", "ItemReader", "ItemBatcher", "ResultWriter").
A record that fails is counted by the batch, not retried by the map; a batch that fails (its
function crashed or timed out after its retries) counts its records as failed, and more failed
batches than the gate tolerates fail the run at once (``ToleratedFailurePercentage``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct
from constructs.workflow_failure import LAMBDA_STEP_TRANSIENT_ERRORS, Guard

# Runs that may evaluate at the same time before their batches throttle each other (the batch function's reserved
# concurrency is this many times max_concurrency).
EVALUATIONS_AT_ONCE = 2
# The functions' timeouts (workflow_steps): a batch has Lambda's whole 15 minutes, the report 10.
BATCH_TIMEOUT_MINUTES = 15
REPORT_TIMEOUT_MINUTES = 10
# Where base-model answers are kept between runs (content-addressed: model, settings, prompt).
BASE_ANSWER_CACHE = "evaluation-cache/base-answers/"


class _DatasetReader(sfn.S3JsonLItemReader):
    """The JSONL reader of the dataset version that was checked, granting nothing itself.

    Given the bucket by name, aws-cdk-lib would grant s3:GetObject on every bucket; the data stores' shared policy
    grants the datasets bucket instead (``CustomizationWorkflow``), and its ``s3:GetObject*`` covers
    ``s3:GetObjectVersion``. aws-cdk-lib has no VersionId prop, which ItemReader's ``Parameters`` take (Step Functions
    developer guide, "ItemReader (Map)"): ``render`` adds it."""

    def __init__(self, *, version_id_path: str, **props: Any) -> None:
        super().__init__(**props)
        self._version_id_path = version_id_path

    def render(self, query_language: sfn.QueryLanguage | None = None) -> Any:
        rendered = super().render(query_language)
        rendered["Parameters"]["VersionId.$"] = self._version_id_path
        return rendered

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return []


class _ResultWriter(sfn.ResultWriterV2):
    """The result writer, granting nothing itself, for the same reason (the artifacts bucket's shared policy)."""

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return []


@dataclass(frozen=True)
class EvaluationScale:
    """How the evaluation scales and how much evidence the gate asks for (``workflow.evaluation`` in config)."""

    max_concurrency: int
    """Batches scored at once."""
    batch_size: int
    """Records per batch."""
    max_records: int
    """Records read from a dataset at most."""
    min_records: int
    """Scored records below this fail the gate."""
    min_scored_fraction: float
    """Scored / all records below this fail the gate."""

    @property
    def longest_hours(self) -> int:
        """How long the map may take at worst: every wave of ``max_concurrency`` batches running the batch function's
        whole timeout, plus the report's. The run's overall timeout counts it (an execution that times out cleans
        nothing up, and an evaluation throughput would keep billing)."""
        waves = math.ceil(self.max_records / (self.batch_size * self.max_concurrency))
        return math.ceil((waves * BATCH_TIMEOUT_MINUTES + REPORT_TIMEOUT_MINUTES) / 60)

    @property
    def tolerated_failure_percentage(self) -> int:
        """Failed batches the map tolerates: as many as the gate could still pass with (rounded down)."""
        return math.floor(round((1 - self.min_scored_fraction) * 100, 6))


@dataclass(frozen=True)
class Judge:
    """The model that scores answers (LLM-as-a-judge) and the rubric it is given."""

    model_id: str
    """A Bedrock model or inference profile id (no default: the environment's ``workflow.judge_model_id``)."""
    rubric: str
    """What a score from 1 to 5 means (no default)."""
    rubric_sha256: str
    """The rubric file's SHA-256: in the report and the lineage record."""


@dataclass(frozen=True)
class EvaluationCall:
    """What the records are scored with."""

    score_fn: lambda_.IFunction
    """Scores one batch (``model_evaluation.handler.batch_handler``)."""
    report_fn: lambda_.IFunction
    """Summarizes, gates and reports (``model_evaluation.handler.report_handler``)."""
    judge: Judge
    """The judge and its rubric."""
    base_model_prefix: str
    """Prepended to the base model id (a cross-Region profile's ``us.``, ...; ``""`` for none)."""


def scored_and_reported(
    scope: Construct,
    *,
    call: EvaluationCall,
    scale: EvaluationScale,
    artifacts: s3.IBucket,
    guard: Guard,
    failure: sfn.IChainable,
    then: sfn.IChainable,
) -> sfn.DistributedMap:
    """Score every record of ``$.request.evaluation_dataset_key`` for base and ``$.candidate``, then report into
    ``$.evaluation`` (with ``gate.passed``) and go on to ``then``. Returns the map, the first state."""
    results = sfn.JsonPath.format("{}evaluation/", sfn.JsonPath.string_at("$.prepared.output_uri"))
    score = tasks.LambdaInvoke(scope, "Score batch", lambda_function=call.score_fn, payload_response_only=True)
    # Lambda's throttling under the map's fan-out, with full jitter so a wave of batches does not retry in step.
    score.add_retry(
        errors=LAMBDA_STEP_TRANSIENT_ERRORS,
        interval=cdk.Duration.seconds(2),
        backoff_rate=2,
        max_attempts=6,
        max_delay=cdk.Duration.seconds(60),
        jitter_strategy=sfn.JitterType.FULL,
    )
    records = sfn.DistributedMap(
        scope,
        "Score records",
        # Buckets by name from the state (Validate and Prepare put them there), so the reads and writes are granted
        # by the data stores' shared policies, as for every other reader and writer of these buckets.
        item_reader=_DatasetReader(
            bucket_name_path=sfn.JsonPath.string_at("$.request.evaluation_dataset_bucket"),
            key=sfn.JsonPath.string_at("$.request.evaluation_dataset_key"),
            version_id_path="$.evaluation_dataset.version_id",
            max_items=scale.max_records,
        ),
        item_batcher=sfn.ItemBatcher(
            max_items_per_batch=scale.batch_size,
            # ItemBatcher renders BatchInput as given: the ".$" keys are spelled out.
            batch_input={
                "run_id.$": "$.request.run_name",
                "candidates": {
                    "base": {
                        "model_id.$": f"States.Format('{call.base_model_prefix}{{}}', $.request.evaluation_base_model)"
                    },
                    "customized": {"model_id.$": "$.candidate.model_id"},
                },
                "judge": {"model_id": call.judge.model_id, "rubric": call.judge.rubric},
                "results_uri.$": "States.Format('{}evaluation/', $.prepared.output_uri)",
                "cache_uri": f"s3://{artifacts.bucket_name}/{BASE_ANSWER_CACHE}",
            },
        ),
        max_concurrency=scale.max_concurrency,
        tolerated_failure_percentage=scale.tolerated_failure_percentage,
        result_writer_v2=_ResultWriter(
            bucket_name_path=sfn.JsonPath.string_at("$.prepared.artifacts_bucket"),
            prefix=sfn.JsonPath.format("runs/{}/output/evaluation/map", sfn.JsonPath.string_at("$.request.run_name")),
            # Only the batches' outputs, one per line (a failed batch's entry stays whole, with its input and error):
            # the report reads them line by line, not every batch's input too.
            writer_config=sfn.WriterConfig(output_type=sfn.OutputType.JSONL, transformation=sfn.Transformation.COMPACT),
        ),
        result_path="$.evaluation_map",
    )
    records.item_processor(score)
    records.add_catch(failure, errors=["States.ALL"], result_path="$.error")
    report = tasks.LambdaInvoke(
        scope,
        "Report evaluation",
        lambda_function=call.report_fn,
        payload=sfn.TaskInput.from_object(
            {
                "run_id": sfn.JsonPath.string_at("$.request.run_name"),
                "results_uri": results,
                "map": sfn.JsonPath.object_at("$.evaluation_map"),
                "thresholds": sfn.JsonPath.object_at("$.request.thresholds"),
                "gate": {"min_records": scale.min_records, "min_scored_fraction": scale.min_scored_fraction},
                "rubric_sha256": call.judge.rubric_sha256,
                "dataset": {
                    "uri": sfn.JsonPath.string_at("$.request.evaluation_dataset"),
                    "version_id": sfn.JsonPath.string_at("$.evaluation_dataset.version_id"),
                },
            }
        ),
        payload_response_only=True,
        result_path="$.evaluation",
    )
    records.next(guard(report)).next(then)
    return records
