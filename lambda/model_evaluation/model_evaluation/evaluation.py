"""One evaluation run: answers from each candidate, rule-based metrics, judge scores, the report.

Order matters for cost: every S3 input is read and checked (dataset, prediction files, a
prediction for every dataset id) before the first Bedrock call, so a bad file fails in
seconds instead of after a paid generation pass.

The report (``<results_uri>evaluation.json``) holds the request, per-record answers, scores
and judge reasons, and the aggregates; it is written with sorted keys, so the same inputs
and model replies give the same bytes. Means are rounded to 6 decimals. ``improvement`` is
``customized - base`` for each metric both candidates have: higher is better for every
metric except ``steps_per_task``, where lower is better.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from model_evaluation.dataset import (
    EvaluationRecord,
    Prediction,
    match_predictions,
    parse_predictions,
    parse_records,
    read_text,
    write_json,
)
from model_evaluation.judge import generate, judge
from model_evaluation.metrics import aggregate, score_record, steps_per_task
from model_evaluation.request import Candidate, EvaluationRequest

REPORT_NAME = "evaluation.json"
DECIMALS = 6
logger = Logger(child=True)


def supplied_predictions(
    s3: Any, candidates: tuple[Candidate, ...], records: list[EvaluationRecord]
) -> dict[str, list[Prediction]]:
    """Predictions from files, in dataset order, for the candidates that supply a file."""
    supplied = {}
    for candidate in candidates:
        if candidate.predictions is not None:
            source = str(candidate.predictions)
            by_id = parse_predictions(read_text(s3, candidate.predictions), source)
            supplied[candidate.name] = match_predictions(records, by_id, source)
    return supplied


def generated_predictions(bedrock: Any, model_id: str, records: list[EvaluationRecord]) -> list[Prediction]:
    """The model's answer to each prompt through Converse (no trajectory: a single turn)."""
    return [Prediction(record.id, generate(bedrock, model_id, record.prompt)) for record in records]


def score_candidate(
    bedrock: Any, request: EvaluationRequest, records: list[EvaluationRecord], predictions: list[Prediction]
) -> list[dict[str, Any]]:
    """Per record: the answer, its metrics (the judge's score among them) and the judge's reason."""
    scored = []
    for record, prediction in zip(records, predictions, strict=True):
        scores = score_record(prediction.output, record.reference, record.tool_schema, prediction.trajectory)
        verdict = judge(
            bedrock, request.judge.model_id, request.judge.rubric, record.prompt, record.reference, prediction.output
        )
        scores["judge_score"] = float(verdict.score)
        scored.append({"output": prediction.output, "scores": scores, "judge_reason": verdict.reason})
    return scored


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, DECIMALS) for name, value in values.items()}


def improvement(base: dict[str, float], customized: dict[str, float]) -> dict[str, float]:
    """``customized - base`` for each metric both have."""
    return {name: round(customized[name] - base[name], DECIMALS) for name in sorted(base.keys() & customized.keys())}


def evaluate(request: EvaluationRequest, s3: Any, bedrock: Any) -> dict[str, Any]:
    """Run the evaluation, write the report and return the summary the workflow branches on."""
    records = parse_records(read_text(s3, request.dataset), str(request.dataset))
    supplied = supplied_predictions(s3, request.candidates, records)
    logger.info("inputs checked", extra={"records": len(records), "from_files": sorted(supplied)})
    details: dict[str, list[dict[str, Any]]] = {}
    aggregates: dict[str, dict[str, float]] = {}
    for candidate in request.candidates:
        predictions = supplied.get(candidate.name)
        if predictions is None:
            predictions = generated_predictions(bedrock, str(candidate.model_id), records)
        details[candidate.name] = score_candidate(bedrock, request, records, predictions)
        aggregates[candidate.name] = _rounded(aggregate(entry["scores"] for entry in details[candidate.name]))
        logger.info("candidate scored", extra={"candidate": candidate.name, "metrics": aggregates[candidate.name]})
    gain = improvement(aggregates["base"], aggregates["customized"])
    results = request.results.join(REPORT_NAME)
    write_json(s3, results, _report(request, records, details, aggregates, gain))
    return {
        "run_id": request.run_id,
        "base": aggregates["base"],
        "customized": aggregates["customized"],
        "improvement": gain,
        "results": str(results),
        "records": len(records),
    }


def _report(
    request: EvaluationRequest,
    records: list[EvaluationRecord],
    details: dict[str, list[dict[str, Any]]],
    aggregates: dict[str, dict[str, float]],
    gain: dict[str, float],
) -> dict[str, Any]:
    rows = []
    for index, record in enumerate(records):
        row: dict[str, Any] = {"id": record.id, "prompt": record.prompt, "reference": record.reference}
        if record.trajectory is not None:
            row["reference_steps"] = steps_per_task(record.trajectory)
        row.update({name: entries[index] for name, entries in details.items()})
        rows.append(row)
    return {
        "run_id": request.run_id,
        "evaluation_dataset": str(request.dataset),
        "candidates": {candidate.name: candidate.source() for candidate in request.candidates},
        "judge": {"model_id": request.judge.model_id, "rubric": request.judge.rubric},
        "aggregates": aggregates,
        "improvement": gain,
        "records": rows,
    }
