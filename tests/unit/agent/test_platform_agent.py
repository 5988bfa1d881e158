"""The agent, offline: a scripted model, a fake gateway transport and a stubbed memory client."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.stub import ANY, Stubber
from platform_agent.agent import build_agent
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
        self.system_prompts: list[str | None] = []

    def update_config(self, **_: Any) -> None: ...

    def get_config(self) -> dict[str, Any]:
        return {}

    async def structured_output(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def stream(self, messages, tool_specs=None, system_prompt=None, **kwargs) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(messages)
        self.offered = [spec["name"] for spec in tool_specs or []]
        self.system_prompts.append(system_prompt)
        results = [block["toolResult"] for m in messages for block in m["content"] if "toolResult" in block]
        yield {"messageStart": {"role": "assistant"}}
        if not results:
            yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t1", "name": WEATHER_TOOL}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps({"city": "Paris"})}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
            return
        tool_text = results[-1]["content"][0]["text"]
        yield {"contentBlockDelta": {"delta": {"text": f"According to the weather tool: {tool_text}"}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


WEATHER_TOOL = "weather___get_weather"  # <gateway target>___<tool>, as the gateway names target tools
WEATHER_SPEC = {
    "name": WEATHER_TOOL,
    "description": "Current weather for a city",
    "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class FakeGateway:
    """An MCP server as the gateway is one: initialize, tools/list in pages, tools/call answered with ``reply``."""

    def __init__(self, reply: dict[str, Any], tool_pages: list[list[dict[str, Any]]] | None = None, sse=False):
        self.reply = reply
        self.tool_pages = tool_pages if tool_pages is not None else [[WEATHER_SPEC]]
        self.sse = sse
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> bytes:
        request = json.loads(body)
        self.requests.append((url, request, headers))
        method = request["method"]
        if method == "notifications/initialized":
            return b""
        if method == "initialize":
            result: dict[str, Any] = {"protocolVersion": "2025-03-26", "capabilities": {"tools": {}}}
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        elif method == "tools/list":
            page = int(request["params"].get("cursor", "0"))
            result = {"tools": self.tool_pages[page]}
            if page + 1 < len(self.tool_pages):
                result["nextCursor"] = str(page + 1)
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        else:
            reply = {**self.reply, "id": request["id"]}
        text = json.dumps(reply)
        return (f"event: message\ndata: {text}\n\n" if self.sse else text).encode()

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [request for _, request, _ in self.requests if request["method"] == method]


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
                },
                {
                    **keys,
                    "eventId": "e-1",
                    "eventTimestamp": "2026-11-24T10:00:05Z",
                    "payload": [{"conversational": {"content": {"text": "Noted."}, "role": "ASSISTANT"}}],
                },
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
    methods = [request["method"] for _, request, _ in transport.requests]
    assert methods == ["initialize", "notifications/initialized", "tools/list", "tools/call"]
    for url, _, headers in transport.requests:
        assert url == "https://gw.example/mcp"
        assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIATEST/")
        assert "/us-east-1/bedrock-agentcore/aws4_request" in headers["Authorization"]
    [call] = transport.calls("tools/call")
    assert call["params"] == {"name": WEATHER_TOOL, "arguments": {"city": "Paris"}}
    assert model.calls[0][:2] == [turn("user", "I live in Paris."), turn("assistant", "Noted.")]  # restored memory
    stubber.assert_no_pending_responses()


def test_every_target_the_gateway_lists_is_offered_to_the_model_across_pages():
    """A target added to the gateway later appears through tools/list, with no change to the agent's code."""
    calendar = {"name": "calendar___next_event", "description": "The next event", "inputSchema": {"type": "object"}}
    transport = FakeGateway(SUNNY, tool_pages=[[WEATHER_SPEC], [calendar]], sse=True)
    model = ScriptedModel()
    agent = build_agent(model, GatewayClient("https://gw.example/mcp", unsigned, post=transport), None)

    assert "Paris: 21 C, sunny" in str(agent("Weather?"))
    assert model.offered == [WEATHER_TOOL, "calendar___next_event"]
    assert [r["params"] for r in transport.calls("tools/list")] == [{}, {"cursor": "1"}]
    assert len(transport.calls("initialize")) == 1  # once per client


def test_a_tool_error_reaches_the_model_as_an_error_result_not_a_crash():
    failing = {"jsonrpc": "2.0", "id": 1, "result": {"isError": True, "content": [{"type": "text", "text": "no city"}]}}
    model = ScriptedModel()
    agent = build_agent(model, GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(failing)), None)

    assert "no city" in str(agent("Weather?"))  # the scripted model repeats the tool result it was given


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


# --- memory keeps Converse's rules; the user is the token's -----------------------------------------------------


def turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"text": text}]}


def test_restored_turns_alternate_whatever_the_events_were():
    """A text-plus-tool-call turn leaves two assistant events; a failed model call leaves a user turn unanswered."""
    from platform_agent.memory import alternating

    stored = [
        turn("assistant", "left over from before"),
        turn("user", "Weather in Paris?"),
        turn("assistant", "Let me check."),
        turn("assistant", "21 C, sunny."),
        turn("user", "And tomorrow?"),  # the model call failed: never answered
    ]
    assert alternating(stored) == [turn("user", "Weather in Paris?"), turn("assistant", "Let me check.\n21 C, sunny.")]


def test_the_model_receives_alternating_roles_after_a_failed_call_and_a_split_turn(memory):
    client, stubber = memory
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "alice", "sessionId": "s-1"}
    events = [
        ("USER", "Weather in Paris?"),
        ("ASSISTANT", "Let me check."),
        ("ASSISTANT", "21 C, sunny."),
        ("USER", "And tomorrow?"),
    ]
    stubber.add_response(
        "list_events",
        {
            "events": [
                {
                    **keys,
                    "eventId": f"e-{i}",
                    "eventTimestamp": f"2026-11-24T10:0{i}:00Z",
                    "payload": [{"conversational": {"content": {"text": text}, "role": role}}],
                }
                for i, (role, text) in enumerate(events)
            ]
        },
        {**keys, "includePayloads": True, "maxResults": 10},
    )
    for _ in range(2):  # this turn's user prompt and final answer
        stubber.add_response(
            "create_event",
            {"event": {**keys, "eventId": "e-new", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
        )
    model = ScriptedModel()
    agent = build_agent(
        model,
        GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(SUNNY)),
        MemoryHooks(client, "platform_memory-a1b2c3d4e5", "alice", "s-1"),
    )

    agent("Weather?")

    for messages in model.calls:
        roles = [message["role"] for message in messages]
        assert roles[0] == "user" and all(a != b for a, b in itertools.pairwise(roles)), roles


def bearer(claims: dict[str, Any]) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"Bearer {part({'alg': 'RS256'})}.{part(claims)}.signature"


def test_the_user_is_the_verified_tokens_subject_not_a_name_in_the_body():
    from platform_agent.identity import actor_id

    assert actor_id({"Authorization": bearer({"sub": "a1b2-c3d4", "aud": "x"})}) == "a1b2-c3d4"
    assert actor_id({"authorization": bearer({"sub": "user@example.com"})}) == "user_example_com"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no bearer token"),
        ({"Authorization": "Basic abc"}, "no bearer token"),
        ({"Authorization": bearer({"aud": "x"})}, "no sub claim"),
        ({"Authorization": "Bearer a.%%%.c"}, "not JSON"),
        ({"Authorization": bearer({"sub": "a1", "token_use": "id"})}, "token_use 'id'; expected an access token"),
    ],
)
def test_a_request_without_a_verified_user_is_refused(headers, reason):
    from platform_agent.identity import UnknownUserError, actor_id

    with pytest.raises(UnknownUserError, match=reason):
        actor_id(headers)


def test_the_container_listens_where_the_runtime_can_reach_it():
    """BedrockAgentCoreApp.run() binds 0.0.0.0 only in a container it recognises (DOCKER_CONTAINER)."""
    from pathlib import Path

    dockerfile = (Path(__file__).resolve().parents[3] / "agent" / "Dockerfile").read_text()
    assert "\nENV DOCKER_CONTAINER=1\n" in dockerfile


def test_an_invocation_emits_spans_for_the_agent_the_model_and_the_tool():
    """What opentelemetry-instrument exports in the container: Strands' spans, here caught in memory."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the process's first real provider (the proxy's tracers follow it)
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agent = build_agent(
        ScriptedModel(), GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(SUNNY)), None
    )

    agent("Weather?")

    names = [span.name for span in exporter.get_finished_spans()]
    assert any(name.startswith("invoke_agent") for name in names), names
    assert any(name.startswith("chat") for name in names), names
    assert any(WEATHER_TOOL in name for name in names), names


def test_long_term_records_of_this_user_are_put_into_the_prompt(memory):
    """The strategies' namespace templates (GetMemory) are filled with this actor and session, and the records nearest
    to the user's message come back into the system prompt: what the strategies learnt is used."""
    from platform_agent.memory import LongTermRecall

    client, stubber = memory
    control = boto3.client(
        "bedrock-agentcore-control", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "sub-alice", "sessionId": "s-1"}
    stubber.add_response("list_events", {"events": []}, {**keys, "includePayloads": True, "maxResults": 10})
    namespaces = {
        "/strategies/semantic-abc12345/actors/sub-alice": "Lives in Paris.",
        "/strategies/summary-abc12345/actors/sub-alice/sessions/s-1": "Asked about the weather before.",
    }
    for namespace, text in sorted(namespaces.items()):
        stubber.add_response(
            "retrieve_memory_records",
            {
                "memoryRecordSummaries": [
                    {
                        "memoryRecordId": "r" * 40,
                        "content": {"text": text},
                        "memoryStrategyId": "semantic-abc12345",
                        "namespaces": [namespace],
                        "createdAt": "2026-11-24T10:00:00Z",
                    }
                ]
            },
            {
                "memoryId": keys["memoryId"],
                "namespace": namespace,
                "searchCriteria": {"searchQuery": "Weather?", "topK": 3},
            },
        )
    for _ in range(2):
        stubber.add_response(
            "create_event",
            {"event": {**keys, "eventId": "e-new", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
        )
    strategies = [
        {
            "strategyId": "semantic-abc12345",
            "name": "semantic",
            "type": "SEMANTIC",
            "namespaces": ["/strategies/{memoryStrategyId}/actors/{actorId}"],
            "namespaceTemplates": ["/strategies/{memoryStrategyId}/actors/{actorId}"],
        },
        {
            "strategyId": "summary-abc12345",
            "name": "summary",
            "type": "SUMMARIZATION",
            "namespaces": ["/strategies/{memoryStrategyId}/actors/{actorId}/sessions/{sessionId}"],
            "namespaceTemplates": ["/strategies/{memoryStrategyId}/actors/{actorId}/sessions/{sessionId}"],
        },
    ]
    with Stubber(control) as control_stub:
        control_stub.add_response(
            "get_memory",
            {
                "memory": {
                    "arn": "arn:aws:bedrock-agentcore:us-east-1:111111111111:memory/platform_memory-a1b2c3d4e5",
                    "id": keys["memoryId"],
                    "name": "platform_memory",
                    "eventExpiryDuration": 30,
                    "status": "ACTIVE",
                    "createdAt": "2026-11-01T00:00:00Z",
                    "updatedAt": "2026-11-01T00:00:00Z",
                    "strategies": strategies,
                }
            },
            {"memoryId": keys["memoryId"]},
        )
        model = ScriptedModel()
        recall = LongTermRecall(client, control, keys["memoryId"])
        agent = build_agent(
            model,
            GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(SUNNY)),
            MemoryHooks(client, keys["memoryId"], "sub-alice", "s-1", long_term=recall),
        )
        agent("Weather?")
        control_stub.assert_no_pending_responses()
    stubber.assert_no_pending_responses()
    prompt = model.system_prompts[0] or ""
    assert "What you remember about this user:\n- Lives in Paris.\n- Asked about the weather before." in prompt


def test_a_runtime_session_id_memory_would_refuse_is_named_by_its_digest():
    """The runtime allows 33-256 characters; memory at most 100 of letters, digits, '-' and '_'."""
    from platform_agent import main

    ordinary = "session-" + "a" * 36
    assert main.memory_session(ordinary) == ordinary
    long = "x" * 200
    assert main.memory_session(long).startswith("s-") and len(main.memory_session(long)) == 66
    assert main.memory_session("has spaces and : colons " * 2) != "has spaces and : colons " * 2


def test_a_long_term_memory_failure_leaves_the_turn_to_go_on(memory):
    from platform_agent.memory import LongTermRecall

    client, stubber = memory
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "sub-alice", "sessionId": "s-1"}
    stubber.add_response("list_events", {"events": []}, {**keys, "includePayloads": True, "maxResults": 10})
    for _ in range(2):
        stubber.add_response(
            "create_event",
            {"event": {**keys, "eventId": "e-new", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
        )
    control = boto3.client(
        "bedrock-agentcore-control", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(control) as control_stub:
        control_stub.add_client_error("get_memory", "AccessDeniedException", "not authorized", 403)
        agent = build_agent(
            ScriptedModel(),
            GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(SUNNY)),
            MemoryHooks(
                client,
                keys["memoryId"],
                "sub-alice",
                "s-1",
                long_term=LongTermRecall(client, control, keys["memoryId"]),
            ),
        )
        assert "Paris: 21 C, sunny" in str(agent("Weather?"))


def test_a_tool_name_converse_would_refuse_is_left_out_not_sent():
    long_name = {"name": "a" * 40 + "___" + "b" * 30, "description": "too long", "inputSchema": {"type": "object"}}
    model = ScriptedModel()
    agent = build_agent(
        model,
        GatewayClient("https://gw.example/mcp", unsigned, post=FakeGateway(SUNNY, [[WEATHER_SPEC, long_name]])),
        None,
    )
    agent("Weather?")
    assert model.offered == [WEATHER_TOOL]


def test_events_of_one_instant_are_restored_in_the_order_they_were_written_and_long_turns_recorded_in_part(memory):
    from types import SimpleNamespace

    from platform_agent.memory import MAX_EVENT_TEXT

    client, stubber = memory
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "sub-alice", "sessionId": "s-1"}

    def event(event_id: str, role: str, text: str) -> dict[str, Any]:
        return {
            **keys,
            "eventId": event_id,
            "eventTimestamp": "2026-11-24T10:00:00Z",  # one instant
            "payload": [{"conversational": {"content": {"text": text}, "role": role}}],
        }

    stubber.add_response(
        "list_events",
        {"events": [event("0000002", "ASSISTANT", "Sunny."), event("0000001", "USER", "Weather?")]},
        {**keys, "includePayloads": True, "maxResults": 10},
    )
    long_answer = "x" * (MAX_EVENT_TEXT + 10)
    stubber.add_response(
        "create_event",
        {"event": {**keys, "eventId": "e-new", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
        {
            **keys,
            "eventTimestamp": ANY,
            "payload": [{"conversational": {"content": {"text": "x" * MAX_EVENT_TEXT}, "role": "ASSISTANT"}}],
        },
    )
    hooks = MemoryHooks(client, keys["memoryId"], "sub-alice", "s-1")
    agent = SimpleNamespace(messages=[], system_prompt="base")
    hooks.restore(SimpleNamespace(agent=agent))
    hooks.record(SimpleNamespace(agent=agent, message={"role": "assistant", "content": [{"text": long_answer}]}))

    assert agent.messages == [turn("user", "Weather?"), turn("assistant", "Sunny.")]
    stubber.assert_no_pending_responses()


def test_the_entrypoint_answers_as_the_tokens_user_with_memory_and_gateway(memory, monkeypatch):
    """main.invoke as the runtime calls it: the user from the verified token, not the body; memory, the gateway's
    tools and the served model wired from the runtime's environment."""
    from types import SimpleNamespace

    from platform_agent import main

    client, stubber = memory
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "sub-alice", "sessionId": "session-" + "a" * 36}
    stubber.add_response("list_events", {"events": []}, {**keys, "includePayloads": True, "maxResults": 10})
    for _ in range(2):
        stubber.add_response(
            "create_event",
            {"event": {**keys, "eventId": "e-new", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
            {**keys, "eventTimestamp": ANY, "payload": ANY},
        )
    monkeypatch.setenv("BEDROCK_AGENTCORE_MEMORY_ID", keys["memoryId"])
    monkeypatch.setenv("MODEL_ARN", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0")
    monkeypatch.setenv("GATEWAY_URL", "https://gw.example/mcp")
    models: list[dict[str, Any]] = []
    monkeypatch.setattr(main, "BedrockModel", lambda **settings: models.append(settings) or ScriptedModel())
    monkeypatch.setattr(main, "GatewayClient", lambda url, sign: GatewayClient(url, unsigned, post=FakeGateway(SUNNY)))
    monkeypatch.setattr(main, "_memory_client", client)
    monkeypatch.setattr(main, "_recall", None)
    monkeypatch.setattr(main, "LongTermRecall", lambda *args: None)  # covered on its own above
    monkeypatch.setattr(main, "_session", SimpleNamespace(client=lambda service: client, get_credentials=lambda: None))
    context = SimpleNamespace(
        session_id=keys["sessionId"], request_headers={"Authorization": bearer({"sub": "sub-alice"})}
    )

    answer = main.invoke({"prompt": "Weather?", "user_id": "mallory"}, context)

    assert "Paris: 21 C, sunny" in answer["answer"]
    assert models == [
        {"model_id": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", "region_name": main.REGION}
    ]
    stubber.assert_no_pending_responses()  # every memory call named actor sub-alice (the Stubber checked), not mallory
