"""The evaluation request (the Lambda's event), parsed into typed objects before any AWS call.

```
{"run_id": "...",
 "evaluation_dataset": "s3://bucket/key.jsonl",
 "candidates": {"base": {"model_id": "..."} | {"predictions_uri": "s3://..."},
                "customized": {"model_id": "..."} | {"predictions_uri": "s3://..."}},
 "judge": {"model_id": "...", "rubric": "..."},
 "results_uri": "s3://bucket/prefix/"}
```

Every problem is reported at once in one ``InvalidEvaluationRequestError``, each naming the
field, the bad value and what is allowed. Other top-level keys are ignored, so a workflow
can pass its whole state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_evaluation.dataset import InvalidS3UriError, S3Uri, parse_s3_uri, short_repr

CANDIDATES = ("base", "customized")
CANDIDATE_SOURCES = ("model_id", "predictions_uri")
MAX_MODEL_ID = 2048  # Converse's limit on modelId


class InvalidEvaluationRequestError(Exception):
    """The event breaks the contract above; the message names every bad field."""


@dataclass(frozen=True)
class Candidate:
    """A model under evaluation: answers come from Converse on ``model_id`` or from a predictions file."""

    name: str
    model_id: str | None = None
    predictions: S3Uri | None = None

    def source(self) -> dict[str, str]:
        return {"model_id": self.model_id} if self.model_id else {"predictions_uri": str(self.predictions)}


@dataclass(frozen=True)
class JudgeSpec:
    model_id: str
    rubric: str


@dataclass(frozen=True)
class EvaluationRequest:
    run_id: str
    dataset: S3Uri
    candidates: tuple[Candidate, ...]
    judge: JudgeSpec
    results: S3Uri


def _text(value: Any, field: str, problems: list[str], limit: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip() or (limit is not None and len(value) > limit):
        size = f" of at most {limit} characters" if limit else ""
        problems.append(f"{field}: {short_repr(value)} is not allowed; expected a non-empty string{size}")
        return ""
    return value


def _uri(value: Any, field: str, problems: list[str], *, prefix: bool = False) -> S3Uri:
    try:
        return parse_s3_uri(value, field, prefix=prefix)
    except InvalidS3UriError as error:
        problems.append(str(error))
        return S3Uri("", "")


def _object(value: Any, field: str, problems: list[str], shape: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.append(f"{field}: {short_repr(value)} is not allowed; expected an object {shape}")
        return None
    return value


def _candidate(name: str, value: Any, problems: list[str]) -> Candidate:
    field = f"candidates.{name}"
    spec = _object(value, field, problems, '{"model_id": ...} or {"predictions_uri": "s3://..."}')
    if spec is None:
        return Candidate(name)
    given = [key for key in CANDIDATE_SOURCES if key in spec]
    unknown = sorted(set(spec) - set(CANDIDATE_SOURCES))
    if unknown or len(given) != 1:
        problems.append(
            f"{field}: keys {sorted(spec)} are not allowed; expected exactly one of model_id (answers generated "
            "through Bedrock Converse) or predictions_uri (a predictions JSONL file)"
        )
        return Candidate(name)
    if given == ["model_id"]:
        return Candidate(name, model_id=_text(spec["model_id"], f"{field}.model_id", problems, MAX_MODEL_ID))
    return Candidate(name, predictions=_uri(spec["predictions_uri"], f"{field}.predictions_uri", problems))


def parse_request(event: Any) -> EvaluationRequest:
    """The typed request, or ``InvalidEvaluationRequestError`` listing every problem."""
    problems: list[str] = []
    fields = _object(event, "event", problems, "with run_id, evaluation_dataset, candidates, judge and results_uri")
    if fields is None:
        raise InvalidEvaluationRequestError(problems[0])
    run_id = _text(fields.get("run_id"), "run_id", problems, 256)
    dataset = _uri(fields.get("evaluation_dataset"), "evaluation_dataset", problems)
    candidates: list[Candidate] = []
    given = _object(fields.get("candidates"), "candidates", problems, "with base and customized")
    if given is not None:
        candidates = [_candidate(name, given.get(name), problems) for name in CANDIDATES]
        problems.extend(
            f"candidates.{name}: not allowed; expected only {' and '.join(CANDIDATES)}"
            for name in sorted(set(given) - set(CANDIDATES))
        )
    judge_model = rubric = ""
    judge = _object(fields.get("judge"), "judge", problems, '{"model_id": ..., "rubric": ...}')
    if judge is not None:
        judge_model = _text(judge.get("model_id"), "judge.model_id", problems, MAX_MODEL_ID)
        rubric = _text(judge.get("rubric"), "judge.rubric", problems)
    results = _uri(fields.get("results_uri"), "results_uri", problems, prefix=True)
    if problems:
        raise InvalidEvaluationRequestError("; ".join(problems))
    return EvaluationRequest(run_id, dataset, tuple(candidates), JudgeSpec(judge_model, rubric), results)
