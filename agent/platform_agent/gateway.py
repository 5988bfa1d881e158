"""The AgentCore Gateway's tools, over MCP, with a bearer token from AgentCore Identity.

Strands' MCP client speaks streamable HTTP to the gateway: ``initialize``, ``tools/list`` across every page, and
``tools/call``, with the session header and event streams the MCP specification asks of a client. The tools are
whatever the gateway lists when the agent starts: a target added to the gateway later is offered to the model
without a code change.

The gateway takes a JWT from the agent's own Cognito machine client. The agent never sees that client's secret:
``requires_access_token`` trades the workload access token the runtime hands each request (its own workload
identity, acting for the signed-in user) for an access token of the client-credentials grant, through the
AgentCore Identity credential provider named in ``GATEWAY_TOKEN_PROVIDER`` (bedrock-agentcore SDK,
``bedrock_agentcore.identity.auth``; ``GetResourceOauth2Token`` with ``oauth2Flow: M2M``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from bedrock_agentcore.identity.auth import requires_access_token
from strands.tools.mcp import MCPClient
from strands.tools.mcp.mcp_client import ToolFilters
from strands.types.tools import AgentTool

LOGGER = logging.getLogger(__name__)
# Converse takes tool names of 1-64 letters, digits, '_' or '-'. The gateway names a tool <target>___<tool>, which
# can be longer: such a tool would fail every model call, so it is left out and logged.
CONVERSE_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CLIENT_NAME = "platform-agent"


def converse_accepts(tool: AgentTool, **_: Any) -> bool:
    if CONVERSE_TOOL_NAME.fullmatch(tool.tool_name):
        return True
    LOGGER.warning("gateway tool %r left out: Converse takes names of 1-64 letters, digits, _ or -", tool.tool_name)
    return False


def gateway_token(provider_name: str, scope: str) -> Callable[[], str]:
    """A function returning the gateway's access token for this request (the token vault caches it until it
    expires). Call it where the runtime's request context is, e.g. in the entrypoint."""

    @requires_access_token(provider_name=provider_name, scopes=[scope], auth_flow="M2M")
    def fetch(*, access_token: str) -> str:
        return access_token

    return fetch


def gateway_tools(url: str, access_token: str) -> MCPClient:
    """The gateway as a Strands tool provider: give it to the Agent, and call ``agent.cleanup()`` when done."""
    only_converse_names: ToolFilters = {"allowed": [converse_accepts]}
    return MCPClient(
        url=url,
        headers={"Authorization": f"Bearer {access_token}"},
        tool_filters=only_converse_names,
        application_name=CLIENT_NAME,
    )
