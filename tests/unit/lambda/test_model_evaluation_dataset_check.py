"""The evaluation dataset is checked whole before the run claims or trains anything."""

from __future__ import annotations

import json

import pytest
from evaluation_fakes import FakeS3
from model_evaluation.dataset import DatasetError
from model_evaluation.dataset_check import check_dataset
from model_evaluation.request import InvalidEvaluationRequestError

URI = "s3://acme-datasets/sets/eval.jsonl"


def stored(lines: list[str]) -> FakeS3:
    s3 = FakeS3()
    s3.put_object(Bucket="acme-datasets", Key="sets/eval.jsonl", Body="\n".join(lines).encode())
    return s3


def rows(count: int) -> list[str]:
    return [json.dumps({"id": f"r{i}", "prompt": f"q{i}", "reference": f"a{i}"}) for i in range(count)]


def event(**limits: object) -> dict:
    return {"evaluation_dataset": URI, "min_records": 10, "max_records": 100, **limits}


def test_a_good_dataset_is_counted_and_the_version_checked_is_named():
    s3 = stored(rows(50))

    assert check_dataset(event(), s3) == {"records": 50, "version_id": s3.version("acme-datasets", "sets/eval.jsonl")}


def test_a_dataset_outside_a_versioned_bucket_is_refused():
    """The map reads the version checked: an object with no version could change between check and map."""
    s3 = stored(rows(50))
    s3.get_object = lambda **params: {**FakeS3.get_object(s3, **params), "VersionId": "null"}

    with pytest.raises(DatasetError, match="version 'null' is not allowed; expected an object in a versioned bucket"):
        check_dataset(event(), s3)


def test_every_bad_line_is_named_before_the_run_starts():
    lines = [*rows(20), "{not json", json.dumps({"id": "r1", "prompt": "p", "reference": "r"})]
    lines.append(json.dumps({"id": "x", "prompt": "p", "reference": "r", "sqlite_db": "/tmp/db.sqlite"}))

    with pytest.raises(DatasetError) as raised:
        check_dataset(event(), stored(lines))

    message = str(raised.value)
    assert message.startswith(f"{URI}: line 21: not valid JSON")
    assert "line 22: id: 'r1' is not allowed; it repeats line 2" in message
    assert "line 23: sqlite_db: '/tmp/db.sqlite' is not allowed; expected an S3 URI of a SQLite database" in message


@pytest.mark.parametrize(
    ("count", "word"), [(5, "from 10 (the gate's minimum"), (101, "to 100 (what the evaluation reads")]
)
def test_too_few_or_too_many_records_are_refused_with_the_config_to_change(count, word):
    with pytest.raises(DatasetError, match=rf"{count} records is not allowed; expected .*{word}".replace("(", r"\(")):
        check_dataset(event(), stored(rows(count)))


def test_a_bad_event_names_its_fields():
    with pytest.raises(InvalidEvaluationRequestError, match="min_records: 0 is not allowed; expected a positive"):
        check_dataset(event(min_records=0), stored(rows(1)))


@pytest.mark.parametrize(
    "spec",
    [
        {"toolSpec": {"name": "get weather!", "inputSchema": {"type": "object"}}},
        {"name": "get weather!", "inputSchema": {"type": "object"}},  # bare: offered to the model all the same
    ],
)
def test_a_tool_spec_the_model_could_not_be_offered_is_refused(spec):
    line = json.dumps({"id": "t1", "prompt": "p", "reference": "r", "tool_schema": spec})

    with pytest.raises(DatasetError, match=r"line 11: tool_schema.toolSpec: .* is not allowed; expected a Bedrock"):
        check_dataset(event(), stored([*rows(10), line]))


def test_a_text_to_sql_record_must_name_a_database_that_exists():
    there = json.dumps(
        {"id": "s1", "prompt": "p", "reference": "SELECT 1", "sqlite_db": "s3://acme-datasets/db/a.sqlite"}
    )
    gone = json.dumps(
        {"id": "s2", "prompt": "p", "reference": "SELECT 1", "sqlite_db": "s3://acme-datasets/db/b.sqlite"}
    )
    s3 = stored([*rows(10), there, gone])
    s3.put_object(Bucket="acme-datasets", Key="db/a.sqlite", Body=b"SQLite format 3")

    with pytest.raises(
        DatasetError, match=r"sqlite_db s3://acme-datasets/db/b.sqlite is not allowed; expected an existing"
    ):
        check_dataset(event(), s3)


def test_a_reference_query_that_does_not_run_on_its_database_is_refused(tmp_path):
    import sqlite3

    from model_evaluation.record_scoring import s3_databases

    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    s3 = stored(rows(10))
    s3.put_object(Bucket="acme-datasets", Key="db/shop.sqlite", Body=path.read_bytes())
    lines = [*rows(10)]
    for number, reference in enumerate(["SELECT id FROM orders", "SELECT id FROM invoices"]):
        lines.append(
            json.dumps(
                {
                    "id": f"s{number}",
                    "prompt": "p",
                    "reference": reference,
                    "sqlite_db": "s3://acme-datasets/db/shop.sqlite",
                }
            )
        )
    s3.put_object(Bucket="acme-datasets", Key="sets/eval.jsonl", Body="\n".join(lines).encode())

    with pytest.raises(DatasetError) as raised:
        check_dataset(event(), s3, s3_databases(s3, tmp_path / "downloaded"))

    assert str(raised.value) == f"{URI}: id 's1': reference query: the query failed: no such table: invoices"


# --- the models, tried once before the run ---------------------------------------------------------------------

MODELS = {"base": "amazon.nova-lite-v1:0", "judge": "amazon.nova-pro-v1:0"}


def runtime():
    import boto3

    return boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def one_token(model_id: str) -> dict:
    return {
        "modelId": model_id,
        "messages": [{"role": "user", "content": [{"text": "Reply with OK."}]}],
        "inferenceConfig": {"maxTokens": 1, "temperature": 0},
    }


REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "OK"}]}},
    "stopReason": "max_tokens",
    "usage": {"inputTokens": 4, "outputTokens": 1, "totalTokens": 5},
    "metrics": {"latencyMs": 100},
}


def test_the_base_model_and_the_judge_are_each_asked_for_one_token_before_the_run():
    from botocore.stub import Stubber

    bedrock = runtime()
    with Stubber(bedrock) as stub:
        stub.add_response("converse", REPLY, one_token(MODELS["base"]))
        stub.add_response("converse", REPLY, one_token(MODELS["judge"]))
        assert check_dataset(event(models=MODELS), stored(rows(50)), bedrock=bedrock)["records"] == 50
        stub.assert_no_pending_responses()


def test_a_model_converse_refuses_here_rejects_the_run_before_training():
    from botocore.stub import Stubber
    from model_evaluation.dataset_check import ModelCheckError

    bedrock = runtime()
    with Stubber(bedrock) as stub:
        refusal = "Invocation of model ID amazon.nova-lite-v1:0 with on-demand throughput isn't supported."
        stub.add_client_error("converse", "ValidationException", refusal, 400)
        stub.add_client_error("converse", "ThrottlingException", "Too many tokens", 429)  # the judge: time cures it
        with pytest.raises(ModelCheckError) as raised:
            check_dataset(event(models=MODELS), stored(rows(50)), bedrock=bedrock)
    assert str(raised.value).startswith(f"base model 'amazon.nova-lite-v1:0': ValidationException: {refusal}")
    assert "judge" not in str(raised.value)


def test_a_byte_order_mark_is_refused_rather_than_read_into_the_first_record():
    s3 = FakeS3()
    s3.put_object(Bucket="acme-datasets", Key="sets/eval.jsonl", Body=b"\xef\xbb\xbf" + "\n".join(rows(20)).encode())
    with pytest.raises(DatasetError, match="a byte-order mark is not allowed; expected UTF-8 JSON lines without one"):
        check_dataset(event(), s3)
