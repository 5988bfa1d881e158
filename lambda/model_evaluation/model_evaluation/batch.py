"""One batch of an evaluation: the records a Distributed Map's ItemBatcher hands one Lambda call.

Event (``ItemBatcher`` with ``BatchInput``)::

    {"Items": [{"id": ..., "prompt": ..., "reference": ..., "tool_schema"?: ...}, ...],
     "BatchInput": {"run_id": ..., "candidates": {"base": {"model_id": ...}, "customized": {"model_id": ...}},
                    "judge": {"model_id": ..., "rubric": ...}, "results_uri": "s3://.../evaluation/",
                    "cache_uri": "s3://.../evaluation-cache/base-answers/"}}

Returns ``{"records": [compact result per item], "details": "<s3 uri of this batch's answers>"}``:
numbers and reasons only, so the Map's result stays small; the answers and the judge's reasons go
to a JSONL file per batch, which the summary reads for the report's worst records. A record that
is malformed, fails or does not fit in the time left is counted as failed with its reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model_evaluation.dataset import EvaluationRecord, S3Uri, row_problems, short_repr
from model_evaluation.record_scoring import (
    NOT_SCORED_IN_TIME,
    ModelUnreachableError,
    RecordResult,
    Scorer,
    score,
)
from model_evaluation.request import (
    CANDIDATES,
    MAX_MODEL_ID,
    InvalidEvaluationRequestError,
    object_field,
    text_field,
    uri_field,
)

# A model call is not started with less time than this left: the record client's worst case (5 attempts of a
# 60-second read, with standard mode's back-off of at most 20 s between; handler.RECORD_CLIENT_CONFIG) fits in it.
TIME_PER_CALL_MS = 390_000
# Call errors no retry can cure, which fail the batch when its first records all meet the same one.
CONFIG_ERRORS = frozenset({"ValidationException", "AccessDeniedException", "AccessDenied", "ResourceNotFoundException"})
# The batch's first records all failing alike (a model id Converse refuses, say) fail the batch at once: every
# other record would fail the same way, and the map's tolerated failures turn that into the run's error.
ALIKE_FAILURES = 3
RECORD_FIELDS = {"id": False, "prompt": False, "reference": False}


@dataclass(frozen=True)
class BatchInput:
    run_id: str
    models: dict[str, str]
    judge_model: str
    rubric: str
    results: S3Uri
    cache: S3Uri


def parse_batch_input(value: Any) -> BatchInput:
    """The batch's shared input, or ``InvalidEvaluationRequestError`` naming every bad field."""
    problems: list[str] = []
    fields = object_field(value, "BatchInput", problems, "with run_id, candidates, judge, results_uri and cache_uri")
    if fields is None:
        raise InvalidEvaluationRequestError(problems[0])
    run_id = text_field(fields.get("run_id"), "BatchInput.run_id", problems, 256)
    models: dict[str, str] = {}
    candidates = object_field(fields.get("candidates"), "BatchInput.candidates", problems, "with base and customized")
    for name in CANDIDATES:
        spec = (candidates or {}).get(name)
        model = spec.get("model_id") if isinstance(spec, dict) else None
        models[name] = text_field(model, f"BatchInput.candidates.{name}.model_id", problems, MAX_MODEL_ID)
    judge = object_field(fields.get("judge"), "BatchInput.judge", problems, '{"model_id": ..., "rubric": ...}') or {}
    judge_model = text_field(judge.get("model_id"), "BatchInput.judge.model_id", problems, MAX_MODEL_ID)
    rubric = text_field(judge.get("rubric"), "BatchInput.judge.rubric", problems)
    results = uri_field(fields.get("results_uri"), "BatchInput.results_uri", problems, prefix=True)
    cache = uri_field(fields.get("cache_uri"), "BatchInput.cache_uri", problems, prefix=True)
    if problems:
        raise InvalidEvaluationRequestError("; ".join(problems))
    return BatchInput(run_id, models, judge_model, rubric, results, cache)


def record_of(item: Any) -> EvaluationRecord | str:
    """The item as a record, or why it is not one (the record then counts as failed)."""
    if not isinstance(item, dict):
        return f"{short_repr(item)} is not allowed; expected a JSON object"
    problems = row_problems(item, RECORD_FIELDS)
    if problems:
        return "; ".join(problems)
    return EvaluationRecord(
        item["id"], item["prompt"], item["reference"], item.get("tool_schema"), sqlite_db=item.get("sqlite_db")
    )


def _fail_fast(results: list[RecordResult]) -> None:
    """Raise when the batch's first records failed with the same call error (candidate and error code; for a
    ValidationException, its message too: an input too long is the record's, a model id refused is everyone's)."""
    if len(results) != ALIKE_FAILURES:
        return
    failures = {result.failure if result.failure != NOT_SCORED_IN_TIME else None for result in results}
    if None in failures:
        return
    causes = {": ".join(str(failure).split(": ")[:2]) for failure in failures}
    codes = {cause.partition(": ")[2] for cause in causes}
    alike = len(failures) == 1 if codes == {"ValidationException"} else len(causes) == 1
    if alike and codes <= CONFIG_ERRORS:
        raise ModelUnreachableError(f"the batch's first {ALIKE_FAILURES} records failed alike: {results[0].failure}")


def details_uri(results: S3Uri, items: list[Any]) -> S3Uri:
    """Where this batch's answers go: named by its items, so a retried batch writes the same object."""
    digest = hashlib.sha256(json.dumps(items, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return results.join(f"records/{digest[:32]}.jsonl")


def score_batch(
    items: list[Any], batch: BatchInput, scorer: Scorer, s3: Any, remaining_ms: Callable[[], int]
) -> dict[str, Any]:
    """Every item scored (or failed with its reason); the answers written to the batch's details file."""
    scorer = dataclasses.replace(scorer, enough_time=lambda: remaining_ms() >= TIME_PER_CALL_MS)
    results: list[RecordResult] = []
    for index, item in enumerate(items):
        given = item.get("id") if isinstance(item, dict) else None
        identity = given if isinstance(given, str) else f"item {index}"
        record = record_of(item)
        if isinstance(record, str):
            results.append(RecordResult(identity, failure=f"invalid record: {record}"))
            continue
        results.append(score(record, CANDIDATES, scorer))
        _fail_fast(results)
    uri = details_uri(batch.results, items)
    body = "".join(json.dumps(result.detail(), sort_keys=True, ensure_ascii=False) + "\n" for result in results)
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body.encode("utf-8"), ContentType="application/x-ndjson")
    return {"records": [result.compact() for result in results], "details": str(uri)}
