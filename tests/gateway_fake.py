"""A stand-in for the AgentCore Gateway: a real MCP server (the ``mcp`` SDK's, streamable HTTP) on localhost, behind
a bearer-token check as the gateway's JWT authorizer does one. Tests add and remove tools while it runs, and read
which JSON-RPC methods arrived with which Authorization header.

It takes only the protocol versions the deployed gateway is configured with (``GATEWAY_MCP_VERSIONS``, its
``SupportedVersions``), in ``initialize`` and in every later request's ``MCP-Protocol-Version`` header, and it speaks
the versions with the ``initialize`` handshake only: the newer ``server/discover`` probe of the mcp 2 client gets
"method not found", and the client must fall back to ``initialize``."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

from constructs.agent_runtime import GATEWAY_MCP_VERSIONS


class FakeGateway:
    def __init__(self, versions: tuple[str, ...] = GATEWAY_MCP_VERSIONS) -> None:
        self.versions = versions
        self.server: MCPServer = MCPServer("fake-gateway")
        self.accepted_token = "gateway-token"
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (Authorization, method, params)
        self._inner = self.server.streamable_http_app(stateless_http=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                self._app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", interface="asgi3"
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> FakeGateway:
        threading.Thread(target=self._uvicorn.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake gateway did not start within 10 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._uvicorn.should_exit = True

    def reset(self, tools: dict[str, Callable[..., Any]]) -> None:
        for tool in self.server._tool_manager.list_tools():
            self.server.remove_tool(tool.name)
        for name, function in tools.items():
            self.add(name, function)
        self.requests.clear()

    def add(self, name: str, function: Callable[..., Any]) -> None:
        self.server.add_tool(function, name=name, description=function.__doc__ or name)

    def methods(self) -> list[str]:
        return [method for _, method, _ in self.requests]

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = json.loads(body) if body else {}
        if body:
            self.requests.append((authorization, request.get("method", ""), request.get("params", {})))
        if authorization != f"Bearer {self.accepted_token}":
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"invalid token"})
            return
        offered = (request.get("params") or {}).get("protocolVersion")
        header = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode()
        refused = offered if request.get("method") == "initialize" else header
        if refused and refused not in self.versions:
            unsupported = {"code": -32602, "message": f"Unsupported protocol version {refused}"}
            error = {"jsonrpc": "2.0", "id": request.get("id"), "error": unsupported}
            await send(
                {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": json.dumps(error).encode()})
            return
        if request.get("method") == "server/discover":
            unknown = {"code": -32601, "message": "Method not found"}
            error = {"jsonrpc": "2.0", "id": request.get("id"), "error": unknown}
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": json.dumps(error).encode()})
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._inner(scope, replay, send)
