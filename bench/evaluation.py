"""The evaluation's own cost per record, and a model of a 10,000-record run at prod's settings within Bedrock's
default quotas.

Usage: ``make bench-evaluation`` (or ``.venv/bin/python bench/evaluation.py [--records 2000]``).

1. Measured: the evaluation code per record, with a Bedrock stand-in that answers at once and S3 in
   memory: scoring a batch (metrics, judge parsing, the batch's answers file) and the report's summary
   with its bootstrap intervals. Target: under 5 ms per record.
2. Modelled: a run of ``--model-records`` records where every model call takes ``--call-seconds``. Two
   things bound it, and the slower one decides:
   - calls in flight: a batch makes its calls one after another (base answer, customized answer, one grade
     of both), and ``max_concurrency`` batches run at once;
   - each model's tokens-per-minute quota: Bedrock throttles the bedrock-runtime endpoint on per-model
     tokens per minute, input and output together, and no longer on requests per minute (Bedrock user
     guide, "Quotas for the bedrock-runtime endpoint"). The defaults below are us-east-1's.
   Target: under 30 minutes at prod's settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "lambda" / "model_evaluation"), str(REPO / "tests")]
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

from evaluation_fakes import BATCH_INPUT, FakeBedrock, FakeS3, items  # noqa: E402
from model_evaluation.batch import parse_batch_input, score_batch  # noqa: E402
from model_evaluation.summary import GateSettings, seed_for, summarize  # noqa: E402

from config.loader import load_environments  # noqa: E402
from config.workflow import PROFILE_REGION_PREFIXES  # noqa: E402

CALLS_PER_RECORD = 3  # base answer, customized answer, one judge call grading both
TARGET_MS_PER_RECORD = 5.0
TARGET_MINUTES = 30.0
THRESHOLDS = {"exact_match": 0.0, "token_f1": 0.0, "rouge_l": 0.0, "judge_score": 1.0, "min_judge_improvement": 0.0}

# Default tokens per minute (input + output) in us-east-1, per model and how it is invoked: "On-demand model
# inference tokens per minute for Amazon Nova Lite" (quota code L-70423BF8), "... Amazon Nova Pro" (L-CE33604C),
# "Cross-region model inference tokens per minute for Amazon Nova Lite" (L-7C42E72A), "... Amazon Nova Pro"
# (L-C0326783). Source: AWS General Reference, "Amazon Bedrock endpoints and quotas"
# (https://docs.aws.amazon.com/general/latest/gr/bedrock.html#limits_bedrock), the table as published in June
# 2025. An account's own values can be lower (new accounts, regional factors: Bedrock user guide, "Quotas for
# Amazon Bedrock"); Service Quotas shows them.
DEFAULT_TOKENS_PER_MINUTE = {
    ("amazon.nova-lite-v1:0", "on-demand"): 2_000_000,
    ("amazon.nova-lite-v1:0", "cross-Region"): 4_000_000,
    ("amazon.nova-pro-v1:0", "on-demand"): 400_000,
    ("amazon.nova-pro-v1:0", "cross-Region"): 800_000,
}
PROFILE_PREFIXES = tuple(PROFILE_REGION_PREFIXES)


@dataclass(frozen=True)
class ModelLoad:
    """One model's share of a run: which quota it draws on and what each record costs it."""

    role: str
    model_id: str
    calls_per_record: int
    tokens_per_call: int

    @property
    def quota_key(self) -> tuple[str, str]:
        prefix = next((p for p in PROFILE_PREFIXES if self.model_id.startswith(p)), "")
        return self.model_id.removeprefix(prefix), "cross-Region" if prefix else "on-demand"

    def lanes(self, call_seconds: float) -> int | None:
        """Batches that can run at once within the model's default quota: each sends it ``calls_per_record``
        calls every ``CALLS_PER_RECORD`` calls' time. None where no default is known or no call is made."""
        quota = DEFAULT_TOKENS_PER_MINUTE.get(self.quota_key)
        if quota is None or not self.calls_per_record:
            return None
        per_lane = 60 / (call_seconds * CALLS_PER_RECORD) * self.calls_per_record * self.tokens_per_call
        return int(quota // per_lane)

    def minutes(self, records: int) -> float | None:
        """Minutes the model's default quota needs for the run; None where no default is known."""
        quota = DEFAULT_TOKENS_PER_MINUTE.get(self.quota_key)
        return None if quota is None else records * self.calls_per_record * self.tokens_per_call / quota


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


def in_flight_minutes(records: int, concurrency: int, call_seconds: float, calls_per_record: int) -> float:
    return records * calls_per_record * call_seconds / concurrency / 60


def run_minutes(records: int, in_flight: float, loads: list[ModelLoad]) -> tuple[float, str]:
    """The run's minutes and what binds it: the calls in flight or a model's quota, whichever is slower."""
    bounds = [(in_flight, "calls in flight")]
    bounds += [(m, f"{load.role}'s quota") for load in loads if (m := load.minutes(records)) is not None]
    return max(bounds)


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
    evaluation, records = prod.workflow.evaluation, args.model_records
    scoring, summary = measured_ms_per_record(args.records, evaluation.batch_size)
    total = scoring + summary
    print(f"| Measured ({args.records} records, in process) | ms per record | target |")
    print("| --- | --- | --- |")
    print(f"| scoring a batch | {scoring:.2f} | |")
    print(f"| summary and bootstrap intervals | {summary:.2f} | |")
    verdict = "met" if total < TARGET_MS_PER_RECORD else "missed"
    print(f"| evaluation code in all | {total:.2f} | < {TARGET_MS_PER_RECORD:g} ({verdict}) |")
    print()
    # prod's base model is Nova Lite (the recipes' and the fixtures'); the profile prefix is the environment's.
    base = ModelLoad(
        "base model", f"{prod.workflow.inference_profile_prefix}amazon.nova-lite-v1:0", 1, args.answer_tokens
    )
    judge = ModelLoad("judge", prod.workflow.judge_model_id, 1, args.judge_tokens)
    concurrency = evaluation.max_concurrency
    print(f"| Modelled: {records:,} records, {args.call_seconds:g} s a call, prod's settings | minutes |")
    print("| --- | --- |")
    in_flight = in_flight_minutes(records, concurrency, args.call_seconds, CALLS_PER_RECORD)
    print(f"| calls in flight: max_concurrency {concurrency}, {CALLS_PER_RECORD} calls a record | {in_flight:.0f} |")
    for load in (base, judge):
        key = load.quota_key
        quota = DEFAULT_TOKENS_PER_MINUTE.get(key)
        shown = "no default known" if quota is None else f"{quota:,} tokens a minute"
        minutes = load.minutes(records)
        print(
            f"| {load.role} `{load.model_id}`, {key[1]} ({shown}; {load.tokens_per_call:,} tokens a call) "
            f"| {'-' if minutes is None else f'{minutes:.0f}'} |"
        )
    print("| customized model: a deployment's own token quota, or a throughput's model units | not modelled |")
    minutes, binding = run_minutes(records, in_flight, [base, judge])
    verdict = "met" if minutes < TARGET_MINUTES else "missed"
    print(f"| **first run**: the slower bound ({binding}) | {minutes:.0f} (< {TARGET_MINUTES:g}: {verdict}) |")
    cached = in_flight_minutes(records, concurrency, args.call_seconds, CALLS_PER_RECORD - 1)
    cached_base = ModelLoad(base.role, base.model_id, 0, base.tokens_per_call)
    minutes, binding = run_minutes(records, cached, [cached_base, judge])
    print(f"| base answers cached (2 calls a record; {binding} binds) | {minutes:.0f} |")
    within = min(n for load in (base, judge) if (n := load.lanes(args.call_seconds)) is not None)
    print(f"| largest max_concurrency within these quotas (more is throttled, and records fail) | {within} |")
    if not judge.model_id.startswith(PROFILE_PREFIXES):
        profiled = ModelLoad(judge.role, f"us.{judge.model_id}", 1, args.judge_tokens)
        lanes = min(n for load in (base, profiled) if (n := load.lanes(args.call_seconds)) is not None)
        faster = in_flight_minutes(records, lanes, args.call_seconds, CALLS_PER_RECORD)
        minutes, binding = run_minutes(records, faster, [base, profiled])
        print(
            f"| first run with the judge as `{profiled.model_id}` and max_concurrency {lanes} ({binding} binds) "
            f"| {minutes:.0f} |"
        )


if __name__ == "__main__":
    main()
