"""One record of an evaluation: both candidates' answers, their metrics and the judge's scores.

A record whose model call or judge reply fails (after the client's own retries with back-off
and jitter, and, for throttling and a model still loading, a few longer waits while the batch has
time: a per-minute token quota refills by the minute, an imported model takes minutes to load)
is data, not a crash: it comes back ``failed`` with its reason, and the summary
counts it. Only errors that no other record could escape end the batch: the model or judge
cannot be reached at all (access denied, no such model), which retrying records cannot cure.

Base-model answers are cached by content (``BaseAnswerCache``): the same prompt to the same base
model with the same settings is answered once, whichever run or dataset version asks again.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from model_evaluation.dataset import EvaluationRecord, S3Uri
from model_evaluation.judge import (
    ANSWER_MAX_TOKENS,
    INVALID_TOOL_CALL,
    JudgeReplyError,
    Verdict,
    generate,
    judge,
    tool_spec,
)
from model_evaluation.metrics import score_record
from model_evaluation.sql_match import ReferenceQueryError, SqlLimits, sql_execution_match

DEFAULT_SQL_LIMITS = SqlLimits()
T = TypeVar("T")
# Errors of a model call that fail every record alike: the batch fails, and with it the run, at once.
RUN_LEVEL_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "ResourceNotFoundException", "UnrecognizedClientException"}
)
# Errors that time cures: Bedrock's per-minute token quotas (ThrottlingException), an imported model loading after
# being idle (ModelNotReadyException: Bedrock user guide, "Invoke your imported model"), a busy service. The client
# retries each for seconds; the record then waits up to WAIT_CAP_S (full jitter) and tries again, PATIENT_TRIES
# times while the batch has time, so one crowded minute does not fail records.
PATIENT_CODES = frozenset({"ThrottlingException", "ModelNotReadyException", "ServiceUnavailableException"})
PATIENT_TRIES = 5
WAIT_CAP_S = 60.0


class OutOfTimeError(Exception):
    """The batch has too little time left for another model call (``Scorer.enough_time``)."""


class ModelUnreachableError(Exception):
    """A candidate or the judge cannot be called at all (access denied, no such model): no record can be scored."""


@dataclass(frozen=True)
class RecordResult:
    """``scores``: candidate -> metric -> value (empty when failed); ``answers`` and ``reasons`` for the report."""

    id: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    failure: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return self.failure is None

    def compact(self) -> dict[str, Any]:
        """What the summary needs (numbers and the reason), small enough for a Map state's result."""
        if self.failure is not None:
            return {"id": self.id, "failure": self.failure}
        return {"id": self.id, "scores": self.scores}

    def detail(self) -> dict[str, Any]:
        """Everything, for the report's record file."""
        return {**self.compact(), "answers": self.answers, "judge_reasons": self.reasons}


class BaseAnswerCache:
    """Base-model answers in S3, one object per (model, settings, prompt): ``<prefix><sha256>.json``."""

    def __init__(self, s3: Any, prefix: S3Uri, model_id: str) -> None:
        self._s3, self._prefix, self._model_id = s3, prefix, model_id

    def uri(self, prompt: str, tool: dict[str, Any] | None = None) -> S3Uri:
        identity = json.dumps([self._model_id, ANSWER_MAX_TOKENS, 0, prompt, tool], ensure_ascii=False, sort_keys=True)
        return self._prefix.join(hashlib.sha256(identity.encode("utf-8")).hexdigest() + ".json")

    def get(self, prompt: str, tool: dict[str, Any] | None = None) -> str | None:
        uri = self.uri(prompt, tool)
        try:
            body = self._s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        answer = json.loads(body).get("answer")
        return answer if isinstance(answer, str) else None

    def put(self, prompt: str, answer: str, tool: dict[str, Any] | None = None) -> None:
        uri = self.uri(prompt, tool)
        body = json.dumps({"model_id": self._model_id, "answer": answer}, ensure_ascii=False)
        self._s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body.encode("utf-8"), ContentType="application/json")


@dataclass(frozen=True)
class Scorer:
    """How one record is answered and judged; the callables are Bedrock calls in the Lambda, fakes in tests."""

    answer: Callable[[str, EvaluationRecord], str]
    """The answer of candidate ``name`` to the record's prompt."""
    grade: Callable[[EvaluationRecord, dict[str, str]], dict[str, Verdict]]
    """The judge's verdicts on the candidates' answers (one call)."""
    database: Callable[[str], Path] | None = None
    """A record's SQLite database (its ``s3://`` URI) as a local file, for SQL execution match."""
    sql_limits: SqlLimits = DEFAULT_SQL_LIMITS
    """Time and row limits of each query."""
    enough_time: Callable[[], bool] = lambda: True
    """Whether the batch has time for another model call; checked before each."""
    sleep: Callable[[float], None] = time.sleep
    """Waits between patient tries (a no-op in tests)."""


def s3_databases(s3: Any, folder: Path) -> Callable[[str], Path]:
    """Each SQLite database the records name, downloaded once per container into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    downloaded: dict[str, Path] = {}

    def local(uri: str) -> Path:
        if uri not in downloaded:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            path = folder / (hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32] + ".sqlite")
            s3.download_file(bucket, key, str(path))
            downloaded[uri] = path
        return downloaded[uri]

    return local


def judged_first(run_id: str, record_id: str, candidates: tuple[str, ...]) -> str:
    """Which candidate the judge sees first for this record: a coin seeded by run and record, so position bias
    evens out over records and a rerun of the run shows the judge the same order."""
    return candidates[random.Random(f"{run_id}\0{record_id}").randrange(len(candidates))]


def bedrock_scorer(
    run_id: str,
    bedrock: Any,
    models: dict[str, str],
    judge_model: str,
    rubric: str,
    cache: BaseAnswerCache | None,
    database: Callable[[str], Path] | None = None,
) -> Scorer:
    """Answers through Converse (the base model's from ``cache`` when it has them), judged by ``judge_model``."""

    def answer(name: str, record: EvaluationRecord) -> str:
        tool = tool_spec(record.tool_schema)
        if name == "base" and cache is not None:
            cached = cache.get(record.prompt, tool)
            if cached is not None:
                return cached
            generated = generate(bedrock, models[name], record.prompt, tool=tool)
            if not generated.startswith(INVALID_TOOL_CALL):  # a model error once is not the model's answer for good
                cache.put(record.prompt, generated, tool)
            return generated
        return generate(bedrock, models[name], record.prompt, tool=tool)

    def grade(record: EvaluationRecord, answers: dict[str, str]) -> dict[str, Verdict]:
        first = judged_first(run_id, record.id, tuple(answers))
        return judge(bedrock, judge_model, rubric, record.prompt, record.reference, answers, first)

    return Scorer(answer=answer, grade=grade, database=database)


NOT_SCORED_IN_TIME = "not scored: the batch ran out of time"


def _check_time(scorer: Scorer) -> None:
    if not scorer.enough_time():
        raise OutOfTimeError


def _patiently(call: Callable[[], T], scorer: Scorer, rng: random.Random) -> T:
    """``call``, tried again after a jittered wait on an error time cures (``PATIENT_CODES``) while the batch has
    time; the last such error is raised (the record fails with it)."""
    for attempt in range(PATIENT_TRIES):
        try:
            return call()
        except ClientError as error:
            if error.response["Error"]["Code"] not in PATIENT_CODES or attempt == PATIENT_TRIES - 1:
                raise
            if not scorer.enough_time():
                raise
            scorer.sleep(rng.uniform(0, min(WAIT_CAP_S, 4.0 * 2**attempt)))
            if not scorer.enough_time():  # the next call must still fit (TIME_PER_CALL_MS), after the wait
                raise
    raise AssertionError("unreachable")


def score(record: EvaluationRecord, candidates: tuple[str, ...], scorer: Scorer) -> RecordResult:
    """Every candidate's answer, metrics and judge score for ``record``; a failure is the record's, with its reason."""
    scores: dict[str, dict[str, float]] = {}
    answers: dict[str, str] = {}
    reasons: dict[str, str] = {}
    name = "database"
    rng = random.Random(record.id)  # the waits' jitter; any seed spreads the records
    try:
        database = scorer.database(record.sqlite_db) if record.sqlite_db and scorer.database else None
        for name in candidates:
            _check_time(scorer)
            answers[name] = _patiently(partial(scorer.answer, name, record), scorer, rng)
        name = "judge"
        _check_time(scorer)
        verdicts = _patiently(partial(scorer.grade, record, answers), scorer, rng)
        for candidate, output in answers.items():
            reasons[candidate] = verdicts[candidate].reason
            scores[candidate] = {
                **score_record(output, record.reference, record.tool_schema),
                "judge_score": float(verdicts[candidate].score),
            }
            if database is not None:
                scores[candidate]["sql_execution_match"], _ = sql_execution_match(
                    output, record.reference, database, scorer.sql_limits
                )
    except ReferenceQueryError as error:
        return RecordResult(record.id, failure=f"{error}")
    except OutOfTimeError:
        return RecordResult(record.id, failure=NOT_SCORED_IN_TIME)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in RUN_LEVEL_CODES:
            raise ModelUnreachableError(f"{code}: {error.response['Error'].get('Message', '')}") from error
        return RecordResult(record.id, failure=f"{name}: {code}: {error.response['Error'].get('Message', '')}")
    except JudgeReplyError as error:
        return RecordResult(record.id, failure=f"{name}: {error}")
    except BotoCoreError as error:  # timeouts and connection errors after the client's retries
        return RecordResult(record.id, failure=f"{name}: {type(error).__name__}: {error}")
    except OSError as error:  # the record's database could not be written to /tmp (full) or read
        return RecordResult(record.id, failure=f"{name}: {type(error).__name__}: {error}")
    return RecordResult(record.id, scores=scores, answers=answers, reasons=reasons)
