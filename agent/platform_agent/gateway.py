"""Calls tools on the AgentCore Gateway over MCP (JSON-RPC 2.0 on the gateway's HTTPS endpoint).

The gateway authorizes callers with IAM, so each request is SigV4-signed with the runtime
role's credentials: no client secret exists to store or rotate. The transport and signer
are passed in, so tests run without a network.
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


class GatewayClient:
    def __init__(self, url: str, sign: Sign, post: Post = urllib_post) -> None:
        self.url = url
        self.sign = sign
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
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        reply = json.loads(self.post(self.url, body, self.sign(self.url, body, headers)))
        if "error" in reply:
            raise GatewayError(f"tool {name}: {reply['error'].get('message', reply['error'])}")
        result = reply["result"]
        text = "".join(part.get("text", "") for part in result.get("content", []) if part.get("type") == "text")
        if result.get("isError"):
            raise GatewayError(f"tool {name} failed: {text}")
        return text
