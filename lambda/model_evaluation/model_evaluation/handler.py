"""Lambda entry points of the customization workflow's evaluation, which a Distributed Map drives.

``batch_handler`` scores one batch of the dataset's records (``model_evaluation.batch``): both candidates'
answers through Converse, rule-based metrics (exact match, token F1, ROUGE-L, tool-call validity) and the
judge's 1-5 score; a record that fails is counted with its reason. ``report_handler`` reads every batch's
results back, summarizes them with confidence intervals, decides the gate and writes the report
(``model_evaluation.report``).

``check_handler`` reads the run's evaluation dataset before anything is claimed or trained.

Errors by name: ``InvalidEvaluationRequestError`` (bad event), ``DatasetError`` (the dataset breaks the format
or is too small or too large: the run is rejected), ``ModelUnreachableError`` (a candidate or the judge
cannot be called at all: the batch fails, and beyond the tolerated failures, the run).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from model_evaluation.batch import parse_batch_input, score_batch
from model_evaluation.dataset_check import check_dataset
from model_evaluation.record_scoring import BaseAnswerCache, bedrock_scorer, s3_databases
from model_evaluation.report import report

logger = Logger()
tracer = Tracer()
# Standard retry mode backs off on throttling a few times before the workflow's Retry takes
# over; long read timeout because a judge or a large model can take minutes to answer.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, read_timeout=300)
# Per record in a batch: more attempts (standard mode backs off exponentially with jitter), after which the record
# counts as failed rather than failing the batch.
RECORD_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=60)
_clients: dict[str, Any] = {}
# Text-to-SQL records' databases, downloaded once per container (Lambda's /tmp), not once per batch.
DATABASES = Path(tempfile.gettempdir()) / "evaluation-databases"
_databases: dict[str, Callable[[str], Path]] = {}


def databases() -> Callable[[str], Path]:
    """The container's database downloader (it remembers what it fetched), created on first use."""
    if "s3" not in _databases:
        _databases["s3"] = s3_databases(client("s3"), DATABASES)
    return _databases["s3"]


def client(service: str, config: Config = CLIENT_CONFIG) -> Any:
    """The container's client for ``service`` (with the record retry settings: its own), created on first use."""
    name = service if config is CLIENT_CONFIG else f"{service} per record"
    if name not in _clients:
        _clients[name] = boto3.client(service, config=config)
    return _clients[name]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def batch_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One Distributed Map batch: its records scored, failures kept as data (``model_evaluation.batch``)."""
    batch = parse_batch_input(event.get("BatchInput"))
    logger.append_keys(run_id=batch.run_id)
    s3, bedrock = client("s3"), client("bedrock-runtime", RECORD_CLIENT_CONFIG)
    cache = BaseAnswerCache(s3, batch.cache, batch.models["base"])
    scorer = bedrock_scorer(batch.run_id, bedrock, batch.models, batch.judge_model, batch.rubric, cache, databases())
    items = event.get("Items")
    result = score_batch(
        items if isinstance(items, list) else [], batch, scorer, s3, context.get_remaining_time_in_millis
    )
    failed = sum(1 for record in result["records"] if "failure" in record)
    logger.info("batch scored", extra={"records": len(result["records"]), "failed": failed})
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def report_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """After the map: the summary, the gate's decision and the report (``model_evaluation.report``)."""
    summary = report(event, client("s3"))
    logger.info("evaluation reported", extra={"results": summary["results"], "gate": summary["gate"]})
    return summary


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def check_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Before the run claims or trains anything: the evaluation dataset, every line and the count
    (``model_evaluation.dataset_check``)."""
    s3 = client("s3")
    checked = check_dataset(event, s3, databases(), client("bedrock-runtime"))
    logger.info("evaluation dataset checked", extra=checked)
    return checked
