"""Calls tools on the AgentCore Gateway over MCP (JSON-RPC 2.0 on the gateway's HTTPS endpoint).

The transport is passed in, so tests run without a network and the runtime uses urllib.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Callable
from typing import Any

Post = Callable[[str, bytes, dict[str, str]], bytes]


class GatewayError(Exception):
    """The gateway answered with a JSON-RPC error or a tool error."""


def urllib_post(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


class GatewayClient:
    def __init__(self, url: str, token: Callable[[], str], post: Post = urllib_post) -> None:
        self.url = url
        self.token = token
        self.post = post
        self._ids = itertools.count(1)

    def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """``tools/call``; returns the text content of the result."""
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Authorization": f"Bearer {self.token()}",
        }
        reply = json.loads(self.post(self.url, body, headers))
        if "error" in reply:
            raise GatewayError(f"tool {name}: {reply['error'].get('message', reply['error'])}")
        result = reply["result"]
        text = "".join(part.get("text", "") for part in result.get("content", []) if part.get("type") == "text")
        if result.get("isError"):
            raise GatewayError(f"tool {name} failed: {text}")
        return text
