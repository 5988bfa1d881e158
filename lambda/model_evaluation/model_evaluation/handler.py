"""Lambda entry point of the customization workflow's evaluation step.

Compares the base and the customized model on an evaluation dataset: rule-based metrics
(exact match, token F1, ROUGE-L, tool-call validity, steps per task) and an LLM judge's 1-5
score, written to ``<results_uri>evaluation.json``; returns the aggregates and the
improvement (see ``request`` for the event, ``evaluation`` for the result).

Errors the workflow can branch on, by name: ``InvalidEvaluationRequestError`` (bad event),
``DatasetError`` and ``MissingPredictionError`` (bad input files), ``JudgeReplyError`` (the
judge answered without a score). Bedrock and S3 errors are not caught: ``ThrottlingException``
reaches Step Functions as a failed task to retry, after the clients' own retries.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from model_evaluation.evaluation import evaluate
from model_evaluation.request import parse_request

logger = Logger()
tracer = Tracer()
# Standard retry mode backs off on throttling a few times before the workflow's Retry takes
# over; long read timeout because a judge or a large model can take minutes to answer.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, read_timeout=300)
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The container's client for ``service``, created on first use."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=CLIENT_CONFIG)
    return _clients[service]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event)
    logger.append_keys(run_id=request.run_id)
    summary = evaluate(request, s3=client("s3"), bedrock=client("bedrock-runtime"))
    logger.info("evaluation written", extra={"results": summary["results"], "improvement": summary["improvement"]})
    return summary
