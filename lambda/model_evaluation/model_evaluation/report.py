"""After the Distributed Map: every batch's results read back, summarized, gated and written as the report.

The map's ResultWriter leaves ``manifest.json`` naming the result files per outcome (Step Functions
developer guide, "ResultWriter (Map)"). Written as JSON Lines with the ``COMPACT`` transformation, a
succeeded batch's line is its output; a failed one's stays whole, with its ``Error``, ``Cause`` and
``Input`` (a JSON string). A failed batch's
records count as failed with the batch's reason, so they lower the scored fraction the gate reads.

Event::

    {"run_id": ..., "results_uri": "s3://.../evaluation/", "map": {"ResultWriterDetails": {"Bucket", "Key"}},
     "thresholds": {...}, "gate": {"min_records": ..., "min_scored_fraction": ...},
     "rubric_sha256": "<64 hex>", "dataset": {"uri": "s3://...", "version_id": ...}}

The rubric's hash and the dataset version evaluated go into the report and the summary, so a run's lineage
names what its model was judged on and by.

Writes ``evaluation.json`` (summary, intervals, gate, the worst records with their answers) and
``evaluation.md`` (a short summary for people) under ``results_uri``; returns the summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from model_evaluation.dataset import S3Uri, parse_s3_uri, read_text, write_json
from model_evaluation.request import InvalidEvaluationRequestError, object_field, text_field, uri_field
from model_evaluation.summary import GateSettings, seed_for, summarize

REPORT_NAME = "evaluation.json"
SUMMARY_NAME = "evaluation.md"
WORST_SHOWN = 20


def _entries(s3: Any, bucket: str, files: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each line of each result file (a JSON array, as without ``WriterConfig``, is read whole)."""
    for file in files:
        text = read_text(s3, S3Uri(bucket, file["Key"]))
        if text.lstrip().startswith("["):
            yield from json.loads(text)
            continue
        # Only "\n" ends a JSON line: str.splitlines would also split inside strings (U+2028, U+2029, NEL).
        for line in text.split("\n"):
            if line.strip():
                yield json.loads(line)


def map_results(s3: Any, manifest: S3Uri) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Compact record results of every batch (a failed batch's records as failures), and by record id the
    details file holding its answers."""
    listing = json.loads(read_text(s3, manifest))
    bucket = listing.get("DestinationBucket", manifest.bucket)
    files = listing.get("ResultFiles", {})
    records: list[dict[str, Any]] = []
    details: dict[str, str] = {}
    for entry in _entries(s3, bucket, files.get("SUCCEEDED", [])):
        output = json.loads(entry["Output"]) if isinstance(entry.get("Output"), str) else entry
        records += output["records"]
        details.update(dict.fromkeys((row["id"] for row in output["records"]), output["details"]))
    for entry in _entries(s3, bucket, [*files.get("FAILED", []), *files.get("PENDING", [])]):
        reason = f"batch failed: {entry.get('Error', 'unknown')}: {entry.get('Cause', '')}"[:500]
        items = json.loads(entry["Input"]).get("Items", []) if isinstance(entry.get("Input"), str) else []
        for index, item in enumerate(items):
            identity = item.get("id") if isinstance(item, dict) else None
            records.append({"id": identity if isinstance(identity, str) else f"failed item {index}", "failure": reason})
    return records, details


def worst(
    s3: Any, details: dict[str, str], records: list[dict[str, Any]], count: int = WORST_SHOWN
) -> list[dict[str, Any]]:
    """The scored records where the customized model did worst (judge score, then token F1), with their answers:
    only the details files that hold them are read."""
    scored = [row for row in records if "scores" in row]
    scored.sort(key=lambda row: (row["scores"]["customized"]["judge_score"], row["scores"]["customized"]["token_f1"]))
    wanted = {row["id"] for row in scored[:count]}
    found = {}
    for uri in sorted({details[row_id] for row_id in wanted if row_id in details}):
        for line in read_text(s3, parse_s3_uri(uri, "details")).split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["id"] in wanted:
                found[row["id"]] = row
    return [found[row["id"]] for row in scored[:count] if row["id"] in found]


def markdown(run_id: str, summary: dict[str, Any]) -> str:
    """What a reviewer reads first: the decision, the counts, and each metric's means and interval."""
    decision = "passed" if summary["gate"]["passed"] else "failed"
    lines = [
        f"# Evaluation of {run_id}: gate {decision}",
        "",
        f"{summary['scored']} of {summary['records']} records scored ({summary['failed']} failed) from "
        f"{summary['dataset']['uri']} (version {summary['dataset']['version_id']}), judged with the rubric of "
        f"SHA-256 {summary['rubric_sha256']}.",
        "",
        "| Metric | Records | Base | Customized | Improvement | "
        f"{summary['confidence']:.0%} interval of the improvement |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for metric, gain in summary["improvement"].items():
        low, high = summary["intervals"]["improvement"][metric]
        lines.append(
            f"| {metric} | {summary['counts'][metric]} | {summary['base'][metric]:.4f} | "
            f"{summary['customized'][metric]:.4f} | {gain:+.4f} | {low:+.4f} to {high:+.4f} |"
        )
    lines += ["", *[f"- {reason}" for reason in summary["gate"]["reasons"]]]
    return "\n".join(lines).rstrip() + "\n"


def _provenance(fields: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """What the model was judged by (the rubric file's hash) and on (the dataset version read)."""
    rubric = fields.get("rubric_sha256")
    if not (isinstance(rubric, str) and len(rubric) == 64 and all(c in "0123456789abcdef" for c in rubric)):
        problems.append(f"rubric_sha256: {rubric!r} is not allowed; expected a SHA-256 in hex (64 characters)")
    dataset = object_field(fields.get("dataset"), "dataset", problems, "with uri and version_id") or {}
    uri_field(dataset.get("uri"), "dataset.uri", problems)
    version = text_field(dataset.get("version_id"), "dataset.version_id", problems, 1024)
    return {"rubric_sha256": rubric, "dataset": {"uri": dataset.get("uri"), "version_id": version}}


def parse_event(event: Any) -> tuple[str, S3Uri, S3Uri, dict[str, float], GateSettings, dict[str, Any]]:
    problems: list[str] = []
    fields = object_field(
        event, "event", problems, "with run_id, results_uri, map, thresholds, gate, rubric_sha256 and dataset"
    )
    if fields is None:
        raise InvalidEvaluationRequestError(problems[0])
    run_id = text_field(fields.get("run_id"), "run_id", problems, 256)
    results = uri_field(fields.get("results_uri"), "results_uri", problems, prefix=True)
    details = (fields.get("map") or {}).get("ResultWriterDetails") if isinstance(fields.get("map"), dict) else None
    manifest = S3Uri("", "")
    if isinstance(details, dict) and isinstance(details.get("Bucket"), str) and isinstance(details.get("Key"), str):
        manifest = S3Uri(details["Bucket"], details["Key"])
    else:
        problems.append("map.ResultWriterDetails: not allowed; expected the Distributed Map's {Bucket, Key}")
    thresholds = fields.get("thresholds")
    if not isinstance(thresholds, dict) or not all(isinstance(v, int | float) for v in thresholds.values()):
        problems.append(f"thresholds: {thresholds!r} is not allowed; expected an object of metric -> number")
        thresholds = {}
    given = fields.get("gate")
    gate: dict[str, Any] = given if isinstance(given, dict) else {}
    try:
        settings = GateSettings(
            min_records=int(gate.get("min_records", GateSettings.min_records)),
            min_scored_fraction=float(gate.get("min_scored_fraction", GateSettings.min_scored_fraction)),
        )
    except (TypeError, ValueError):
        problems.append(f"gate: {gate!r} is not allowed; expected min_records (integer), min_scored_fraction (0-1)")
        settings = GateSettings()
    provenance = _provenance(fields, problems)
    if problems:
        raise InvalidEvaluationRequestError("; ".join(problems))
    return run_id, results, manifest, {k: float(v) for k, v in thresholds.items()}, settings, provenance


def report(event: Any, s3: Any) -> dict[str, Any]:
    """Summarize the map's results, decide the gate, write the report; returns what the state machine reads."""
    run_id, results, manifest, thresholds, settings, provenance = parse_event(event)
    records, details = map_results(s3, manifest)
    summary = {**summarize(records, thresholds, settings, seed_for(run_id)), **provenance}
    document = {"run_id": run_id, **summary, "worst_records": worst(s3, details, records)}
    write_json(s3, results.join(REPORT_NAME), document)
    text = markdown(run_id, summary)
    uri = results.join(SUMMARY_NAME)
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=text.encode("utf-8"), ContentType="text/markdown")
    return {"run_id": run_id, **summary, "results": str(results.join(REPORT_NAME))}
