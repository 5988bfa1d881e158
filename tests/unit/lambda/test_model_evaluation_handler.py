"""The evaluation's Lambda entry points end to end, with botocore's Stubber on real S3 and Bedrock Runtime clients:
the calls they make are checked against the service models, in order."""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "model-evaluation")

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from lambda_context import LambdaContext
from model_evaluation import handler
from model_evaluation.judge import JUDGE_SYSTEM_PROMPT, build_prompt
from model_evaluation.record_scoring import ModelUnreachableError, judged_first
from model_evaluation.request import InvalidEvaluationRequestError

BUCKET = "acme-artifacts"
BASE_MODEL = "amazon.nova-lite-v1:0"
CUSTOM_MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdefghij12"
JUDGE_MODEL = "amazon.nova-pro-v1:0"
RUBRIC = "5: correct and complete. 3: partly correct. 1: wrong or missing."
RECORD = {"id": "q1", "prompt": "What is the capital of France?", "reference": "Paris"}
BATCH_INPUT = {
    "run_id": "run-1",
    "candidates": {"base": {"model_id": BASE_MODEL}, "customized": {"model_id": CUSTOM_MODEL}},
    "judge": {"model_id": JUDGE_MODEL, "rubric": RUBRIC},
    "results_uri": f"s3://{BUCKET}/runs/run-1/output/evaluation/",
    "cache_uri": f"s3://{BUCKET}/evaluation-cache/base-answers/",
}


def converse_reply(text: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 100},
    }


def expect_answer(bedrock: Stubber, model: str, answer: str) -> None:
    bedrock.add_response(
        "converse",
        converse_reply(answer),
        {
            "modelId": model,
            "messages": [{"role": "user", "content": [{"text": RECORD["prompt"]}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0},
        },
    )


def expect_judge(bedrock: Stubber, answers: dict[str, str], grades: dict[str, int], wrapped: str = "{}") -> None:
    """One judge call grading both answers, in the order the run's seed gives this record."""
    first = judged_first(BATCH_INPUT["run_id"], RECORD["id"], ("base", "customized"))
    second = "customized" if first == "base" else "base"
    reply = json.dumps({"candidate_1": {"score": grades[first]}, "candidate_2": {"score": grades[second]}})
    prompt = build_prompt(RUBRIC, RECORD["prompt"], "Paris", answers[first], answers[second])
    bedrock.add_response(
        "converse",
        converse_reply(wrapped.format(reply) if wrapped != "{}" else reply),
        {
            "modelId": JUDGE_MODEL,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "system": [{"text": JUDGE_SYSTEM_PROMPT}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0},
        },
    )


def expect_cached(s3: Stubber, answer: str) -> None:
    cached = json.dumps({"model_id": BASE_MODEL, "answer": answer}).encode()
    s3.add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(cached), len(cached))}, {"Bucket": BUCKET, "Key": ANY}
    )


@pytest.fixture
def stubs(monkeypatch):
    """Stubbed clients in the handler's per-container cache; every queued response must be used."""
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    s3 = boto3.client("s3", **keys)
    bedrock = boto3.client("bedrock-runtime", **keys)
    monkeypatch.setitem(handler._clients, "s3", s3)
    monkeypatch.setitem(handler._clients, "bedrock-runtime per record", bedrock)
    monkeypatch.setattr(handler, "_databases", {})  # the container's downloader, made again on these clients
    written: list[dict] = []
    s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: written.append(dict(params)))
    with Stubber(s3) as s3_stub, Stubber(bedrock) as bedrock_stub:
        yield s3_stub, bedrock_stub, written
        s3_stub.assert_no_pending_responses()
        bedrock_stub.assert_no_pending_responses()


def test_a_batch_answers_judges_caches_the_base_answer_and_writes_its_details(stubs):
    s3, bedrock, written = stubs
    s3.add_client_error("get_object", "NoSuchKey", "no", 404, expected_params={"Bucket": BUCKET, "Key": ANY})
    expect_answer(bedrock, BASE_MODEL, "The capital is Paris.")
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": "application/json"})
    expect_answer(bedrock, CUSTOM_MODEL, "Paris")
    answers = {"base": "The capital is Paris.", "customized": "Paris"}
    expect_judge(bedrock, answers, {"base": 3, "customized": 5}, wrapped="Sure: ```{}```")
    s3.add_response(
        "put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": "application/x-ndjson"}
    )

    result = handler.batch_handler({"Items": [RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())

    [record] = result["records"]
    assert record["scores"]["customized"] == {"exact_match": 1.0, "token_f1": 1.0, "rouge_l": 1.0, "judge_score": 5.0}
    assert record["scores"]["base"]["judge_score"] == 3.0
    cache, details = written
    assert cache["Key"].startswith("evaluation-cache/base-answers/") and cache["Key"].endswith(".json")
    assert details["Key"].startswith("runs/run-1/output/evaluation/records/")
    assert result["details"] == f"s3://{BUCKET}/{details['Key']}"
    assert json.loads(details["Body"])["answers"] == {"base": "The capital is Paris.", "customized": "Paris"}


def test_a_cached_base_answer_is_not_asked_again(stubs):
    s3, bedrock, _ = stubs
    cached = json.dumps({"model_id": BASE_MODEL, "answer": "Paris"}).encode()
    s3.add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(cached), len(cached))}, {"Bucket": BUCKET, "Key": ANY}
    )
    expect_answer(bedrock, CUSTOM_MODEL, "Paris")
    expect_judge(bedrock, {"base": "Paris", "customized": "Paris"}, {"base": 5, "customized": 5})
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": ANY})

    result = handler.batch_handler({"Items": [RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())

    assert result["records"][0]["scores"]["base"]["exact_match"] == 1.0


def test_a_judge_reply_without_a_score_fails_the_record_not_the_batch(stubs):
    s3, bedrock, _ = stubs
    cached = json.dumps({"model_id": BASE_MODEL, "answer": "Paris"}).encode()
    s3.add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(cached), len(cached))}, {"Bucket": BUCKET, "Key": ANY}
    )
    expect_answer(bedrock, CUSTOM_MODEL, "Paris")
    bedrock.add_response("converse", converse_reply("I would say it is fine."))
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": ANY})

    result = handler.batch_handler({"Items": [RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())

    assert result["records"][0]["failure"].startswith("judge: judge reply: 'I would say it is fine.' is not allowed")


def test_a_model_nobody_may_call_fails_the_batch(stubs):
    s3, bedrock, _ = stubs
    s3.add_client_error("get_object", "NoSuchKey", "no", 404)
    bedrock.add_client_error("converse", "AccessDeniedException", "not authorized", 403)

    with pytest.raises(ModelUnreachableError, match="AccessDeniedException"):
        handler.batch_handler({"Items": [RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())


def test_a_bad_batch_input_is_rejected_before_any_call(stubs):
    with pytest.raises(InvalidEvaluationRequestError, match=r"BatchInput\.judge\.model_id"):
        handler.batch_handler({"Items": [RECORD], "BatchInput": {**BATCH_INPUT, "judge": {}}}, LambdaContext())


def test_the_report_rejects_an_event_without_the_maps_results(stubs):
    with pytest.raises(InvalidEvaluationRequestError, match=r"map.ResultWriterDetails"):
        handler.report_handler(
            {"run_id": "r", "results_uri": BATCH_INPUT["results_uri"], "map": {}, "thresholds": {}}, LambdaContext()
        )


def test_databases_are_downloaded_once_per_container_not_once_per_batch(monkeypatch, tmp_path):
    fetched: list[str] = []

    class Downloads:
        def download_file(self, bucket: str, key: str, path: str) -> None:
            fetched.append(key)
            open(path, "wb").close()

    monkeypatch.setattr(handler, "_databases", {})
    monkeypatch.setattr(handler, "DATABASES", tmp_path)
    monkeypatch.setitem(handler._clients, "s3", Downloads())
    for _ in range(3):  # three batches in one container
        handler.databases()("s3://acme-datasets/db/shop.sqlite")
    assert fetched == ["db/shop.sqlite"]


def test_clients_are_created_once_per_container(monkeypatch):
    created: list[str] = []
    monkeypatch.setattr(handler, "_clients", {})
    monkeypatch.setattr(handler.boto3, "client", lambda service, config: created.append(service) or object())
    assert handler.client("s3") is handler.client("s3")
    assert handler.client("bedrock-runtime") is not handler.client("s3")
    assert handler.client("bedrock-runtime", handler.RECORD_CLIENT_CONFIG) is not handler.client("bedrock-runtime")
    assert created == ["s3", "bedrock-runtime", "bedrock-runtime"]


WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            }
        },
    }
}
TOOL_RECORD = {
    "id": "t1",
    "prompt": "Weather in Paris?",
    "reference": '{"input": {"city": "Paris"}, "name": "get_weather"}',
    "tool_schema": WEATHER_TOOL,
}


def tool_reply(name: str, arguments: dict) -> dict:
    block = {"toolUse": {"toolUseId": "tooluse_1", "name": name, "input": arguments}}
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": "Let me check."}, block]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 100},
    }


def expect_tool_answer(bedrock: Stubber, model: str, reply: dict) -> None:
    bedrock.add_response(
        "converse",
        reply,
        {
            "modelId": model,
            "messages": [{"role": "user", "content": [{"text": TOOL_RECORD["prompt"]}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0},
            "toolConfig": {"tools": [WEATHER_TOOL]},
        },
    )


def test_a_record_with_a_tool_offers_it_and_checks_the_call_name_and_arguments(stubs):
    s3, bedrock, _ = stubs
    s3.add_client_error("get_object", "NoSuchKey", "no", 404)
    expect_tool_answer(bedrock, BASE_MODEL, tool_reply("get_weather", {"town": "Paris"}))  # wrong argument
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": "application/json"})
    expect_tool_answer(bedrock, CUSTOM_MODEL, tool_reply("get_weather", {"city": "Paris"}))
    grades = '{"candidate_1": {"score": 3}, "candidate_2": {"score": 3}}'
    bedrock.add_response("converse", converse_reply(grades))
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": ANY})

    result = handler.batch_handler({"Items": [TOOL_RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())

    scores = result["records"][0]["scores"]
    assert (scores["base"]["tool_call_valid"], scores["customized"]["tool_call_valid"]) == (0.0, 1.0)
    assert scores["customized"]["exact_match"] == 1.0  # the call, as JSON with sorted keys, is the reference


def test_a_tool_call_the_model_cannot_form_is_an_invalid_call_not_a_lost_record(stubs):
    s3, bedrock, _ = stubs
    s3.add_client_error("get_object", "NoSuchKey", "no", 404)
    bedrock.add_client_error(
        "converse", "ModelErrorException", "Model produced invalid sequence as part of ToolUse", 424
    )
    # Not cached (no put_object here): a model error once is not the base model's answer for every later run.
    expect_tool_answer(bedrock, CUSTOM_MODEL, tool_reply("get_weather", {"city": "Paris"}))
    grades = '{"candidate_1": {"score": 1}, "candidate_2": {"score": 5}}'
    bedrock.add_response("converse", converse_reply(grades))
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": ANY})

    result = handler.batch_handler({"Items": [TOOL_RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())

    assert result["records"][0]["scores"]["base"]["tool_call_valid"] == 0.0


def test_a_model_error_that_is_not_a_tool_call_fails_the_record_not_the_model(stubs):
    s3, bedrock, _ = stubs
    s3.add_client_error("get_object", "NoSuchKey", "no", 404)
    bedrock.add_client_error("converse", "ModelErrorException", "The model returned an error", 424)
    s3.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": ANY})

    result = handler.batch_handler({"Items": [TOOL_RECORD], "BatchInput": BATCH_INPUT}, LambdaContext())

    assert result["records"][0]["failure"].startswith("base: ModelErrorException")
