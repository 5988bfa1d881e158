"""The platform's agent: a Strands agent on the customized model, with gateway tools and memory."""

from __future__ import annotations

from typing import Any

from strands import Agent, tool
from strands.models import Model

from platform_agent.gateway import GatewayClient
from platform_agent.memory import MemoryHooks

SYSTEM_PROMPT = (
    "You are the platform's assistant. Use the tools for facts you do not have, and say which tool "
    "result your answer relies on."
)
WEATHER_TOOL = "weather___get_weather"  # <gateway target>___<tool>, as the gateway names target tools


def build_agent(model: Model | str, gateway: GatewayClient, memory: MemoryHooks | None) -> Agent:
    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city, from the platform's weather tool behind the AgentCore Gateway.

        Args:
            city: The city to report on.
        """
        return gateway.call_tool(WEATHER_TOOL, {"city": city})

    hooks: list[Any] = [memory] if memory is not None else []
    return Agent(model=model, tools=[get_weather], system_prompt=SYSTEM_PROMPT, hooks=hooks, callback_handler=None)
