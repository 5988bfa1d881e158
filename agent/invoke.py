"""Ask the deployed agent a question as a user of its Cognito user pool.

Usage (the Agent stack's ``InvokeCommand`` output fills in the ARN, client id and Region)::

    .venv/bin/python agent/invoke.py --runtime-arn <arn> --client-id <id> --region <region> \
        --username you@example.com "What is the weather in Paris?"

The runtime authorizes with a JWT, not SigV4, so ``aws bedrock-agentcore invoke-agent-runtime`` cannot call it.
This script signs in (Cognito ``InitiateAuth`` with ``USER_PASSWORD_AUTH``, then the TOTP the pool requires through
``RespondToAuthChallenge``), and POSTs the prompt over HTTPS to the runtime's ``/invocations`` with the access
token as a bearer token (AgentCore developer guide, "Authenticate and authorize with Inbound Auth and Outbound
Auth": ``https://bedrock-agentcore.<region>.amazonaws.com/runtimes/<URL-encoded ARN>/invocations?qualifier=DEFAULT``,
with a session id of at least 33 characters in ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"


class SignInError(Exception):
    """Cognito did not hand out a token; the message says what it asked for instead."""


def access_token(cognito: Any, client_id: str, username: str, password: str, code: Callable[[], str]) -> str:
    """The user's access token; ``code`` gives the authenticator's current TOTP when Cognito asks for it."""
    reply = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if reply.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
        reply = cognito.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="SOFTWARE_TOKEN_MFA",
            Session=reply["Session"],
            ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code()},
        )
    result = reply.get("AuthenticationResult")
    if not result:
        raise SignInError(f"Cognito asked for {reply.get('ChallengeName')!r}; sign in once in a browser to set it up")
    return str(result["AccessToken"])


def invocation_url(runtime_arn: str, region: str, endpoint: str | None = None) -> str:
    base = endpoint or f"https://bedrock-agentcore.{region}.amazonaws.com"
    return f"{base}/runtimes/{urllib.parse.quote(runtime_arn, safe='')}/invocations?qualifier=DEFAULT"


def invoke(url: str, token: str, prompt: str, session_id: str | None = None) -> dict[str, Any]:
    """POST the prompt; the agent's JSON answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"prompt": prompt}).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            SESSION_HEADER: session_id or f"session-{uuid.uuid4()}",  # 44 characters: at least the 33 required
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return dict(json.loads(response.read()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--runtime-arn", required=True)
    parser.add_argument("--client-id", required=True, help="the user pool app client (UserPoolClientId output)")
    parser.add_argument("--region", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--session-id", help="continue a conversation (at least 33 characters)")
    args = parser.parse_args(argv)
    import boto3

    cognito = boto3.client("cognito-idp", region_name=args.region)
    token = access_token(
        cognito,
        args.client_id,
        args.username,
        getpass.getpass("Password: "),
        lambda: input("Authenticator code: ").strip(),
    )
    answer = invoke(invocation_url(args.runtime_arn, args.region), token, args.prompt, args.session_id)
    print(answer.get("answer", json.dumps(answer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
