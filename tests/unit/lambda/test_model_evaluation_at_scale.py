"""Evaluation at scale, in process: per-record scoring with failures as data, the base-answer cache, the
bootstrap gate, over datasets of a thousand records with a fake Bedrock (some records failing, some
throttled past their retries)."""

from __future__ import annotations

import io
import json
import random
import re

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from evaluation_fakes import BATCH_INPUT, KEYS, FakeBedrock, FakeS3, client_error, dataset, items
from model_evaluation.dataset import EvaluationRecord, S3Uri
from model_evaluation.judge import Verdict
from model_evaluation.record_scoring import (
    PATIENT_TRIES,
    WAIT_CAP_S,
    BaseAnswerCache,
    ModelUnreachableError,
    Scorer,
    score,
)
from model_evaluation.summary import GateSettings, bootstrap_interval, seed_for, summarize

CANDIDATES = ("base", "customized")
THRESHOLDS = {"exact_match": 0.0, "token_f1": 0.0, "rouge_l": 0.0, "judge_score": 1.0, "min_judge_improvement": 0.0}


def graded_alike(record: EvaluationRecord, answers: dict[str, str]) -> dict[str, Verdict]:
    return {name: Verdict(4, "ok") for name in answers}


def run(records: list[EvaluationRecord], fake: FakeBedrock, settings: GateSettings, thresholds=THRESHOLDS) -> dict:
    results = [score(record, CANDIDATES, fake.scorer()).compact() for record in records]
    return summarize(results, thresholds, settings, seed_for("run-1"))


# --- per record -----------------------------------------------------------------------------------------------


def test_a_record_is_scored_for_both_candidates_with_the_judge():
    fake = FakeBedrock(right=1.0)
    result = score(EvaluationRecord("r0", "question 0", "answer 0"), CANDIDATES, fake.scorer())

    assert result.scored
    assert result.scores["customized"] == {"exact_match": 1.0, "token_f1": 1.0, "rouge_l": 1.0, "judge_score": 5.0}
    assert set(result.scores) == {"base", "customized"}


@pytest.mark.parametrize(
    ("fake", "reason"),
    [
        (FakeBedrock(right=1.0, throttled={"r3"}), "customized: ThrottlingException: no"),
        (FakeBedrock(right=1.0, unparsable={"r3"}), "judge: judge reply: 'I think it is fine' is not allowed"),
    ],
)
def test_a_failing_record_is_data_with_its_reason_not_a_crash(fake, reason):
    result = score(EvaluationRecord("r3", "question 3", "answer 3"), CANDIDATES, fake.scorer())

    assert not result.scored
    assert result.compact() == {"id": "r3", "failure": result.failure}
    assert result.failure is not None and result.failure.startswith(reason)


def test_a_timeout_after_the_clients_retries_is_the_records_failure():
    def answer(name: str, record: EvaluationRecord) -> str:
        raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    result = score(dataset(1)[0], CANDIDATES, Scorer(answer=answer, grade=graded_alike))

    assert result.failure is not None and result.failure.startswith("base: ReadTimeoutError")


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_a_model_nobody_can_call_ends_the_batch_at_once(code):
    def answer(name: str, record: EvaluationRecord) -> str:
        raise client_error(code)

    with pytest.raises(ModelUnreachableError, match=code):
        score(dataset(1)[0], CANDIDATES, Scorer(answer=answer, grade=graded_alike))


# --- the base-answer cache ---------------------------------------------------------------------------------------

CACHE = S3Uri("acme-artifacts", "evaluation-cache/base-answers/")


def test_a_base_answer_is_generated_once_then_read_from_the_cache():
    s3 = boto3.client("s3", **KEYS)
    cache = BaseAnswerCache(s3, CACHE, "amazon.nova-lite-v1:0")
    with Stubber(s3) as stub:
        key = ANY
        stub.add_client_error(
            "get_object", "NoSuchKey", "no", 404, expected_params={"Bucket": CACHE.bucket, "Key": key}
        )
        stub.add_response(
            "put_object",
            {},
            {"Bucket": CACHE.bucket, "Key": key, "Body": ANY, "ContentType": "application/json"},
        )
        body = json.dumps({"model_id": "amazon.nova-lite-v1:0", "answer": "Paris"}).encode()
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body))},
            {"Bucket": CACHE.bucket, "Key": key},
        )
        assert cache.get("What is the capital of France?") is None
        cache.put("What is the capital of France?", "Paris")
        assert cache.get("What is the capital of France?") == "Paris"
        stub.assert_no_pending_responses()


def test_the_cache_key_changes_with_the_model_and_the_prompt_only():
    s3 = boto3.client("s3", **KEYS)
    lite, pro = BaseAnswerCache(s3, CACHE, "amazon.nova-lite-v1:0"), BaseAnswerCache(s3, CACHE, "amazon.nova-pro-v1:0")

    assert lite.uri("q") == BaseAnswerCache(s3, CACHE, "amazon.nova-lite-v1:0").uri("q")
    assert lite.uri("q") != pro.uri("q")
    assert lite.uri("q") != lite.uri("q2")
    assert lite.uri("q").key.startswith(CACHE.key)


def test_an_unreadable_cache_is_an_error_not_a_miss():
    s3 = boto3.client("s3", **KEYS)
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", "AccessDenied", "no", 403)
        with pytest.raises(ClientError, match="AccessDenied"):
            BaseAnswerCache(s3, CACHE, "m").get("q")


# --- the gate ---------------------------------------------------------------------------------------------------


def test_a_thousand_records_some_failing_some_throttled_are_counted_and_gated():
    records = dataset(1000)
    throttled = {f"r{i}" for i in range(0, 1000, 50)}  # 20
    unparsable = {f"r{i}" for i in range(25, 1000, 100)}  # 10
    summary = run(records, FakeBedrock(right=0.9, throttled=throttled, unparsable=unparsable), GateSettings())

    assert (summary["records"], summary["scored"], summary["failed"]) == (1000, 970, 30)
    assert summary["scored_fraction"] == 0.97
    low, high = summary["intervals"]["improvement"]["judge_score"]
    assert low <= summary["improvement"]["judge_score"] <= high
    assert summary["improvement"]["judge_score"] > 1.0  # 90 % right against 50 %
    assert summary["gate"] == {"passed": True, "reasons": []}


def test_too_many_failed_records_fail_the_gate():
    records = dataset(1000)
    throttled = {f"r{i}" for i in range(0, 1000, 10)}  # 100: 90 % scored
    summary = run(records, FakeBedrock(right=0.9, throttled=throttled), GateSettings())

    assert not summary["gate"]["passed"]
    assert summary["gate"]["reasons"] == ["scored fraction: 0.9 (100 of 1000 records failed) is below 0.95"]


def test_too_few_records_fail_the_gate_whatever_the_scores():
    summary = run(dataset(20), FakeBedrock(right=1.0), GateSettings(min_records=100))

    assert summary["gate"]["reasons"] == ["scored records: 20 is below the minimum 100"]


def test_a_mean_that_clears_the_threshold_with_an_interval_that_does_not_fails():
    # 120 records, the customized model slightly better on average: the mean gain clears 0.1, the interval's
    # lower bound does not.
    records = dataset(120)
    summary = run(records, FakeBedrock(right=0.56), GateSettings(), {**THRESHOLDS, "min_judge_improvement": 0.1})

    assert summary["improvement"]["judge_score"] >= 0.1
    assert summary["intervals"]["improvement"]["judge_score"][0] < 0.1
    assert not summary["gate"]["passed"]
    assert summary["gate"]["reasons"][0].startswith("judge_score improvement: lower bound")


def test_a_threshold_on_a_metric_few_records_carry_fails_the_gate_whatever_their_scores():
    """Three text-to-SQL records of a thousand, all right, would pass a 0.95 SQL threshold on a bootstrap of no width;
    a tool-call threshold with no tool record at all would pass unseen."""
    rows = [
        {"id": f"r{i}", "scores": {name: {"exact_match": 1.0, "judge_score": 4.0} for name in CANDIDATES}}
        for i in range(1000)
    ]
    for row in rows[:3]:
        for name in CANDIDATES:
            row["scores"][name]["sql_execution_match"] = 1.0
    thresholds = {**THRESHOLDS, "sql_execution_match": 0.95, "tool_call_valid": 0.9}

    summary = summarize(rows, thresholds, GateSettings(min_records=100), seed_for("run-1"))

    assert summary["counts"]["sql_execution_match"] == 3 and summary["counts"]["exact_match"] == 1000
    assert not summary["gate"]["passed"]
    assert summary["gate"]["reasons"] == [
        "sql_execution_match: 3 scored records carry it, below the minimum 100 its threshold 0.95 needs",
        "tool_call_valid: 0 scored records carry it, below the minimum 100 its threshold 0.9 needs",
    ]
    assert summarize(rows, THRESHOLDS, GateSettings(min_records=100), seed_for("run-1"))["gate"]["passed"]


def test_a_metric_threshold_is_read_against_its_lower_bound():
    summary = run(dataset(200), FakeBedrock(right=0.62), GateSettings(), {**THRESHOLDS, "exact_match": 0.6})

    assert summary["customized"]["exact_match"] >= 0.6
    assert any(reason.startswith("exact_match: lower bound") for reason in summary["gate"]["reasons"])


def test_the_intervals_are_reproducible_per_run_and_differ_between_runs():
    results = [score(record, CANDIDATES, FakeBedrock(right=0.7).scorer()).compact() for record in dataset(300)]

    first = summarize(results, THRESHOLDS, GateSettings(), seed_for("run-1"))
    again = summarize(results, THRESHOLDS, GateSettings(), seed_for("run-1"))
    other = summarize(results, THRESHOLDS, GateSettings(), seed_for("run-2"))

    assert first == again
    assert first["intervals"] != other["intervals"]


def test_the_bootstrap_interval_covers_the_mean_and_narrows_with_more_records():
    rng = random.Random(7)
    small = [rng.random() for _ in range(50)]
    large = small * 40
    settings = GateSettings(resamples=400)

    low_small, high_small = bootstrap_interval(small, random.Random(1), settings)
    low_large, high_large = bootstrap_interval(large, random.Random(1), settings)

    mean = sum(small) / len(small)
    assert low_small <= mean <= high_small and low_large <= mean <= high_large
    assert high_large - low_large < (high_small - low_small) / 3


# --- batches, the map's results and the report, in process ------------------------------------------------------


PLENTY_OF_TIME = 900_000


def map_run(s3: FakeS3, items: list, fake: FakeBedrock, batch_size: int, failed_batches: set[int] = frozenset()):
    """What the Distributed Map would do: batches through ``score_batch``, results and manifest by ResultWriter."""
    from model_evaluation.batch import parse_batch_input, score_batch

    batch = parse_batch_input(BATCH_INPUT)
    succeeded, failed = [], []
    for number, start in enumerate(range(0, len(items), batch_size)):
        chunk = items[start : start + batch_size]
        event = {"Items": chunk, "BatchInput": BATCH_INPUT}
        if number in failed_batches:
            failed.append({"Error": "Lambda.Unknown", "Cause": "timed out", "Input": json.dumps(event)})
            continue
        output = score_batch(chunk, batch, fake.scorer(), s3, lambda: PLENTY_OF_TIME)
        succeeded.append(output)  # COMPACT: a succeeded batch's line is its output
    prefix = "runs/run-1/output/evaluation/map/abc"
    lines = {"SUCCEEDED_0.json": succeeded, "FAILED_0.json": failed}  # JSONL, as WriterConfig asks
    for name, entries in lines.items():
        body = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
        s3.put_object(Bucket="acme-artifacts", Key=f"{prefix}/{name}", Body=body)
    manifest = {
        "DestinationBucket": "acme-artifacts",
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:workflow/Score:1",
        "ResultFiles": {
            "SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json", "Size": 1}],
            "FAILED": [{"Key": f"{prefix}/FAILED_0.json", "Size": 1}],
            "PENDING": [],
        },
    }
    s3.put_object(Bucket="acme-artifacts", Key=f"{prefix}/manifest.json", Body=json.dumps(manifest).encode())
    return {
        "MapRunArn": manifest["MapRunArn"],
        "ResultWriterDetails": {"Bucket": "acme-artifacts", "Key": f"{prefix}/manifest.json"},
    }


def report_event(map_output: dict, **gate) -> dict:
    return {
        "run_id": "run-1",
        "results_uri": BATCH_INPUT["results_uri"],
        "map": map_output,
        "thresholds": THRESHOLDS,
        "gate": {"min_records": 500, "min_scored_fraction": 0.95, **gate},
        "rubric_sha256": RUBRIC_SHA256,
        "dataset": {"uri": "s3://acme-datasets/sets/eval.jsonl", "version_id": "v1"},
    }


RUBRIC_SHA256 = "ab" * 32


def test_a_thousand_records_run_through_batches_the_map_results_and_the_report():
    from model_evaluation.report import report

    s3 = FakeS3()
    records = items(1000)
    records[7] = {"id": "r7", "prompt": "", "reference": "x"}  # malformed: counted as failed
    fake = FakeBedrock(right=0.9, throttled={f"r{i}" for i in range(3, 1000, 100)})
    output = map_run(s3, records, fake, batch_size=25, failed_batches={39})  # the last batch: 25 records

    summary = report(report_event(output), s3)

    assert (summary["records"], summary["failed"]) == (1000, 1 + 10 + 25)
    assert summary["gate"]["passed"], summary["gate"]
    written = s3.json("acme-artifacts", "runs/run-1/output/evaluation/evaluation.json")
    assert written["scored"] == 964 and len(written["worst_records"]) == 20
    assert all("answers" in row for row in written["worst_records"])
    assert written["worst_records"][0]["scores"]["customized"]["judge_score"] == 2.0
    assert (written["rubric_sha256"], written["dataset"]["version_id"]) == (RUBRIC_SHA256, "v1")
    assert (summary["rubric_sha256"], summary["dataset"]["version_id"]) == (RUBRIC_SHA256, "v1")  # for the lineage
    text = s3.objects[("acme-artifacts", "runs/run-1/output/evaluation/evaluation.md")].decode()
    assert text.startswith("# Evaluation of run-1: gate passed") and "| judge_score |" in text
    assert f"eval.jsonl (version v1), judged with the rubric of SHA-256 {RUBRIC_SHA256}" in text


@pytest.mark.parametrize(
    ("provenance", "named"),
    [
        ({"rubric_sha256": "abc"}, "rubric_sha256: 'abc' is not allowed; expected a SHA-256"),
        ({"dataset": None}, "dataset: None is not allowed; expected an object with uri and version_id"),
        ({"dataset": {"uri": "s3://acme-datasets/sets/eval.jsonl"}}, "dataset.version_id: None is not allowed"),
    ],
)
def test_a_report_that_could_not_say_what_was_judged_by_and_on_is_refused(provenance, named):
    from model_evaluation.report import report
    from model_evaluation.request import InvalidEvaluationRequestError

    with pytest.raises(InvalidEvaluationRequestError, match=re.escape(named)):
        report({**report_event({"ResultWriterDetails": {"Bucket": "b", "Key": "k"}}), **provenance}, FakeS3())


def test_failed_batches_beyond_the_tolerated_fraction_fail_the_gate_in_the_report():
    from model_evaluation.report import report

    s3 = FakeS3()
    output = map_run(s3, items(1000), FakeBedrock(right=0.9), batch_size=50, failed_batches={0, 1})  # 100 records

    summary = report(report_event(output), s3)

    assert summary["gate"]["reasons"] == ["scored fraction: 0.9 (100 of 1000 records failed) is below 0.95"]
    assert summary["results"] == "s3://acme-artifacts/runs/run-1/output/evaluation/evaluation.json"


def test_base_answers_come_from_the_cache_on_a_second_run():
    from model_evaluation.batch import parse_batch_input, score_batch
    from model_evaluation.record_scoring import bedrock_scorer

    class CountingBedrock:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def converse(self, **request):
            self.asked.append(request["modelId"])
            grades = '{"candidate_1": {"score": 4, "reason": "ok"}, "candidate_2": {"score": 3, "reason": "ok"}}'
            text = grades if "system" in request else "answer"
            return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}}

    s3, batch = FakeS3(), parse_batch_input(BATCH_INPUT)
    cache = BaseAnswerCache(s3, batch.cache, batch.models["base"])
    first, second = CountingBedrock(), CountingBedrock()
    for bedrock in (first, second):
        scorer = bedrock_scorer(batch.run_id, bedrock, batch.models, batch.judge_model, batch.rubric, cache)
        score_batch(items(10), batch, scorer, s3, lambda: PLENTY_OF_TIME)

    assert first.asked.count("amazon.nova-lite-v1:0") == 10
    assert second.asked.count("amazon.nova-lite-v1:0") == 0  # same prompts, same base model: cached
    assert second.asked.count("arn:custom") == 10


def test_calls_past_the_time_left_are_not_started_and_their_records_fail_not_lost():
    from model_evaluation.batch import TIME_PER_CALL_MS, parse_batch_input, score_batch

    # Three calls per record (two answers, one grade of both): time for the first record and part of the second.
    left = iter([PLENTY_OF_TIME] * 5 + [TIME_PER_CALL_MS - 1] * 20)
    result = score_batch(
        items(4), parse_batch_input(BATCH_INPUT), FakeBedrock(right=1).scorer(), FakeS3(), lambda: next(left)
    )

    assert [row.get("failure") for row in result["records"]] == [
        None,
        "not scored: the batch ran out of time",
        "not scored: the batch ran out of time",
        "not scored: the batch ran out of time",
    ]


def test_a_batch_whose_first_records_fail_alike_fails_at_once():
    from model_evaluation.batch import parse_batch_input, score_batch

    def answer(name: str, record: EvaluationRecord) -> str:
        raise client_error("ValidationException")  # e.g. a model id Converse refuses

    scorer = Scorer(answer=answer, grade=graded_alike)
    with pytest.raises(ModelUnreachableError, match="first 3 records failed alike: base: ValidationException"):
        score_batch(items(5), parse_batch_input(BATCH_INPUT), scorer, FakeS3(), lambda: PLENTY_OF_TIME)


def test_throttled_records_do_not_fail_the_batch_however_alike():
    from model_evaluation.batch import parse_batch_input, score_batch

    throttled = {f"r{i}" for i in range(5)}
    result = score_batch(
        items(5),
        parse_batch_input(BATCH_INPUT),
        FakeBedrock(right=1, throttled=throttled).scorer(),
        FakeS3(),
        lambda: PLENTY_OF_TIME,
    )

    assert all(row["failure"].startswith("customized: ThrottlingException") for row in result["records"])


def test_a_retried_batch_writes_the_same_details_object():
    from model_evaluation.batch import details_uri, parse_batch_input

    batch = parse_batch_input(BATCH_INPUT)

    assert details_uri(batch.results, items(3)) == details_uri(batch.results, items(3))
    assert details_uri(batch.results, items(3)) != details_uri(batch.results, items(4))


def test_a_bad_batch_input_names_every_field():
    from model_evaluation.batch import parse_batch_input
    from model_evaluation.request import InvalidEvaluationRequestError

    bad = {**BATCH_INPUT, "candidates": {"base": {"model_id": ""}}, "cache_uri": "s3://acme-artifacts/no-slash"}
    with pytest.raises(InvalidEvaluationRequestError) as raised:
        parse_batch_input(bad)

    message = str(raised.value)
    assert "BatchInput.candidates.base.model_id: '' is not allowed; expected a non-empty string" in message
    assert "BatchInput.candidates.customized.model_id: None is not allowed" in message
    assert "BatchInput.cache_uri" in message


def test_a_text_to_sql_record_is_scored_by_running_both_queries(tmp_path):
    import sqlite3

    from model_evaluation.batch import parse_batch_input, score_batch

    database = tmp_path / "shop.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        connection.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 10.0), (2, 99.5)])
    reference = "SELECT id FROM orders WHERE total > 50"
    answers = {"base": "SELECT id FROM orders", "customized": "```sql\nSELECT id FROM orders WHERE total >= 99\n```"}
    scorer = Scorer(
        answer=lambda name, record: answers[name],
        grade=graded_alike,
        database=lambda uri: database,
    )
    item = {
        "id": "s1",
        "prompt": "Orders over 50?",
        "reference": reference,
        "sqlite_db": "s3://acme-data/dbs/shop.sqlite",
    }
    broken = {**item, "id": "s2", "reference": "SELECT id FROM invoices"}

    result = score_batch([item, broken], parse_batch_input(BATCH_INPUT), scorer, FakeS3(), lambda: PLENTY_OF_TIME)

    scored, failed = result["records"]
    assert scored["scores"]["customized"]["sql_execution_match"] == 1.0
    assert scored["scores"]["base"]["sql_execution_match"] == 0.0
    assert failed == {"id": "s2", "failure": "reference query: the query failed: no such table: invoices"}


def test_the_judge_sees_the_candidates_in_a_seeded_order_that_varies_by_record():
    from model_evaluation.record_scoring import judged_first

    firsts = [judged_first("run-1", f"r{i}", CANDIDATES) for i in range(400)]

    assert firsts == [judged_first("run-1", f"r{i}", CANDIDATES) for i in range(400)]  # a rerun asks the same way
    assert 150 < firsts.count("base") < 250  # position bias evens out over the records
    assert firsts != [judged_first("run-2", f"r{i}", CANDIDATES) for i in range(400)]


def test_an_answer_with_a_line_separator_inside_survives_the_report():
    from model_evaluation.report import report

    s3 = FakeS3()

    class SeparatorBedrock(FakeBedrock):
        def scorer(self) -> Scorer:
            inner = super().scorer()
            return Scorer(answer=lambda name, record: inner.answer(name, record) + "\u2028more", grade=inner.grade)

    output = map_run(s3, items(600), SeparatorBedrock(right=0.9), batch_size=5)

    assert report(report_event(output), s3)["scored"] == 600


def test_transient_errors_do_not_fail_the_batch_however_alike():
    from model_evaluation.batch import parse_batch_input, score_batch

    def answer(name: str, record: EvaluationRecord) -> str:
        raise client_error("ModelNotReadyException")  # an imported model still loading: retried later, not config

    waits: list[float] = []
    scorer = Scorer(answer=answer, grade=graded_alike, sleep=waits.append)
    result = score_batch(items(5), parse_batch_input(BATCH_INPUT), scorer, FakeS3(), lambda: 900_000)

    assert len(result["records"]) == 5
    assert len(waits) == 5 * (PATIENT_TRIES - 1)  # each record waited for the model to load before failing


def test_a_throttled_call_waits_and_is_scored_when_the_quota_refills():
    """Bedrock's quotas are per minute: a record waits (jittered, capped) rather than failing on the first refusal."""
    refusals = {"base": 2}
    waits: list[float] = []

    def answer(name: str, record: EvaluationRecord) -> str:
        if refusals.get(name):
            refusals[name] -= 1
            raise client_error("ThrottlingException")
        return record.reference

    result = score(dataset(1)[0], CANDIDATES, Scorer(answer=answer, grade=graded_alike, sleep=waits.append))

    assert result.scored
    assert len(waits) == 2 and all(0 <= wait <= WAIT_CAP_S for wait in waits)


def test_a_call_throttled_past_every_try_fails_its_record_with_the_reason():
    waits: list[float] = []

    def answer(name: str, record: EvaluationRecord) -> str:
        raise client_error("ThrottlingException")

    result = score(dataset(1)[0], CANDIDATES, Scorer(answer=answer, grade=graded_alike, sleep=waits.append))

    assert result.failure is not None and result.failure.startswith("base: ThrottlingException")
    assert len(waits) == PATIENT_TRIES - 1


def test_a_batch_out_of_time_does_not_wait_for_a_throttled_call():
    waits: list[float] = []
    times = iter([True, False])  # time for the first call, none for a wait after it

    def answer(name: str, record: EvaluationRecord) -> str:
        raise client_error("ThrottlingException")

    scorer = Scorer(answer=answer, grade=graded_alike, sleep=waits.append, enough_time=lambda: next(times))
    result = score(dataset(1)[0], CANDIDATES, scorer)

    assert result.failure is not None and "ThrottlingException" in result.failure
    assert waits == []


def test_a_call_is_not_tried_again_after_a_wait_that_used_up_the_batchs_time():
    waits: list[float] = []
    times = iter([True, True, False])  # time for the call and the wait, none for the call after it
    calls: list[str] = []

    def answer(name: str, record: EvaluationRecord) -> str:
        calls.append(name)
        raise client_error("ThrottlingException")

    scorer = Scorer(answer=answer, grade=graded_alike, sleep=waits.append, enough_time=lambda: next(times))
    result = score(dataset(1)[0], CANDIDATES, scorer)

    assert (len(waits), calls) == (1, ["base"])
    assert result.failure is not None and "ThrottlingException" in result.failure


def test_a_validation_error_of_each_record_does_not_fail_the_batch_but_the_same_one_does():
    """ValidationException can be the record's (an input too long) or the run's (a model id refused): only the same
    message on the batch's first records is the run's."""
    from model_evaluation.batch import parse_batch_input, score_batch

    def too_long(name: str, record: EvaluationRecord) -> str:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": f"{record.id} is too long"}}, "Converse")

    result = score_batch(
        items(5), parse_batch_input(BATCH_INPUT), Scorer(answer=too_long, grade=graded_alike), FakeS3(), lambda: 900_000
    )
    assert len(result["records"]) == 5

    def refused(name: str, record: EvaluationRecord) -> str:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "invalid model id"}}, "Converse")

    with pytest.raises(ModelUnreachableError, match="invalid model id"):
        score_batch(
            items(5),
            parse_batch_input(BATCH_INPUT),
            Scorer(answer=refused, grade=graded_alike),
            FakeS3(),
            lambda: 900_000,
        )
