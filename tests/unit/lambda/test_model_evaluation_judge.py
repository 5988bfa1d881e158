"""The judge and answer generation through Converse, against botocore's Stubber."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from model_evaluation.judge import (
    JUDGE_SYSTEM_PROMPT,
    JudgeReplyError,
    Verdict,
    build_prompt,
    generate,
    judge,
    parse_reply,
)

JUDGE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BASE = "amazon.nova-lite-v1:0"


def converse_reply(*texts: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text} for text in texts]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 100},
    }


@pytest.fixture
def bedrock():
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_generate_asks_the_model_once_greedily_and_joins_its_text(bedrock):
    client, stubber = bedrock
    stubber.add_response(
        "converse",
        converse_reply("Paris", " is the capital."),
        {
            "modelId": BASE,
            "messages": [{"role": "user", "content": [{"text": "Capital of France?"}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0},
        },
    )
    assert generate(client, BASE, "Capital of France?") == "Paris is the capital."


def test_judge_sends_rubric_question_reference_and_candidate_with_the_system_prompt(bedrock):
    client, stubber = bedrock
    prompt = build_prompt("Reward correctness.", "Capital of France?", "Paris", "Lyon")
    stubber.add_response(
        "converse",
        converse_reply('{"score": 1, "reason": "Wrong city."}'),
        {
            "modelId": JUDGE,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "system": [{"text": JUDGE_SYSTEM_PROMPT}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0},
        },
    )
    assert judge(client, JUDGE, "Reward correctness.", "Capital of France?", "Paris", "Lyon") == Verdict(
        1, "Wrong city."
    )
    for part in ("<rubric>\nReward correctness.\n</rubric>", "<reference>\nParis\n</reference>", "<candidate>\nLyon"):
        assert part in prompt


def test_a_judge_reply_without_a_score_raises_judge_reply_error(bedrock):
    client, stubber = bedrock
    stubber.add_response("converse", converse_reply("The answer looks fine to me."))
    with pytest.raises(JudgeReplyError, match=r"judge reply: 'The answer looks fine to me.' is not allowed; expected"):
        judge(client, JUDGE, "rubric", "q", "r", "c")


def test_throttling_reaches_the_caller_as_a_client_error(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    with pytest.raises(ClientError) as raised:
        judge(client, JUDGE, "rubric", "q", "r", "c")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 4, "reason": "Mostly right."}', Verdict(4, "Mostly right.")),
        ('```json\n{"score": 5, "reason": "Exact."}\n```', Verdict(5, "Exact.")),
        ('Here is my grade: {"reason": "Close.", "score": "3"} Hope that helps.', Verdict(3, "Close.")),
        ('{"score": 2.0}', Verdict(2, "")),  # integral float; no reason given
        ('{"grade": {"score": 1, "reason": "Off topic."}}', Verdict(1, "Off topic.")),  # nested
        ('{"note": "draft"} then {"score": 5, "reason": "ok"}', Verdict(5, "ok")),  # first object has no score
    ],
)
def test_replies_are_parsed_from_bare_json_fences_and_prose(reply, expected):
    assert parse_reply(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Score: 4",
        '{"score": 6, "reason": "great"}',
        '{"score": 0}',
        '{"score": 4.5}',
        '{"score": true}',
        '{"score": "four"}',
        '{"score": 4',  # cut off at maxTokens
    ],
)
def test_replies_without_a_valid_score_are_rejected(reply):
    with pytest.raises(JudgeReplyError, match=r'expected a JSON object \{"score": <integer 1-5>'):
        parse_reply(reply)
