"""AgentCore Runtime entry point: ``python -m platform_agent.main`` serves /invocations and /ping on 8080."""

from __future__ import annotations

import os
from typing import Any

import boto3
from bedrock_agentcore.runtime import BedrockAgentCoreApp
from strands.models import BedrockModel

from platform_agent.agent import build_agent
from platform_agent.gateway import GatewayClient, sigv4_signer
from platform_agent.identity import actor_id
from platform_agent.memory import LongTermRecall, MemoryHooks

app = BedrockAgentCoreApp()
_session = boto3.Session()
_memory_client = None
_recall: LongTermRecall | None = None


@app.entrypoint
def invoke(payload: dict[str, Any], context: Any) -> dict[str, Any]:
    global _memory_client, _recall
    if _memory_client is None or _recall is None:
        _memory_client = boto3.client("bedrock-agentcore")
        control = boto3.client("bedrock-agentcore-control")
        _recall = LongTermRecall(_memory_client, control, os.environ["BEDROCK_AGENTCORE_MEMORY_ID"])
    session = getattr(context, "session_id", None) or payload.get("session_id", "default")
    memory = MemoryHooks(
        _memory_client,
        memory_id=os.environ["BEDROCK_AGENTCORE_MEMORY_ID"],
        actor_id=actor_id(getattr(context, "request_headers", None)),
        session_id=session,
        long_term=_recall,
    )
    agent = build_agent(
        BedrockModel(model_id=os.environ["MODEL_ARN"]),
        GatewayClient(os.environ["GATEWAY_URL"], sigv4_signer(_session.get_credentials(), _session.region_name)),
        memory,
    )
    result = agent(str(payload["prompt"]))
    return {"answer": str(result)}


if __name__ == "__main__":
    app.run()
