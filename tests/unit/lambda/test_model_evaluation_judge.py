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


PAIR = '{"candidate_1": {"score": 1, "reason": "Wrong city."}, "candidate_2": {"score": 5, "reason": "Right."}}'


def test_judge_grades_both_candidates_in_one_call_in_the_order_asked(bedrock):
    client, stubber = bedrock
    answers = {"base": "Paris", "customized": "Lyon"}
    prompt = build_prompt("Reward correctness.", "Capital of France?", "Paris", "Lyon", "Paris")
    stubber.add_response(
        "converse",
        converse_reply(PAIR),
        {
            "modelId": JUDGE,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "system": [{"text": JUDGE_SYSTEM_PROMPT}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0},
        },
    )

    verdicts = judge(client, JUDGE, "Reward correctness.", "Capital of France?", "Paris", answers, "customized")

    assert verdicts == {"customized": Verdict(1, "Wrong city."), "base": Verdict(5, "Right.")}
    for part in ("<rubric>\nReward correctness.\n</rubric>", "<candidate_1>\nLyon", "<candidate_2>\nParis"):
        assert part in prompt


def test_a_judge_reply_without_both_scores_raises_judge_reply_error(bedrock):
    client, stubber = bedrock
    stubber.add_response("converse", converse_reply('{"candidate_1": {"score": 4}}'))
    with pytest.raises(JudgeReplyError, match=r"judge reply: .* is not allowed; expected a JSON object"):
        judge(client, JUDGE, "rubric", "q", "r", {"base": "a", "customized": "b"}, "base")


def test_throttling_reaches_the_caller_as_a_client_error(bedrock):
    client, stubber = bedrock
    stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    with pytest.raises(ClientError) as raised:
        judge(client, JUDGE, "rubric", "q", "r", {"base": "a", "customized": "b"}, "base")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


def pair(first: str, second: str) -> str:
    return f'{{"candidate_1": {first}, "candidate_2": {second}}}'


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            pair('{"score": 4, "reason": "Mostly right."}', '{"score": 2}'),
            (Verdict(4, "Mostly right."), Verdict(2, "")),
        ),
        ("```json\n" + pair('{"score": 5}', '{"score": "3"}') + "\n```", (Verdict(5, ""), Verdict(3, ""))),
        (
            "My grades: " + pair('{"score": 2.0}', '{"score": 1}') + " Hope that helps.",
            (Verdict(2, ""), Verdict(1, "")),
        ),
        ('{"grades": ' + pair('{"score": 1}', '{"score": 5}') + "}", (Verdict(1, ""), Verdict(5, ""))),  # nested
        ('{"note": "draft"} then ' + pair('{"score": 5}', '{"score": 4}'), (Verdict(5, ""), Verdict(4, ""))),
    ],
)
def test_replies_are_parsed_from_bare_json_fences_and_prose(reply, expected):
    assert parse_reply(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Candidate 1: 4, candidate 2: 5",
        pair('{"score": 6}', '{"score": 4}'),
        pair('{"score": 0}', '{"score": 4}'),
        pair('{"score": 4.5}', '{"score": 4}'),
        pair('{"score": true}', '{"score": 4}'),
        pair('{"score": "four"}', '{"score": 4}'),
        '{"candidate_1": {"score": 4}',  # cut off at maxTokens
        '{"score": 4, "reason": "a single grade"}',
    ],
)
def test_replies_without_both_valid_scores_are_rejected(reply):
    with pytest.raises(JudgeReplyError, match=r'expected a JSON object \{"candidate_1": \{"score": <integer 1-5>'):
        parse_reply(reply)
