"""The evaluation dataset (JSONL), and reading and writing objects on S3.

Dataset line: ``{"id": str, "prompt": str, "reference": str, "tool_schema"?: object,
"sqlite_db"?: "s3://..."}`` (with ``sqlite_db`` the reference is a SQL query). A ``trajectory``
(a reference agent run) is refused rather than ignored: the evaluation scores one Converse reply
per record, so it could not compare an agent's steps with it.

Parsing reports every bad line at once (up to ``MAX_PROBLEMS``), each naming the line
number, the field and what is allowed, so a dataset is fixed in one round. The S3 client is
passed in, so tests stub it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_PROBLEMS = 20
# A record travels in a batch's input, which Step Functions caps at 256 KiB with the batch's other records and its
# BatchInput (the rubric among it): one line of more than this could never be scored.
MAX_LINE_BYTES = 200_000


class InvalidS3UriError(ValueError):
    """A URI that is not ``s3://bucket/key`` (or ``s3://bucket/prefix/`` where a prefix is expected)."""


class DatasetError(Exception):
    """A dataset or predictions file breaks the format; the message names every bad line and field."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters, so an error message quotes a bad value without flooding the log."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def join(self, name: str) -> S3Uri:
        """The object ``name`` under this prefix (the prefix ends in '/', see ``parse_s3_uri``)."""
        return S3Uri(self.bucket, self.key + name)


def parse_s3_uri(uri: Any, field: str, *, prefix: bool = False) -> S3Uri:
    """``s3://bucket/key`` for an object, or ``s3://bucket/prefix/`` (ending in '/') when ``prefix``."""
    shape = "s3://bucket/prefix/ (ending in '/')" if prefix else "s3://bucket/key (an object, not ending in '/')"
    problem = f"{field}: {short_repr(uri, 300)} is not allowed; expected {shape}"
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidS3UriError(problem)
    bucket, slash, key = uri.removeprefix("s3://").partition("/")
    if not BUCKET_PATTERN.match(bucket):
        raise InvalidS3UriError(f"{problem}; the bucket name {short_repr(bucket)} is not a valid S3 bucket name")
    if not slash or (prefix and key and not key.endswith("/")) or (not prefix and (not key or key.endswith("/"))):
        raise InvalidS3UriError(problem)
    return S3Uri(bucket, key)


@dataclass(frozen=True)
class EvaluationRecord:
    id: str
    prompt: str
    reference: str
    tool_schema: dict[str, Any] | None = None
    sqlite_db: str | None = None
    """A text-to-SQL record: the SQLite database (``s3://...``) its reference query and the answers run on."""


def row_problems(row: dict[str, Any], strings: dict[str, bool]) -> list[str]:
    """What is wrong with one line's fields; ``strings`` maps each required field to whether it may be empty."""
    problems = []
    for name, may_be_empty in strings.items():
        value = row.get(name)
        if not isinstance(value, str) or (not may_be_empty and not value.strip()):
            kind = "a string" if may_be_empty else "a non-empty string"
            problems.append(f"{name}: {short_repr(value)} is not allowed; expected {kind}")
    schema = row.get("tool_schema")
    if schema is not None and not isinstance(schema, dict):
        problems.append(f"tool_schema: {short_repr(schema)} is not allowed; expected a JSON schema object")
    elif isinstance(schema, dict) and ("toolSpec" in schema or {"name", "inputSchema"} & set(schema)):
        # A Bedrock tool spec, wrapped or bare, is offered to the model as it is (Converse ToolSpecification): name
        # and inputSchema.json, which Converse refuses otherwise (every such record would fail).
        spec = schema.get("toolSpec", schema)
        if not (
            isinstance(spec, dict)
            and isinstance(spec.get("name"), str)
            and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", spec["name"])
            and isinstance(spec.get("inputSchema"), dict)
            and isinstance(spec["inputSchema"].get("json"), dict)
        ):
            problems.append(
                f"tool_schema.toolSpec: {short_repr(spec)} is not allowed; expected a Bedrock tool spec "
                '{"name": "<1-64 letters, digits, _ or ->", "inputSchema": {"json": {...}}}'
            )
    database = row.get("sqlite_db")
    if database is not None and not (isinstance(database, str) and database.startswith("s3://")):
        problems.append(f"sqlite_db: {short_repr(database)} is not allowed; expected an S3 URI of a SQLite database")
    if "trajectory" in row:
        problems.append(
            f"trajectory: {short_repr(row['trajectory'])} is not allowed; expected no trajectory (the evaluation "
            "scores one reply per record, not an agent's steps)"
        )
    return problems


def _parse_lines(text: str, source: str, strings: dict[str, bool]) -> list[dict[str, Any]]:
    """Each non-blank line as a checked object, ids unique; raises ``DatasetError`` naming every bad line."""
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    # Only "\n" ends a JSON line (a "\r" before it goes): str.splitlines would split inside strings too.
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # the file's final newline(s)
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            # Stricter than the check's own parser needs: how the map's JSONL reader takes a blank line is not
            # documented, and the check must never be looser than the reader.
            problems.append(f"line {number}: a blank line is not allowed; expected one JSON object per line")
            continue
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            size = len(line.encode("utf-8"))
            problems.append(f"line {number}: {size} bytes is not allowed; expected at most {MAX_LINE_BYTES}")
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            problems.append(f"line {number}: not valid JSON ({error}); expected one JSON object per line")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {number}: {short_repr(row)} is not allowed; expected a JSON object")
            continue
        found = row_problems(row, strings)
        row_id = row.get("id")
        if isinstance(row_id, str) and row_id in first_line:
            found.append(f"id: {row_id!r} is not allowed; it repeats line {first_line[row_id]}")
        elif isinstance(row_id, str):
            first_line[row_id] = number
        problems.extend(f"line {number}: {problem}" for problem in found)
        rows.append(row)
    if not rows and not problems:
        problems.append("the file is empty; expected one JSON object per line")
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS])
        more = f"; and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise DatasetError(f"{source}: {shown}{more}")
    return rows


def parse_records(text: str, source: str) -> list[EvaluationRecord]:
    """The dataset's records in file order; ``source`` (its URI) starts every error message."""
    rows = _parse_lines(text, source, {"id": False, "prompt": False, "reference": False})
    return [
        EvaluationRecord(
            row["id"],
            row["prompt"],
            row["reference"],
            row.get("tool_schema"),
            row.get("sqlite_db"),
        )
        for row in rows
    ]


def read_text(s3: Any, uri: S3Uri) -> str:
    """The object's text (UTF-8, a byte-order mark tolerated)."""
    body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    try:
        return str(body.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise DatasetError(f"{uri}: not UTF-8 text ({error}); expected UTF-8 JSON lines") from error


def read_versioned_text(s3: Any, uri: S3Uri) -> tuple[str, str]:
    """The object's text and the version read: the evaluation's map reads that version, not whatever the key
    holds hours later (the datasets bucket is versioned, so GetObject returns ``VersionId``)."""
    response = s3.get_object(Bucket=uri.bucket, Key=uri.key)
    version = response.get("VersionId")
    if not isinstance(version, str) or not version or version == "null":
        raise DatasetError(f"{uri}: version {version!r} is not allowed; expected an object in a versioned bucket")
    body = response["Body"].read()
    if body.startswith(b"\xef\xbb\xbf"):  # the map's JSONL reader would see it as part of the first line
        raise DatasetError(f"{uri}: a byte-order mark is not allowed; expected UTF-8 JSON lines without one")
    try:
        return str(body.decode("utf-8")), version
    except UnicodeDecodeError as error:
        raise DatasetError(f"{uri}: not UTF-8 text ({error}); expected UTF-8 JSON lines") from error


def write_json(s3: Any, uri: S3Uri, document: Any) -> None:
    """Write ``document`` as JSON with sorted keys, so the same evaluation gives the same bytes."""
    body = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8")
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, ContentType="application/json")
