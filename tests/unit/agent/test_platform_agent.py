"""The agent, offline: a scripted model, a fake gateway (a real MCP server on localhost) and stubbed AWS clients."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from gateway_fake import FakeGateway
from mcp.server.mcpserver.exceptions import ToolError
from platform_agent.agent import build_agent
from platform_agent.gateway import gateway_tools
from platform_agent.memory import MemoryHooks
from strands.models import Model


class ScriptedModel(Model):
    """Asks for the weather tool once, then answers with whatever the tool returned."""

    def __init__(self, city: str = "Paris") -> None:
        self.city = city
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
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps({"city": self.city})}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
            return
        tool_text = results[-1]["content"][0]["text"]
        yield {"contentBlockDelta": {"delta": {"text": f"According to the weather tool: {tool_text}"}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


WEATHER_TOOL = "weather___get_weather"  # <gateway target>___<tool>, as the gateway names target tools


def get_weather(city: str) -> str:
    """Current weather for a city"""
    if not city:
        raise ToolError("no city")
    return f"{city}: 21 C, sunny"


@pytest.fixture(scope="module")
def running_gateway():
    gateway = FakeGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture
def gateway(running_gateway):
    """The gateway with the weather target only; ``tools()`` is the agent's MCP client for it."""
    running_gateway.reset({WEATHER_TOOL: get_weather})
    running_gateway.tools = lambda: gateway_tools(running_gateway.url, running_gateway.accepted_token)
    return running_gateway


@pytest.fixture
def memory():
    client = boto3.client(
        "bedrock-agentcore", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber


def test_agent_calls_the_gateway_tool_records_memory_and_answers_with_the_result(memory, gateway):
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
    model = ScriptedModel()
    agent = build_agent(model, gateway.tools(), MemoryHooks(client, "platform_memory-a1b2c3d4e5", "alice", "s-1"))

    answer = str(agent("Weather?"))
    agent.cleanup()

    assert "Paris: 21 C, sunny" in answer
    # The gateway answers the mcp 2 client's server/discover probe as a 2025 server does; the client falls back to the
    # initialize handshake.
    assert gateway.methods() == [
        "server/discover",
        "initialize",
        "notifications/initialized",
        "tools/list",
        "tools/call",
    ]
    assert {authorization for authorization, _, _ in gateway.requests} == {"Bearer gateway-token"}
    [handshake] = [params for _, method, params in gateway.requests if method == "initialize"]
    assert handshake["protocolVersion"] in gateway.versions  # one the deployed gateway is configured to take
    [call] = [params for _, method, params in gateway.requests if method == "tools/call"]
    assert (call["name"], call["arguments"]) == (WEATHER_TOOL, {"city": "Paris"})
    assert model.calls[0][:2] == [turn("user", "I live in Paris."), turn("assistant", "Noted.")]  # restored memory
    stubber.assert_no_pending_responses()


def test_a_target_added_to_the_gateway_is_offered_to_the_next_invocation_without_a_code_change(gateway):
    """tools/list drives the tool set: the agent's code names no tool."""
    model = ScriptedModel()
    first = build_agent(model, gateway.tools(), None)
    first("Weather?")
    first.cleanup()
    assert model.offered == [WEATHER_TOOL]

    def next_event() -> str:
        """The next event in the calendar"""
        return "stand-up at 9"

    gateway.add("calendar___next_event", next_event)
    second = build_agent(model, gateway.tools(), None)
    second("Weather?")
    second.cleanup()
    assert sorted(model.offered) == ["calendar___next_event", WEATHER_TOOL]


def test_a_tool_error_reaches_the_model_as_an_error_result_not_a_crash(gateway):
    model = ScriptedModel(city="")
    agent = build_agent(model, gateway.tools(), None)

    answer = str(agent("Weather?"))
    agent.cleanup()

    assert "no city" in answer  # the scripted model repeats the tool result it was given
    [result] = [block["toolResult"] for m in model.calls[-1] for block in m["content"] if "toolResult" in block]
    assert result["status"] == "error"


def test_a_gateway_that_refuses_the_token_fails_the_invocation_rather_than_answering_without_tools(gateway):
    with pytest.raises(ValueError, match="Failed to start MCP client"):
        build_agent(ScriptedModel(), gateway_tools(gateway.url, "someone-elses-token"), None)
    assert {authorization for authorization, _, _ in gateway.requests} == {"Bearer someone-elses-token"}


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


def test_the_model_receives_alternating_roles_after_a_failed_call_and_a_split_turn(memory, gateway):
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
    agent = build_agent(model, gateway.tools(), MemoryHooks(client, "platform_memory-a1b2c3d4e5", "alice", "s-1"))

    agent("Weather?")
    agent.cleanup()

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


def test_an_invocation_emits_spans_for_the_agent_the_model_and_the_tool(gateway):
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
    agent = build_agent(ScriptedModel(), gateway.tools(), None)

    agent("Weather?")
    agent.cleanup()

    names = [span.name for span in exporter.get_finished_spans()]
    assert any(name.startswith("invoke_agent") for name in names), names
    assert any(name.startswith("chat") for name in names), names
    assert any(WEATHER_TOOL in name for name in names), names


def test_long_term_records_of_this_user_are_put_into_the_prompt(memory, gateway):
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
            model, gateway.tools(), MemoryHooks(client, keys["memoryId"], "sub-alice", "s-1", long_term=recall)
        )
        agent("Weather?")
        agent.cleanup()
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


def test_a_long_term_memory_failure_leaves_the_turn_to_go_on(memory, gateway):
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
            gateway.tools(),
            MemoryHooks(
                client,
                keys["memoryId"],
                "sub-alice",
                "s-1",
                long_term=LongTermRecall(client, control, keys["memoryId"]),
            ),
        )
        assert "Paris: 21 C, sunny" in str(agent("Weather?"))


def test_a_tool_name_converse_would_refuse_is_left_out_not_sent(gateway):
    gateway.add("a" * 40 + "___" + "b" * 30, get_weather)
    model = ScriptedModel()
    agent = build_agent(model, gateway.tools(), None)
    agent("Weather?")
    agent.cleanup()
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


def test_the_entrypoint_answers_as_the_tokens_user_with_memory_and_the_gateway_token_from_identity(
    memory, gateway, monkeypatch
):
    """The app over HTTP, as the runtime calls it: the user from the verified token, not the body; the gateway's token
    obtained from AgentCore Identity with the workload access token the runtime sent (client-credentials grant through
    the provider named in the environment); memory and the served model wired from the environment."""
    from types import SimpleNamespace

    import bedrock_agentcore.services.identity as identity_service
    from platform_agent import main
    from starlette.testclient import TestClient

    client, stubber = memory
    session_id = "session-" + "a" * 36
    keys = {"memoryId": "platform_memory-a1b2c3d4e5", "actorId": "sub-alice", "sessionId": session_id}
    stubber.add_response("list_events", {"events": []}, {**keys, "includePayloads": True, "maxResults": 10})
    for _ in range(2):
        stubber.add_response(
            "create_event",
            {"event": {**keys, "eventId": "e-new", "eventTimestamp": "2026-11-25T10:00:00Z", "payload": []}},
            {**keys, "eventTimestamp": ANY, "payload": ANY},
        )
    identity = boto3.client(
        "bedrock-agentcore", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    identity_stub = Stubber(identity)
    identity_stub.add_response(
        "get_resource_oauth2_token",
        {"accessToken": gateway.accepted_token},
        {
            "resourceCredentialProviderName": "dev_platform_agent_gateway_client",
            "scopes": ["tools/invoke"],
            "oauth2Flow": "M2M",
            "workloadIdentityToken": "workload-token-for-alice",
        },
    )
    identity_stub.activate()
    monkeypatch.setattr(identity_service, "boto3", SimpleNamespace(client=lambda service, **_: identity))
    monkeypatch.setenv("BEDROCK_AGENTCORE_MEMORY_ID", keys["memoryId"])
    monkeypatch.setenv("MODEL_ARN", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0")
    monkeypatch.setenv("GATEWAY_URL", gateway.url)
    monkeypatch.setenv("GATEWAY_TOKEN_PROVIDER", "dev_platform_agent_gateway_client")
    monkeypatch.setenv("GATEWAY_TOKEN_SCOPE", "tools/invoke")
    models: list[dict[str, Any]] = []
    monkeypatch.setattr(main, "BedrockModel", lambda **settings: models.append(settings) or ScriptedModel())
    monkeypatch.setattr(main, "_memory_client", None)
    monkeypatch.setattr(main, "_recall", None)
    monkeypatch.setattr(main, "_gateway_token", None)
    monkeypatch.setattr(main, "LongTermRecall", lambda *args: None)  # covered on its own above
    monkeypatch.setattr(main, "_session", SimpleNamespace(client=lambda service: client))

    reply = TestClient(main.app).post(
        "/invocations",
        json={"prompt": "Weather?", "user_id": "mallory"},
        headers={
            "Authorization": bearer({"sub": "sub-alice"}),
            "WorkloadAccessToken": "workload-token-for-alice",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session_id,
        },
    )

    assert reply.status_code == 200, reply.text
    assert "Paris: 21 C, sunny" in reply.json()["answer"]
    assert models == [
        {"model_id": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", "region_name": main.REGION}
    ]
    identity_stub.assert_no_pending_responses()  # the token came from Identity, for this workload token
    assert {authorization for authorization, _, _ in gateway.requests} == {f"Bearer {gateway.accepted_token}"}
    assert "tools/call" in gateway.methods()
    stubber.assert_no_pending_responses()  # every memory call named actor sub-alice (the Stubber checked), not mallory
