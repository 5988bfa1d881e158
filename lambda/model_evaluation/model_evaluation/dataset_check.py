"""Before anything is claimed or trained: the run's evaluation dataset is read and checked whole.

The evaluation's map reads the dataset only after training, hours later and after the bill: a
malformed line would then fail the map (``States.ItemReaderFailed``), records past the map's
``MaxItems`` would be dropped without a word, and a dataset too small for the gate would fail it
at the end. So the run checks every line first (JSON, fields, unique ids, a ``sqlite_db`` that is
an S3 URI of an existing object whose reference query runs on it) and the count against the gate's
minimum and the map's maximum.

It also asks the base model and the judge for one token each, as the evaluation will invoke them: a model id
Converse refuses here (no in-Region offer, no access, a profile of another geography) rejects the run now
(``ModelCheckError``) rather than failing every batch after training. Throttling and a model still loading pass:
time cures them, and the evaluation waits for them.

Event: ``{"evaluation_dataset": "s3://...", "min_records": int, "max_records": int,
"models": {"base": id, "judge": id}}`` (``models`` optional: not tried without it).
Returns ``{"records": count, "version_id": the version checked}``, which the map then reads (S3 GetObject
``VersionId``: a dataset overwritten during training is not evaluated unchecked); raises ``DatasetError``
naming every problem.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from model_evaluation.dataset import (
    MAX_PROBLEMS,
    DatasetError,
    EvaluationRecord,
    InvalidS3UriError,
    parse_records,
    parse_s3_uri,
    read_versioned_text,
)
from model_evaluation.judge import converse_text
from model_evaluation.request import InvalidEvaluationRequestError, object_field, uri_field
from model_evaluation.sql_match import QueryError, SqlLimits, extract_sql, run_query


def _exists(s3: Any, uri: str) -> bool:
    """Whether the object is there (HeadObject; 404 is no, any other error is raised)."""
    try:
        database = parse_s3_uri(uri, "sqlite_db")
        s3.head_object(Bucket=database.bucket, Key=database.key)
    except InvalidS3UriError:
        return False
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _reference_problems(records: list[EvaluationRecord], databases: Callable[[str], Path]) -> list[str]:
    """Each text-to-SQL record whose reference query does not run on its database, as the evaluation would run it."""
    problems = []
    for record in records:
        if record.sqlite_db is None:
            continue
        try:
            run_query(databases(record.sqlite_db), extract_sql(record.reference), SqlLimits())
        except QueryError as error:
            problems.append(f"id {record.id!r}: reference query: {error}")
    return problems


class ModelCheckError(Exception):
    """The base model or the judge cannot be invoked as the evaluation would invoke it; the message says which."""


# Errors a one-token call shows that time cures (the evaluation waits for them): not the run's to reject.
PASSING_CODES = frozenset({"ThrottlingException", "ModelNotReadyException", "ServiceUnavailableException"})


def try_models(bedrock: Any, models: dict[str, str]) -> None:
    """One token from each model, as the evaluation calls it; ``ModelCheckError`` naming every refusal."""
    refused = []
    for role, model_id in sorted(models.items()):
        try:
            converse_text(bedrock, model_id, "Reply with OK.", max_tokens=1)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code not in PASSING_CODES:
                refused.append(f"{role} model {model_id!r}: {code}: {error.response['Error'].get('Message', '')}")
    if refused:
        raise ModelCheckError(
            "; ".join(refused) + " (expected models this account can invoke on demand in this Region: check the id, "
            "model access and workflow.inference_profile_prefix)"
        )


def check_dataset(
    event: Any, s3: Any, databases: Callable[[str], Path] | None = None, bedrock: Any = None
) -> dict[str, Any]:
    """``databases``: a record's SQLite database as a local file (``record_scoring.s3_databases``); without it the
    reference queries are not run."""
    problems: list[str] = []
    fields = object_field(event, "event", problems, "with evaluation_dataset, min_records and max_records") or {}
    uri_field(fields.get("evaluation_dataset"), "evaluation_dataset", problems)
    limits = {name: fields.get(name) for name in ("min_records", "max_records")}
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name}: {value!r} is not allowed; expected a positive integer")
    if problems:
        raise InvalidEvaluationRequestError("; ".join(problems))
    uri = parse_s3_uri(fields["evaluation_dataset"], "evaluation_dataset")
    text, version = read_versioned_text(s3, uri)
    records = parse_records(text, str(uri))
    missing = [
        database for database in sorted({r.sqlite_db for r in records if r.sqlite_db}) if not _exists(s3, database)
    ]
    if missing:
        raise DatasetError(f"{uri}: sqlite_db {', '.join(missing)} is not allowed; expected an existing object")
    broken = _reference_problems(records, databases) if databases is not None else []
    if broken:
        more = f"; and {len(broken) - MAX_PROBLEMS} more" if len(broken) > MAX_PROBLEMS else ""
        raise DatasetError(f"{uri}: " + "; ".join(broken[:MAX_PROBLEMS]) + more)
    lowest, highest = int(fields["min_records"]), int(fields["max_records"])
    if not lowest <= len(records) <= highest:
        raise DatasetError(
            f"{uri}: {len(records)} records is not allowed; expected from {lowest} (the gate's minimum, "
            f"workflow.evaluation.min_records) to {highest} (what the evaluation reads, "
            "workflow.evaluation.max_records)"
        )
    models = fields.get("models")
    if bedrock is not None and isinstance(models, dict):
        try_models(bedrock, {str(role): str(model) for role, model in models.items()})
    return {"records": len(records), "version_id": version}
