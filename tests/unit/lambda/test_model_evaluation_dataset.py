"""Evaluation dataset and prediction files: parsing, S3 URIs, and reading and writing through S3."""

from __future__ import annotations

import io
import json
import re

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from model_evaluation.dataset import (
    DatasetError,
    EvaluationRecord,
    InvalidS3UriError,
    S3Uri,
    parse_records,
    parse_s3_uri,
    read_text,
    write_json,
)

SOURCE = "s3://eval-data/sets/qa.jsonl"


def lines(*rows) -> str:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows)


def test_records_keep_file_order_and_optional_fields():
    text = lines(
        {"id": "q1", "prompt": "Capital of France?", "reference": "Paris"},
        {"id": "q2", "prompt": "Weather?", "reference": "{}", "tool_schema": {"type": "object"}},
        {"id": "q3", "prompt": "Count", "reference": "SELECT 1", "sqlite_db": "s3://acme-datasets/db.sqlite"},
    )
    assert parse_records(text, SOURCE) == [
        EvaluationRecord("q1", "Capital of France?", "Paris"),
        EvaluationRecord("q2", "Weather?", "{}", tool_schema={"type": "object"}),
        EvaluationRecord("q3", "Count", "SELECT 1", sqlite_db="s3://acme-datasets/db.sqlite"),
    ]


def test_every_bad_line_is_named_with_its_field_and_what_is_allowed():
    text = lines(
        {"id": "q1", "prompt": "ok", "reference": "ok"},
        "{not json",
        {"id": "q3", "prompt": "", "reference": 42},
        {"id": "q1", "prompt": "again", "reference": "dup"},
        {"id": "q5", "prompt": "p", "reference": "r", "tool_schema": "object"},
        {"id": "q6", "prompt": "p", "reference": "r", "trajectory": [{"role": "user", "content": "x"}]},
        '["a list"]',
    )
    with pytest.raises(DatasetError) as raised:
        parse_records(text, SOURCE)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE}: line 2: not valid JSON")
    for expected in (
        "line 3: prompt: '' is not allowed; expected a non-empty string",
        "line 3: reference: 42 is not allowed; expected a non-empty string",
        "line 4: id: 'q1' is not allowed; it repeats line 1",
        "line 5: tool_schema: 'object' is not allowed; expected a JSON schema object",
        # Refused, not ignored: the evaluation scores one reply per record and could not compare an agent's steps.
        "line 6: trajectory: [{'role': 'user', 'content': 'x'}] is not allowed; expected no trajectory",
        "line 7: ['a list'] is not allowed; expected a JSON object",
    ):
        assert expected in message


def test_what_the_maps_reader_might_not_take_is_refused_by_the_check():
    """A blank line inside the file, or a line too long for any batch's input (256 KiB with the rest of the batch)."""
    big = {"id": "q3", "prompt": "x" * 200_001, "reference": "r"}
    text = lines({"id": "q1", "prompt": "p", "reference": "r"}, "", {"id": "q2", "prompt": "p", "reference": "r"}, big)
    with pytest.raises(DatasetError) as raised:
        parse_records(text + "\n\n", SOURCE)  # trailing newlines are the file's end, not blank records
    message = str(raised.value)
    assert "line 2: a blank line is not allowed; expected one JSON object per line" in message
    assert "line 4: 200045 bytes is not allowed; expected at most 200000" in message
    assert "line 5" not in message


def test_an_empty_dataset_is_rejected():
    with pytest.raises(DatasetError, match=f"^{SOURCE}: the file is empty; expected one JSON object per line$"):
        parse_records("\n\n", SOURCE)


def test_many_problems_are_capped_with_a_count():
    text = lines(*["nope"] * 25)
    with pytest.raises(DatasetError, match=r"line 20: not valid JSON .*; and 5 more$"):
        parse_records(text, SOURCE)


@pytest.mark.parametrize(
    ("uri", "prefix", "expected"),
    [
        ("s3://eval-data/sets/qa.jsonl", False, S3Uri("eval-data", "sets/qa.jsonl")),
        ("s3://eval-data/results/run-1/", True, S3Uri("eval-data", "results/run-1/")),
        ("s3://eval-data/", True, S3Uri("eval-data", "")),
    ],
)
def test_good_s3_uris(uri, prefix, expected):
    assert parse_s3_uri(uri, "field", prefix=prefix) == expected


@pytest.mark.parametrize(
    ("uri", "prefix", "message"),
    [
        ("https://eval-data/qa.jsonl", False, "expected s3://bucket/key (an object, not ending in '/')"),
        ("s3://eval-data", False, "expected s3://bucket/key"),
        ("s3://eval-data/", False, "expected s3://bucket/key"),
        ("s3://eval-data/sets/", False, "expected s3://bucket/key (an object, not ending in '/')"),
        ("s3://Eval_Data/qa.jsonl", False, "the bucket name 'Eval_Data' is not a valid S3 bucket name"),
        ("s3:///qa.jsonl", False, "the bucket name '' is not a valid S3 bucket name"),
        (None, False, "field: None is not allowed"),
        ("s3://eval-data/results", True, "expected s3://bucket/prefix/ (ending in '/')"),
        ("s3://eval-data", True, "expected s3://bucket/prefix/ (ending in '/')"),
    ],
)
def test_bad_s3_uris_are_rejected_naming_field_and_value(uri, prefix, message):
    with pytest.raises(InvalidS3UriError) as raised:
        parse_s3_uri(uri, "field", prefix=prefix)
    assert str(raised.value).startswith(f"field: {uri!r} is not allowed; expected s3://bucket/")
    assert message in str(raised.value)


@pytest.fixture
def s3():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def body(data: bytes) -> dict:
    return {"Body": StreamingBody(io.BytesIO(data), len(data))}


def test_read_text_decodes_utf8_and_tolerates_a_byte_order_mark(s3):
    client, stubber = s3
    stubber.add_response("get_object", body("\ufeffcafé".encode()), {"Bucket": "eval-data", "Key": "a.jsonl"})
    assert read_text(client, S3Uri("eval-data", "a.jsonl")) == "café"


def test_read_text_rejects_bytes_that_are_not_utf8(s3):
    client, stubber = s3
    stubber.add_response("get_object", body(b"\xff\xfe"), {"Bucket": "eval-data", "Key": "a.jsonl"})
    with pytest.raises(DatasetError, match=re.escape("s3://eval-data/a.jsonl: not UTF-8 text")):
        read_text(client, S3Uri("eval-data", "a.jsonl"))


def test_write_json_sorts_keys_so_equal_reports_have_equal_bytes(s3):
    client, stubber = s3
    expected = b'{\n  "a": 1,\n  "b": "\xc3\xa9"\n}'
    stubber.add_response(
        "put_object",
        {},
        {"Bucket": "eval-data", "Key": "out/evaluation.json", "Body": expected, "ContentType": "application/json"},
    )
    write_json(client, S3Uri("eval-data", "out/evaluation.json"), {"b": "é", "a": 1})
