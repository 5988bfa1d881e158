"""The gateway's Lambda tool ``get_weather``: a deterministic forecast from a small table.

The AgentCore Gateway invokes it with the tool's arguments as the event and the tool name
in the client context (``bedrockAgentCoreToolName``, ``<target>___<tool>``). A real
platform would call a weather service here; the table keeps the example self-contained.
"""

from __future__ import annotations

import json
import logging
from typing import Any

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)

FORECASTS = {
    "paris": ("21 C", "sunny"),
    "seattle": ("12 C", "rain"),
    "tokyo": ("18 C", "cloudy"),
}


class UnknownToolError(Exception):
    """The gateway asked for a tool this function does not implement."""


def tool_name(context: Any) -> str:
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    return str(custom.get("bedrockAgentCoreToolName", "")).split("___")[-1]


def forecast(city: str) -> dict[str, str]:
    if not isinstance(city, str) or not city.strip():
        return {"error": "city: a non-empty string is required"}
    known = FORECASTS.get(city.strip().lower())
    if known is None:
        return {"error": f"city: {city!r} is not covered; known cities: {', '.join(sorted(FORECASTS))}"}
    temperature, sky = known
    return {"city": city.strip().title(), "temperature": temperature, "conditions": sky}


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    name = tool_name(context)
    LOGGER.info(json.dumps({"tool": name, "request_id": getattr(context, "aws_request_id", None)}))
    if name != "get_weather":
        raise UnknownToolError(f"tool {name!r} is not implemented; expected get_weather")
    return forecast(event.get("city", ""))
