"""AgentCore Runtime entry point: ``python -m platform_agent.main`` serves /invocations and /ping on 8080."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import boto3
from bedrock_agentcore.runtime import BedrockAgentCoreApp
from strands.models import BedrockModel

from platform_agent.agent import build_agent
from platform_agent.gateway import gateway_token, gateway_tools
from platform_agent.identity import actor_id
from platform_agent.memory import LongTermRecall, MemoryHooks

app = BedrockAgentCoreApp()
# The runtime sets AWS_REGION; boto3's own default reads AWS_DEFAULT_REGION, so the Region is passed explicitly.
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
_session = boto3.Session(region_name=REGION)
_memory_client = None
_recall: LongTermRecall | None = None
_gateway_token = None


def memory_session(runtime_session: str) -> str:
    """The runtime's session id as AgentCore Memory takes one: the runtime allows 33 to 256 characters, memory at most
    100 of ``[a-zA-Z0-9][a-zA-Z0-9-_]*``; a longer or other one is named by its digest."""
    if len(runtime_session) <= 100 and re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]*", runtime_session):
        return runtime_session
    return "s-" + hashlib.sha256(runtime_session.encode("utf-8")).hexdigest()


@app.entrypoint
def invoke(payload: dict[str, Any], context: Any) -> dict[str, Any]:
    global _memory_client, _recall, _gateway_token
    if _memory_client is None or _recall is None or _gateway_token is None:
        _memory_client = _session.client("bedrock-agentcore")
        control = _session.client("bedrock-agentcore-control")
        _recall = LongTermRecall(_memory_client, control, os.environ["BEDROCK_AGENTCORE_MEMORY_ID"])
        _gateway_token = gateway_token(os.environ["GATEWAY_TOKEN_PROVIDER"], os.environ["GATEWAY_TOKEN_SCOPE"])
    session = memory_session(getattr(context, "session_id", None) or "default")
    memory = MemoryHooks(
        _memory_client,
        memory_id=os.environ["BEDROCK_AGENTCORE_MEMORY_ID"],
        actor_id=actor_id(getattr(context, "request_headers", None)),
        session_id=session,
        long_term=_recall,
    )
    # The token is fetched here, where the runtime's request context (its workload access token) is.
    agent = build_agent(
        BedrockModel(model_id=os.environ["MODEL_ARN"], region_name=REGION),
        gateway_tools(os.environ["GATEWAY_URL"], _gateway_token()),
        memory,
    )
    try:
        result = agent(str(payload["prompt"]))
    finally:
        agent.cleanup()  # closes the gateway session
    return {"answer": str(result)}


if __name__ == "__main__":
    app.run()
