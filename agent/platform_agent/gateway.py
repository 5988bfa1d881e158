"""The AgentCore Gateway's tools over MCP (JSON-RPC 2.0 on the gateway's streamable-HTTP endpoint).

The client opens with ``initialize`` (and the ``notifications/initialized`` notice), lists every target's tools
with ``tools/list`` (following ``nextCursor``), and calls them with ``tools/call``: a target added to the gateway
later is offered to the model without a code change (MCP specification, "Lifecycle" and "Tools").

The gateway authorizes callers with IAM, so each request is SigV4-signed with the runtime role's credentials: no
client secret exists to store or rotate. The transport and signer are passed in, so tests run without a network.
A reply may come as JSON or as a server-sent event stream (streamable HTTP allows both); either is read.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Callable
from typing import Any

Post = Callable[[str, bytes, dict[str, str]], bytes]
Sign = Callable[[str, bytes, dict[str, str]], dict[str, str]]
SERVICE = "bedrock-agentcore"
PROTOCOL_VERSION = "2025-03-26"
CLIENT_INFO = {"name": "platform-agent", "version": "1"}
MAX_PAGES = 50


class GatewayError(Exception):
    """The gateway answered with a JSON-RPC error or a tool error."""


def urllib_post(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def sigv4_signer(credentials: Any, region: str) -> Sign:
    """Sign a POST for the gateway with SigV4 (service ``bedrock-agentcore``)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    def sign(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(credentials, SERVICE, region).add_auth(request)
        return dict(request.headers.items())

    return sign


def _message(raw: bytes) -> dict[str, Any]:
    """The JSON-RPC message of a reply: the body itself, or the last ``data:`` of an event stream."""
    text = raw.decode("utf-8").strip()
    if text.startswith("{"):
        return dict(json.loads(text))
    data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    if not data:
        raise GatewayError(f"reply: {text[:200]!r} is not allowed; expected JSON or an event stream with data")
    return dict(json.loads(data[-1]))


class GatewayClient:
    def __init__(self, url: str, sign: Sign, post: Post = urllib_post) -> None:
        self.url = url
        self.sign = sign
        self.post = post
        self._ids = itertools.count(1)
        self._initialized = False

    def _send(self, payload: dict[str, Any]) -> bytes:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        return self.post(self.url, body, self.sign(self.url, body, headers))

    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = _message(self._send({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}))
        if "error" in reply:
            raise GatewayError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return dict(reply["result"])

    def initialize(self) -> None:
        """The MCP handshake, once per client."""
        if self._initialized:
            return
        self._request(
            "initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self._initialized = True

    def list_tools(self) -> list[dict[str, Any]]:
        """Every tool of every target (``<target>___<tool>``, as the gateway names them), all pages."""
        self.initialize()
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            result = self._request("tools/list", {"cursor": cursor} if cursor else {})
            tools += result.get("tools", [])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools
        raise GatewayError(f"tools/list: more than {MAX_PAGES} pages")

    def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """``tools/call``; returns the text content of the result."""
        self.initialize()
        try:
            result = self._request("tools/call", {"name": name, "arguments": arguments})
        except GatewayError as error:
            raise GatewayError(f"tool {name}: {str(error).removeprefix('tools/call: ')}") from error
        text = "".join(part.get("text", "") for part in result.get("content", []) if part.get("type") == "text")
        if result.get("isError"):
            raise GatewayError(f"tool {name} failed: {text}")
        return text
