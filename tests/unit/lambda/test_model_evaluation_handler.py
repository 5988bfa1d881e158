"""The evaluation Lambda end to end, with botocore's Stubber on real S3 and Bedrock Runtime clients."""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "model-evaluation")

import io
import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from lambda_context import LambdaContext
from model_evaluation import handler
from model_evaluation.dataset import DatasetError, MissingPredictionError
from model_evaluation.judge import JUDGE_SYSTEM_PROMPT, JudgeReplyError, build_prompt
from model_evaluation.request import InvalidEvaluationRequestError

BUCKET = "eval-data"
BASE_MODEL = "amazon.nova-lite-v1:0"
CUSTOM_MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdefghij12"
JUDGE_MODEL = "amazon.nova-pro-v1:0"
RUBRIC = "5: correct and complete. 3: partly correct. 1: wrong or missing."
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOL_CALL = '{"name": "get_weather", "input": {"city": "Paris"}}'
RECORDS = [
    {"id": "q1", "prompt": "What is the capital of France?", "reference": "Paris"},
    {"id": "q2", "prompt": "Weather in Paris? Call the tool.", "reference": TOOL_CALL, "tool_schema": WEATHER_SCHEMA},
    {
        "id": "q3",
        "prompt": "Book a table for two.",
        "reference": "table booked for two",
        "trajectory": [
            {"role": "user", "content": [{"text": "Book a table for two."}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "book", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}]},
            {"role": "assistant", "content": [{"text": "Booked."}]},
        ],
    },
]
AGENT_RUN = [
    {"role": "user", "content": [{"text": "Book a table for two."}]},
    {
        "role": "assistant",
        "content": [
            {"toolUse": {"toolUseId": "t1", "name": "find_slots", "input": {}}},
            {"toolUse": {"toolUseId": "t2", "name": "book", "input": {}}},
        ],
    },
    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1"}}, {"toolResult": {"toolUseId": "t2"}}]},
    {"role": "assistant", "content": [{"text": "Table booked for two."}]},
]  # 2 tool calls + 1 reply = 3 steps
CUSTOMIZED_PREDICTIONS = [
    {"id": "q1", "output": "Paris"},
    {"id": "q2", "output": TOOL_CALL},
    {"id": "q3", "output": "Table booked for two.", "trajectory": AGENT_RUN},
    {"id": "q9", "output": "not in the dataset: ignored"},
]
BASE_OUTPUTS = {"q1": "The capital is Paris.", "q2": "Sunny.", "q3": "I booked a table."}


def event(**overrides) -> dict:
    return {
        "run_id": "run-2026-11-25",
        "evaluation_dataset": f"s3://{BUCKET}/sets/qa.jsonl",
        "candidates": {
            "base": {"model_id": BASE_MODEL},
            "customized": {"predictions_uri": f"s3://{BUCKET}/predictions/customized.jsonl"},
        },
        "judge": {"model_id": JUDGE_MODEL, "rubric": RUBRIC},
        "results_uri": f"s3://{BUCKET}/results/run-2026-11-25/",
        **overrides,
    }


def jsonl(rows: list[dict]) -> dict:
    data = "\n".join(json.dumps(row) for row in rows).encode()
    return {"Body": StreamingBody(io.BytesIO(data), len(data))}


def converse_reply(text: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 100},
    }


def expect_get(s3, key: str, rows: list[dict]) -> None:
    s3.add_response("get_object", jsonl(rows), {"Bucket": BUCKET, "Key": key})


def expect_generate(bedrock, prompt: str, answer: str) -> None:
    bedrock.add_response(
        "converse",
        converse_reply(answer),
        {
            "modelId": BASE_MODEL,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0},
        },
    )


def expect_judge(bedrock, record: dict, candidate: str, reply: str) -> None:
    prompt = build_prompt(RUBRIC, record["prompt"], record["reference"], candidate)
    bedrock.add_response(
        "converse",
        converse_reply(reply),
        {
            "modelId": JUDGE_MODEL,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "system": [{"text": JUDGE_SYSTEM_PROMPT}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0},
        },
    )


@pytest.fixture
def stubs(monkeypatch):
    """Stubbed clients in the handler's per-container cache; every queued response must be used."""
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    s3 = boto3.client("s3", **keys)
    bedrock = boto3.client("bedrock-runtime", **keys)
    monkeypatch.setitem(handler._clients, "s3", s3)
    monkeypatch.setitem(handler._clients, "bedrock-runtime", bedrock)
    written: list[dict] = []
    s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: written.append(dict(params)))
    with Stubber(s3) as s3_stub, Stubber(bedrock) as bedrock_stub:
        yield s3_stub, bedrock_stub, written
        s3_stub.assert_no_pending_responses()
        bedrock_stub.assert_no_pending_responses()


def test_base_and_customized_are_scored_judged_and_compared(stubs):
    s3, bedrock, written = stubs
    expect_get(s3, "sets/qa.jsonl", RECORDS)
    expect_get(s3, "predictions/customized.jsonl", CUSTOMIZED_PREDICTIONS)
    for record in RECORDS:
        expect_generate(bedrock, record["prompt"], BASE_OUTPUTS[record["id"]])
    base_replies = [
        '{"score": 4, "reason": "Correct, wordy."}',
        '```json\n{"score": 1, "reason": "No tool call."}\n```',
        'Verdict: {"score": 3, "reason": "Partly."}',
    ]
    for record, reply in zip(RECORDS, base_replies, strict=True):
        expect_judge(bedrock, record, BASE_OUTPUTS[record["id"]], reply)
    for record, prediction, score in zip(RECORDS, CUSTOMIZED_PREDICTIONS, (5, 5, 4), strict=False):
        expect_judge(bedrock, record, prediction["output"], json.dumps({"score": score, "reason": "ok"}))
    s3.add_response(
        "put_object",
        {"ETag": '"etag"'},
        {
            "Bucket": BUCKET,
            "Key": "results/run-2026-11-25/evaluation.json",
            "Body": ANY,
            "ContentType": "application/json",
        },
    )

    result = handler.lambda_handler(event(), LambdaContext())

    # Base, by hand (SQuAD tokens for F1, ROUGE keeps articles):
    #   q1 "The capital is Paris." vs "Paris": EM 0; F1 [capital, is, paris] vs [paris]: P 1/3, R 1 -> 0.5;
    #      ROUGE [the, capital, is, paris] vs [paris]: LCS 1, P 1/4, R 1 -> 2*(1/4)/(5/4) = 0.4
    #   q2 "Sunny." vs the tool call: no common token -> 0, 0, 0; not JSON -> tool_call_valid 0
    #   q3 "I booked a table." vs "table booked for two": F1 common {booked, table}: P 2/3, R 2/4 -> 4/7;
    #      ROUGE [i, booked, a, table] vs [table, booked, for, two]: LCS 1, P 1/4, R 1/4 -> 0.25
    #   means: EM 0; F1 (0.5 + 0 + 4/7) / 3 = 5/14 = 0.357143; ROUGE (0.4 + 0 + 0.25) / 3 = 0.216667;
    #   judge (4 + 1 + 3) / 3 = 2.666667; tool_call_valid over q2 only = 0; no trajectory -> no steps
    # Customized: every answer normalizes to its reference -> 1.0; q2 fits the schema -> 1.0;
    #   steps from q3's agent run = 3; judge (5 + 5 + 4) / 3 = 4.666667
    assert result == {
        "run_id": "run-2026-11-25",
        "base": {
            "exact_match": 0.0,
            "judge_score": 2.666667,
            "rouge_l": 0.216667,
            "token_f1": 0.357143,
            "tool_call_valid": 0.0,
        },
        "customized": {
            "exact_match": 1.0,
            "judge_score": 4.666667,
            "rouge_l": 1.0,
            "steps_per_task": 3.0,
            "token_f1": 1.0,
            "tool_call_valid": 1.0,
        },
        "improvement": {
            "exact_match": 1.0,
            "judge_score": 2.0,
            "rouge_l": 0.783333,
            "token_f1": 0.642857,
            "tool_call_valid": 1.0,
        },
        "results": f"s3://{BUCKET}/results/run-2026-11-25/evaluation.json",
        "records": 3,
    }

    body = written[0]["Body"]
    report = json.loads(body)
    assert body == json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False).encode()
    assert report["candidates"] == {
        "base": {"model_id": BASE_MODEL},
        "customized": {"predictions_uri": f"s3://{BUCKET}/predictions/customized.jsonl"},
    }
    assert report["aggregates"] == {"base": result["base"], "customized": result["customized"]}
    assert [row["id"] for row in report["records"]] == ["q1", "q2", "q3"]
    q1, q2, q3 = report["records"]
    assert q1["base"] == {
        "output": "The capital is Paris.",
        "judge_reason": "Correct, wordy.",
        "scores": {"exact_match": 0.0, "judge_score": 4.0, "rouge_l": 0.4, "token_f1": 0.5},
    }
    assert q2["customized"]["scores"]["tool_call_valid"] == 1.0
    assert q2["base"]["judge_reason"] == "No tool call."
    assert q3["reference_steps"] == 2  # the dataset's run: one tool call, one reply
    assert q3["customized"]["scores"]["steps_per_task"] == 3.0


def one_record_event() -> dict:
    return event(
        candidates={
            "base": {"predictions_uri": f"s3://{BUCKET}/predictions/base.jsonl"},
            "customized": {"predictions_uri": f"s3://{BUCKET}/predictions/customized.jsonl"},
        }
    )


def test_a_judge_reply_without_a_score_fails_the_run_with_judge_reply_error_and_writes_nothing(stubs):
    s3, bedrock, _ = stubs
    expect_get(s3, "sets/qa.jsonl", RECORDS[:1])
    expect_get(s3, "predictions/base.jsonl", [{"id": "q1", "output": "Paris"}])
    expect_get(s3, "predictions/customized.jsonl", [{"id": "q1", "output": "Paris"}])
    expect_judge(bedrock, RECORDS[0], "Paris", "The answer is correct.")
    with pytest.raises(JudgeReplyError, match=re.escape("judge reply: 'The answer is correct.' is not allowed")):
        handler.lambda_handler(one_record_event(), LambdaContext())


def test_throttling_from_converse_propagates_as_a_client_error_for_the_workflow_to_retry(stubs):
    s3, bedrock, _ = stubs
    expect_get(s3, "sets/qa.jsonl", RECORDS)
    expect_get(s3, "predictions/customized.jsonl", CUSTOMIZED_PREDICTIONS)
    bedrock.add_client_error("converse", "ThrottlingException", "Too many requests, please wait.", 429)
    with pytest.raises(ClientError) as raised:
        handler.lambda_handler(event(), LambdaContext())
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


def test_a_missing_prediction_names_the_id_before_any_bedrock_call(stubs):
    s3, _, _ = stubs
    expect_get(s3, "sets/qa.jsonl", RECORDS)
    expect_get(s3, "predictions/customized.jsonl", [CUSTOMIZED_PREDICTIONS[0], CUSTOMIZED_PREDICTIONS[2]])
    with pytest.raises(MissingPredictionError) as raised:
        handler.lambda_handler(event(), LambdaContext())
    assert str(raised.value) == (
        f"s3://{BUCKET}/predictions/customized.jsonl: no prediction for dataset id(s) 'q2'; "
        "every id in the evaluation dataset needs one"
    )


def test_a_bad_dataset_line_names_line_and_field(stubs):
    s3, _, _ = stubs
    expect_get(s3, "sets/qa.jsonl", [RECORDS[0], {"id": "q2", "prompt": "p"}])
    with pytest.raises(DatasetError, match=r"qa.jsonl: line 2: reference: None is not allowed; expected a non-empty"):
        handler.lambda_handler(event(), LambdaContext())


def test_a_bad_event_names_every_problem_before_any_call(stubs):
    bad = {
        "run_id": "",
        "evaluation_dataset": "s3://eval-data/sets/",
        "candidates": {
            "base": {"model_id": BASE_MODEL, "predictions_uri": "s3://eval-data/p.jsonl"},
            "customized": "my-model",
            "baseline": {"model_id": BASE_MODEL},
        },
        "judge": {"model_id": JUDGE_MODEL},
        "results_uri": "s3://eval-data/results",
    }
    with pytest.raises(InvalidEvaluationRequestError) as raised:
        handler.lambda_handler(bad, LambdaContext())
    assert str(raised.value) == "; ".join(
        [
            "run_id: '' is not allowed; expected a non-empty string of at most 256 characters",
            "evaluation_dataset: 's3://eval-data/sets/' is not allowed; expected s3://bucket/key (an object, not "
            "ending in '/')",
            "candidates.base: keys ['model_id', 'predictions_uri'] are not allowed; expected exactly one of model_id "
            "(answers generated through Bedrock Converse) or predictions_uri (a predictions JSONL file)",
            "candidates.customized: 'my-model' is not allowed; expected an object {\"model_id\": ...} or "
            '{"predictions_uri": "s3://..."}',
            "candidates.baseline: not allowed; expected only base and customized",
            "judge.rubric: None is not allowed; expected a non-empty string",
            "results_uri: 's3://eval-data/results' is not allowed; expected s3://bucket/prefix/ (ending in '/')",
        ]
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"evaluation_dataset": "s3://Eval_Data/qa.jsonl"}, "the bucket name 'Eval_Data' is not a valid S3 bucket"),
        ({"evaluation_dataset": "/data/qa.jsonl"}, "evaluation_dataset: '/data/qa.jsonl' is not allowed; expected s3"),
        (
            {"candidates": {"base": {"model_id": BASE_MODEL}, "customized": {"predictions_uri": "eval-data/p.jsonl"}}},
            "candidates.customized.predictions_uri: 'eval-data/p.jsonl' is not allowed; expected s3://bucket/key",
        ),
        (
            {"results_uri": "s3://eval-data"},
            "results_uri: 's3://eval-data' is not allowed; expected s3://bucket/prefix/",
        ),
        ({"candidates": None}, "candidates: None is not allowed; expected an object with base and customized"),
        ({"judge": {"model_id": " ", "rubric": "r"}}, "judge.model_id: ' ' is not allowed; expected a non-empty"),
        ({"candidates": {"base": {"model_id": BASE_MODEL}}}, "candidates.customized: None is not allowed"),
        (
            {"run_id": "r" * 300},
            "run_id: '" + "r" * 76 + "... is not allowed; expected a non-empty string of at most 256",
        ),
    ],
)
def test_each_bad_field_is_named_with_its_value(stubs, overrides, message):
    with pytest.raises(InvalidEvaluationRequestError) as raised:
        handler.lambda_handler(event(**overrides), LambdaContext())
    assert message in str(raised.value)


def test_an_event_that_is_not_an_object_is_rejected(stubs):
    with pytest.raises(InvalidEvaluationRequestError, match=r"^event: \[\] is not allowed; expected an object with"):
        handler.lambda_handler([], LambdaContext())


def test_clients_are_created_once_per_container(monkeypatch):
    created: list[str] = []
    monkeypatch.setattr(handler, "_clients", {})
    monkeypatch.setattr(handler.boto3, "client", lambda service, config: created.append(service) or object())
    assert handler.client("s3") is handler.client("s3")
    assert handler.client("bedrock-runtime") is not handler.client("s3")
    assert created == ["s3", "bedrock-runtime"]
