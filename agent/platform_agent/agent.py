"""The platform's agent: a Strands agent on the served model, with the gateway's tools and memory."""

from __future__ import annotations

from typing import Any

from strands import Agent
from strands.models import Model
from strands.tools.mcp import MCPClient

from platform_agent.memory import MemoryHooks

SYSTEM_PROMPT = (
    "You are the platform's assistant. Use the tools for facts you do not have, and say which tool "
    "result your answer relies on."
)


def build_agent(model: Model | str, gateway: MCPClient, memory: MemoryHooks | None) -> Agent:
    """The tools are whatever the gateway lists when the agent starts (the MCP client is a tool provider); call
    ``cleanup()`` on the agent to close the gateway session."""
    hooks: list[Any] = [memory] if memory is not None else []
    return Agent(model=model, tools=[gateway], system_prompt=SYSTEM_PROMPT, hooks=hooks, callback_handler=None)
