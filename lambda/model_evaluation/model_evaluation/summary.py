"""From per-record results to the numbers the quality gate decides on, and the decision.

A mean over a small or noisy sample can clear a threshold by luck, so the gate reads each
metric's confidence interval instead: a paired bootstrap over the scored records (the same
records drawn for base and customized, so the improvement's interval reflects their
correlation), percentile method, seeded from the run so a rerun reports the same interval.
The gate passes only when

- enough records were scored (``min_records``) and few enough failed (``min_scored_fraction``);
- each thresholded metric's lower bound for the customized model is at or above its threshold;
- the judge's improvement over the base model has its lower bound at or above the required gain.

A metric that applies to no record (no tool schema in the dataset, say) is not measured and does
not block, as before.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JUDGE_IMPROVEMENT = "min_judge_improvement"
DECIMALS = 6

# The lowest score each metric can take (the judge scores 1 to 5, rule-based metrics 0 to 1): a threshold at it asks
# nothing of the evidence.
METRIC_FLOOR = {"judge_score": 1.0}


@dataclass(frozen=True)
class GateSettings:
    """How much evidence the gate asks for (per environment, from config)."""

    min_records: int = 100
    """Scored records below this fail the gate, whatever the scores."""
    min_scored_fraction: float = 0.95
    """Scored / all records below this fail the gate (too many generation or judge failures)."""
    confidence: float = 0.95
    """The intervals' coverage: the gate reads their lower bound."""
    resamples: int = 1000
    """Bootstrap resamples per interval."""


def seed_for(run_id: str) -> int:
    """A reproducible seed per run: the same run's records give the same intervals."""
    return int.from_bytes(hashlib.sha256(run_id.encode("utf-8")).digest()[:8], "big")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def bootstrap_interval(values: Sequence[float], rng: random.Random, settings: GateSettings) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` (already paired differences, or one candidate's scores)."""
    if len(values) == 1:
        return values[0], values[0]
    count = len(values)
    means = sorted(sum(rng.choices(values, k=count)) / count for _ in range(settings.resamples))
    tail = (1 - settings.confidence) / 2
    low = means[int(tail * (settings.resamples - 1))]
    high = means[int((1 - tail) * (settings.resamples - 1) + 0.5)]
    return low, high


def _paired(records: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[float, float]]:
    """(base, customized) for each scored record where both candidates have ``metric``."""
    pairs = []
    for record in records:
        scores = record["scores"]
        if metric in scores.get("base", {}) and metric in scores.get("customized", {}):
            pairs.append((float(scores["base"][metric]), float(scores["customized"][metric])))
    return pairs


def summarize(
    records: Iterable[Mapping[str, Any]], thresholds: Mapping[str, float], settings: GateSettings, seed: int
) -> dict[str, Any]:
    """Counts, means, intervals and the gate's decision with its reasons, from compact record results."""
    # In id order: the map's result files come in no fixed order, and the resamples must not depend on it.
    rows = sorted(records, key=lambda row: str(row["id"]))
    scored = [row for row in rows if "scores" in row]
    failures = [row for row in rows if "scores" not in row]
    rng = random.Random(seed)
    metrics = sorted({name for row in scored for name in row["scores"].get("customized", {})})
    base: dict[str, float] = {}
    customized: dict[str, float] = {}
    improvement: dict[str, float] = {}
    counts: dict[str, int] = {}
    intervals: dict[str, dict[str, list[float]]] = {"customized": {}, "improvement": {}}
    for metric in metrics:
        pairs = _paired(scored, metric)
        if not pairs:
            continue
        counts[metric] = len(pairs)
        base[metric] = round(_mean([b for b, _ in pairs]), DECIMALS)
        customized[metric] = round(_mean([c for _, c in pairs]), DECIMALS)
        improvement[metric] = round(customized[metric] - base[metric], DECIMALS)
        intervals["customized"][metric] = [
            round(bound, DECIMALS) for bound in bootstrap_interval([c for _, c in pairs], rng, settings)
        ]
        intervals["improvement"][metric] = [
            round(bound, DECIMALS) for bound in bootstrap_interval([c - b for b, c in pairs], rng, settings)
        ]
    summary = {
        "records": len(rows),
        "scored": len(scored),
        "failed": len(failures),
        "scored_fraction": round(len(scored) / len(rows), DECIMALS) if rows else 0.0,
        "base": base,
        "customized": customized,
        "improvement": improvement,
        "counts": counts,
        "intervals": intervals,
        "confidence": settings.confidence,
    }
    reasons = gate_reasons(summary, thresholds, settings)
    summary["gate"] = {"passed": not reasons, "reasons": reasons}
    return summary


def gate_reasons(summary: Mapping[str, Any], thresholds: Mapping[str, float], settings: GateSettings) -> list[str]:
    """Why the customized model does not pass; empty when it does."""
    reasons = []
    if summary["scored"] < settings.min_records:
        reasons.append(f"scored records: {summary['scored']} is below the minimum {settings.min_records}")
    if summary["scored_fraction"] < settings.min_scored_fraction:
        reasons.append(
            f"scored fraction: {summary['scored_fraction']:g} ({summary['failed']} of {summary['records']} records "
            f"failed) is below {settings.min_scored_fraction:g}"
        )
    lower = {metric: bounds[0] for metric, bounds in summary["intervals"]["customized"].items()}
    for metric, threshold in sorted(thresholds.items()):
        if metric == JUDGE_IMPROVEMENT:
            continue
        # A threshold that asks anything needs as much evidence as the gate: three SQL records of a thousand, or
        # none, would otherwise pass an SQL threshold (a bootstrap of three equal scores has no width).
        carried = summary["counts"].get(metric, 0)
        if threshold > METRIC_FLOOR.get(metric, 0.0) and carried < settings.min_records:
            reasons.append(
                f"{metric}: {carried} scored records carry it, below the minimum {settings.min_records} its "
                f"threshold {threshold:g} needs"
            )
            continue
        if metric not in lower:
            continue
        if lower[metric] < threshold:
            reasons.append(
                f"{metric}: lower bound {lower[metric]:g} (mean {summary['customized'][metric]:g}) is below the "
                f"threshold {threshold:g}"
            )
    gain = summary["intervals"]["improvement"].get("judge_score")
    if JUDGE_IMPROVEMENT in thresholds:
        if gain is None:
            reasons.append("judge_score: no record was judged, so its improvement is unknown")
        elif gain[0] < thresholds[JUDGE_IMPROVEMENT]:
            reasons.append(
                f"judge_score improvement: lower bound {gain[0]:g} (mean {summary['improvement']['judge_score']:g}) "
                f"is below the required {thresholds[JUDGE_IMPROVEMENT]:g}"
            )
    return reasons
