"""The evaluation's own cost per record, and a model of a 10,000-record run at the configured concurrency.

Usage: ``make bench-evaluation`` (or ``.venv/bin/python bench/evaluation.py [--records 2000]``).

1. Measured: the evaluation code per record, with a Bedrock stand-in that answers at once and S3 in
   memory: scoring a batch (metrics, judge parsing, the batch's answers file) and the report's summary
   with its bootstrap intervals. Target: under 5 ms per record.
2. Modelled: a run of ``--model-records`` records where every model call takes ``--call-seconds``. A
   batch makes its calls one after another (base answer, customized answer, one grade of both), and
   ``max_concurrency`` batches run at once, so that many calls are in flight. Target: under 30 minutes at
   prod's settings. The tokens per minute each model then receives are printed beside it: Bedrock throttles
   the bedrock-runtime endpoint on per-model tokens per minute (input and output together) and no longer
   on requests per minute (Bedrock user guide, "Quotas for the bedrock-runtime endpoint"); compare them with
   the account's "On-demand InvokeModel tokens per minute for <model>" (or "Cross-Region ..." through a
   profile) in Service Quotas.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "lambda" / "model_evaluation"), str(REPO / "tests" / "unit" / "lambda")]
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

from model_evaluation.batch import parse_batch_input, score_batch  # noqa: E402
from model_evaluation.summary import GateSettings, seed_for, summarize  # noqa: E402
from test_model_evaluation_at_scale import BATCH_INPUT, FakeBedrock, FakeS3, items  # noqa: E402

from config.loader import load_environments  # noqa: E402

CALLS_PER_RECORD = 3  # base answer, customized answer, one judge call grading both
TARGET_MS_PER_RECORD = 5.0
TARGET_MINUTES = 30.0
THRESHOLDS = {"exact_match": 0.0, "token_f1": 0.0, "rouge_l": 0.0, "judge_score": 1.0, "min_judge_improvement": 0.0}


def measured_ms_per_record(records: int, batch_size: int) -> tuple[float, float]:
    """(scoring, summary) milliseconds per record, best of three."""
    batch, fake = parse_batch_input(BATCH_INPUT), FakeBedrock(right=0.8)
    rows = items(records)
    scoring, summary = [], []
    for _ in range(3):
        s3, results = FakeS3(), []
        start = time.perf_counter()
        for first in range(0, records, batch_size):
            output = score_batch(rows[first : first + batch_size], batch, fake.scorer(), s3, lambda: 900_000)
            results += output["records"]
        scoring.append((time.perf_counter() - start) * 1000 / records)
        start = time.perf_counter()
        summarize(results, THRESHOLDS, GateSettings(), seed_for("bench"))
        summary.append((time.perf_counter() - start) * 1000 / records)
    return min(scoring), min(summary)


def modelled_minutes(records: int, concurrency: int, call_seconds: float, calls_per_record: int) -> float:
    return records * calls_per_record * call_seconds / concurrency / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="records measured in process")
    parser.add_argument("--model-records", type=int, default=10_000, help="records of the modelled run")
    parser.add_argument("--call-seconds", type=float, default=1.0, help="seconds per model call in the model")
    parser.add_argument("--answer-tokens", type=int, default=800, help="input + output tokens of an answer call")
    parser.add_argument("--judge-tokens", type=int, default=2000, help="input + output tokens of a judge call")
    args = parser.parse_args()
    prod = next(env for env in load_environments() if env.name == "prod")
    assert prod.workflow is not None
    evaluation = prod.workflow.evaluation
    scoring, summary = measured_ms_per_record(args.records, evaluation.batch_size)
    total = scoring + summary
    print(f"| Measured ({args.records} records, in process) | ms per record | target |")
    print("| --- | --- | --- |")
    print(f"| scoring a batch | {scoring:.2f} | |")
    print(f"| summary and bootstrap intervals | {summary:.2f} | |")
    verdict = "met" if total < TARGET_MS_PER_RECORD else "missed"
    print(f"| evaluation code in all | {total:.2f} | < {TARGET_MS_PER_RECORD:g} ({verdict}) |")
    print()
    print(f"| Modelled: {args.model_records} records, {args.call_seconds:g} s a call, prod's settings | value |")
    print("| --- | --- |")
    concurrency = evaluation.max_concurrency
    for label, calls in (("first run", CALLS_PER_RECORD), ("base answers cached", CALLS_PER_RECORD - 1)):
        minutes = modelled_minutes(args.model_records, concurrency, args.call_seconds, calls)
        verdict = "met" if minutes < TARGET_MINUTES else "missed"
        print(f"| {label}: minutes (target < {TARGET_MINUTES:g}) | {minutes:.0f} ({verdict}) |")
    needed = next(
        c
        for c in range(1, 10_000)
        if modelled_minutes(args.model_records, c, args.call_seconds, CALLS_PER_RECORD) < TARGET_MINUTES
    )
    per_minute = concurrency * 60 / args.call_seconds
    print(f"| calls in flight (max_concurrency) | {concurrency} |")
    print(f"| max_concurrency that meets the target on a first run | {needed} |")
    share = per_minute / CALLS_PER_RECORD  # each model gets one call of each record's three
    print(f"| requests per minute: base model, customized model, judge | {share:.0f} each |")
    print(
        f"| tokens per minute: base and customized model, judge (at {args.answer_tokens} and {args.judge_tokens} a "
        f"call) | {share * args.answer_tokens:,.0f} each, {share * args.judge_tokens:,.0f} |"
    )
    faster = needed * 60 / args.call_seconds / CALLS_PER_RECORD
    print(
        f"| at the concurrency that meets the target: tokens per minute | {faster * args.answer_tokens:,.0f} each, "
        f"{faster * args.judge_tokens:,.0f} |"
    )


if __name__ == "__main__":
    main()
