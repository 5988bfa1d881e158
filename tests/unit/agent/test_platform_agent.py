"""The agent, offline: a scripted model, a fake gateway transport and a stubbed memory client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.stub import ANY, Stubber
from platform_agent.agent import WEATHER_TOOL, build_agent
from platform_agent.gateway import GatewayClient, GatewayError, sigv4_signer
from platform_agent.memory import MemoryHooks
from strands.models import Model

CREDENTIALS = Credentials("AKIATEST", "secret")


def unsigned(url, body, headers):
    return headers


class ScriptedModel(Model):
    """Asks for the weather tool once, then answers with whatever the tool returned."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    def update_config(self, **_: Any) -> None: ...

    def get_config(self) -> dict[str, Any]:
        return {}

    async def structured_output(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def stream(self, messages, tool_specs=None, system_prompt=None, **kwargs) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(messages)
        results = [block["toolResult"] for m in messages for block in m["content"] if "toolResult" in block]
        yield {"messageStart": {"role": "assistant"}}
        if not results:
            yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t1", "name": "get_weather"}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps({"city": "Paris"})}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
            return
        tool_text = results[-1]["content"][0]["text"]
        yield {"contentBlockDelta": {"delta": {"text": f"According to the weather tool: {tool_text}"}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


class FakeGateway:
    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> bytes:
        self.requests.append((url, json.loads(body), headers))
        return json.dumps(self.reply).encode()


SUNNY = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "Paris: 21 C, sunny"}]}}


@pytest.fixture
def memory():
    client = boto3.client(
        "bedrock-agentcore", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber


def test_agent_calls_the_gateway_tool_records_memory_and_answers_with_the_result(memory):
    client, stubber = memory
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "alice", "sessionId": "s-1"}
    stubber.add_response(
        "list_events",
        {
            "events": [
                {
                    **keys,
                    "eventId": "e-0",
                    "eventTimestamp": "2026-11-24T10:00:00Z",
                    "payload": [{"conversational": {"content": {"text": "I live in Paris."}, "role": "USER"}}],
                }
            ]
        },
        {**keys, "includePayloads": True, "maxResults": 10},
    )
    for role, text in (("USER", "Weather?"), ("ASSISTANT", "According to the weather tool: Paris: 21 C, sunny")):
        stubber.add_response(
            "create_event",
            {"event": {**keys, "eventId": f"e-{role}", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
            {**keys, "eventTimestamp": ANY, "payload": [{"conversational": {"content": {"text": text}, "role": role}}]},
        )
    transport = FakeGateway(SUNNY)
    model = ScriptedModel()
    agent = build_agent(
        model,
        GatewayClient("https://gw.example/mcp", sigv4_signer(CREDENTIALS, "us-east-1"), post=transport),
        MemoryHooks(client, "platform_memory-a1b2c3d4e5", "alice", "s-1"),
    )

    answer = str(agent("Weather?"))

    assert "Paris: 21 C, sunny" in answer
    [(url, request, headers)] = transport.requests
    assert url == "https://gw.example/mcp"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIATEST/")
    assert "/us-east-1/bedrock-agentcore/aws4_request" in headers["Authorization"]
    assert request["method"] == "tools/call"
    assert request["params"] == {"name": WEATHER_TOOL, "arguments": {"city": "Paris"}}
    assert model.calls[0][0] == {"role": "user", "content": [{"text": "I live in Paris."}]}  # restored memory
    stubber.assert_no_pending_responses()


def test_gateway_errors_surface_with_the_tool_name():
    client = GatewayClient(
        "https://gw.example/mcp",
        unsigned,
        post=FakeGateway({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "Unknown tool"}}),
    )
    with pytest.raises(GatewayError, match=f"tool {WEATHER_TOOL}: Unknown tool"):
        client.call_tool(WEATHER_TOOL, {"city": "Paris"})


def test_tool_failures_surface_with_their_text():
    reply = {"jsonrpc": "2.0", "id": 1, "result": {"isError": True, "content": [{"type": "text", "text": "no city"}]}}
    client = GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(reply))
    with pytest.raises(GatewayError, match="failed: no city"):
        client.call_tool(WEATHER_TOOL, {"city": ""})
