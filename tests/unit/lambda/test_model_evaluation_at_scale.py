"""Evaluation at scale, in process: per-record scoring with failures as data, the base-answer cache, the
bootstrap gate, over datasets of a thousand records with a fake Bedrock (some records failing, some
throttled past their retries)."""

from __future__ import annotations

import io
import json
import random

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from model_evaluation.dataset import EvaluationRecord, S3Uri
from model_evaluation.judge import JudgeReplyError, Verdict
from model_evaluation.record_scoring import BaseAnswerCache, ModelUnreachableError, Scorer, score
from model_evaluation.summary import GateSettings, bootstrap_interval, seed_for, summarize

CANDIDATES = ("base", "customized")
THRESHOLDS = {"exact_match": 0.0, "token_f1": 0.0, "rouge_l": 0.0, "judge_score": 1.0, "min_judge_improvement": 0.0}


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "Converse")


def dataset(count: int) -> list[EvaluationRecord]:
    return [EvaluationRecord(f"r{i}", f"question {i}", f"answer {i}") for i in range(count)]


class FakeBedrock:
    """Answers: the customized model right on ``right`` of records, the base on half; throttled or broken
    replies on the records named, as the client would raise them once its retries are spent."""

    def __init__(self, *, right: float, throttled: set[str] = frozenset(), unparsable: set[str] = frozenset()):
        self.right, self.throttled, self.unparsable = right, throttled, unparsable
        self.calls = 0

    def scorer(self) -> Scorer:
        def answer(name: str, record: EvaluationRecord) -> str:
            self.calls += 1
            if record.id in self.throttled and name == "customized":
                raise client_error("ThrottlingException")
            index = int(record.id[1:])
            share = self.right if name == "customized" else 0.5
            return record.reference if (index * 7919 % 100) / 100 < share else "something else"

        def grade(record: EvaluationRecord, output: str) -> Verdict:
            self.calls += 1
            if record.id in self.unparsable:
                raise JudgeReplyError("judge reply: 'I think it is fine' is not allowed; expected a JSON object")
            return Verdict(5 if output == record.reference else 2, "compared with the reference")

        return Scorer(answer=answer, grade=grade)


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
        (FakeBedrock(right=1.0, unparsable={"r3"}), "base: judge reply: 'I think it is fine' is not allowed"),
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

    result = score(dataset(1)[0], CANDIDATES, Scorer(answer=answer, grade=lambda r, o: Verdict(5, "")))

    assert result.failure is not None and result.failure.startswith("base: ReadTimeoutError")


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_a_model_nobody_can_call_ends_the_batch_at_once(code):
    def answer(name: str, record: EvaluationRecord) -> str:
        raise client_error(code)

    with pytest.raises(ModelUnreachableError, match=code):
        score(dataset(1)[0], CANDIDATES, Scorer(answer=answer, grade=lambda r, o: Verdict(5, "")))


# --- the base-answer cache ---------------------------------------------------------------------------------------

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
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

    assert lite._uri("q") == BaseAnswerCache(s3, CACHE, "amazon.nova-lite-v1:0")._uri("q")
    assert lite._uri("q") != pro._uri("q")
    assert lite._uri("q") != lite._uri("q2")
    assert lite._uri("q").key.startswith(CACHE.key)


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
