"""locate_checkpoint: the escrow checkpoint URI from manifest.json inside a Nova training job's output.tar.gz."""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "customization-steps")

import io
import json
import tarfile

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from customization_steps import steps
from lambda_context import LambdaContext

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
BUCKET = "acme-artifacts"
KEY = "runs/r1/output/r1-train/output/output.tar.gz"
ARTIFACTS = f"s3://{BUCKET}/{KEY}"
CHECKPOINT = "s3://customer-escrow-123456789012-smtj-63d8c0a1/r1-train/step_1250/"


def archive(files: dict[str, bytes]) -> bytes:
    """A real tar.gz holding ``files`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def manifest(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def s3():
    client = boto3.client("s3", **KEYS)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def expect_object(stub: Stubber, data: bytes) -> None:
    where = {"Bucket": BUCKET, "Key": KEY}
    stub.add_response("head_object", {"ContentLength": len(data)}, where)
    stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(data), len(data))}, where)


@pytest.mark.parametrize("name", ["manifest.json", "output/manifest.json", "./manifest.json"])
def test_the_checkpoint_is_read_from_the_manifest(s3, name):
    client, stub = s3
    expect_object(stub, archive({"logs/train.log": b"step 1250", name: manifest({"checkpoint_s3_bucket": CHECKPOINT})}))

    assert steps.locate_checkpoint(ARTIFACTS, client) == CHECKPOINT


def test_an_archive_without_a_manifest_is_named(s3):
    client, stub = s3
    expect_object(stub, archive({"logs/train.log": b"step 1250", "manifest.json.bak": b"{}"}))

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_checkpoint(ARTIFACTS, client)

    assert str(raised.value) == f"{ARTIFACTS} has no manifest.json"


@pytest.mark.parametrize(
    "content",
    [
        {},
        {"checkpoint_s3_bucket": ""},
        {"checkpoint_s3_bucket": "customer-escrow-123456789012/r1-train"},
        {"checkpoint_s3_bucket": ["s3://a/b"]},
        ["s3://a/b"],
    ],
)
def test_a_manifest_without_an_s3_checkpoint_names_the_value(s3, content):
    client, stub = s3
    expect_object(stub, archive({"manifest.json": manifest(content)}))

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_checkpoint(ARTIFACTS, client)

    value = content.get("checkpoint_s3_bucket") if isinstance(content, dict) else None
    assert str(raised.value) == (
        f"manifest.json in {ARTIFACTS}: checkpoint_s3_bucket {value!r} is not allowed; expected an S3 URI"
    )


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "model.tar.gz",
        "https://acme-artifacts.s3.amazonaws.com/model.tar.gz",
        "s3://acme-artifacts",
        "s3://acme-artifacts/",
        "s3:///model.tar.gz",
    ],
)
def test_a_bad_uri_is_refused_before_any_call(s3, uri):
    client, _ = s3

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_checkpoint(uri, client)

    assert str(raised.value) == f"output_archive: {uri!r} is not allowed; expected s3://<bucket>/<key>"


def test_a_too_large_archive_is_not_downloaded(s3):
    client, stub = s3
    size = 64 * 1024 * 1024 + 1
    stub.add_response("head_object", {"ContentLength": size}, {"Bucket": BUCKET, "Key": KEY})

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_checkpoint(ARTIFACTS, client)

    assert str(raised.value) == (f"{ARTIFACTS} is 67108865 bytes; a Nova job's output archive holds only its manifest")


def test_an_archive_that_is_not_gzip_is_named(s3):
    client, stub = s3
    expect_object(stub, b"this is not a tarball")

    with pytest.raises(steps.CheckpointNotFoundError, match=r"output\.tar\.gz is not a readable tar\.gz archive"):
        steps.locate_checkpoint(ARTIFACTS, client)


def test_a_manifest_that_is_not_json_is_named(s3):
    client, stub = s3
    expect_object(stub, archive({"manifest.json": b"checkpoint_s3_bucket: s3://x/y"}))

    with pytest.raises(
        steps.CheckpointNotFoundError, match=r"^manifest\.json in s3://acme-artifacts/.* is not valid JSON"
    ):
        steps.locate_checkpoint(ARTIFACTS, client)


def test_the_locate_handler_returns_the_uri(s3, monkeypatch):
    client, stub = s3
    monkeypatch.setattr(steps, "client", lambda name: {"s3": client}[name])
    expect_object(stub, archive({"manifest.json": manifest({"checkpoint_s3_bucket": CHECKPOINT})}))

    assert steps.locate({"output_archive": ARTIFACTS}, LambdaContext()) == {"uri": CHECKPOINT}
