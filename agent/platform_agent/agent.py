"""The platform's agent: a Strands agent on the served model, with the gateway's tools and memory."""

from __future__ import annotations

import logging
import re
from typing import Any

from strands import Agent
from strands.models import Model
from strands.tools.tools import PythonAgentTool
from strands.types.tools import ToolResult, ToolSpec, ToolUse

from platform_agent.gateway import GatewayClient, GatewayError
from platform_agent.memory import MemoryHooks

LOGGER = logging.getLogger(__name__)
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
SYSTEM_PROMPT = (
    "You are the platform's assistant. Use the tools for facts you do not have, and say which tool "
    "result your answer relies on."
)


def gateway_tool(spec: dict[str, Any], gateway: GatewayClient) -> PythonAgentTool:
    """One gateway tool as a Strands tool: its MCP name, description and input schema, called over MCP."""
    name = str(spec["name"])

    def call(tool_use: ToolUse, *_: Any, **__: Any) -> ToolResult:
        try:
            text = gateway.call_tool(name, dict(tool_use.get("input") or {}))
        except GatewayError as error:  # the model reads the failure and may try otherwise
            return {"toolUseId": tool_use["toolUseId"], "status": "error", "content": [{"text": str(error)}]}
        return {"toolUseId": tool_use["toolUseId"], "status": "success", "content": [{"text": text}]}

    tool_spec: ToolSpec = {
        "name": name,
        "description": str(spec.get("description") or name),
        "inputSchema": {"json": spec.get("inputSchema") or {"type": "object", "properties": {}}},
    }
    return PythonAgentTool(name, tool_spec, call)


def build_agent(model: Model | str, gateway: GatewayClient, memory: MemoryHooks | None) -> Agent:
    """The tools are whatever the gateway lists now: a target added later needs no change here."""
    # Converse takes tool names of at most 64 characters: a longer one (a long target and tool name) would fail every
    # model call, so it is left out and logged.
    listed = gateway.list_tools()
    usable = [spec for spec in listed if TOOL_NAME.fullmatch(str(spec.get("name", "")))]
    for spec in listed:
        if spec not in usable:
            LOGGER.warning(
                "gateway tool %r left out: Converse takes names of 1-64 letters, digits, _ or -", spec.get("name")
            )
    tools: list[Any] = [gateway_tool(spec, gateway) for spec in usable]
    hooks: list[Any] = [memory] if memory is not None else []
    return Agent(model=model, tools=tools, system_prompt=SYSTEM_PROMPT, hooks=hooks, callback_handler=None)
