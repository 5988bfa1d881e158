"""Ask the deployed agent a question as a user of its Cognito user pool.

Usage (the Agent stack's ``InvokeCommand`` output fills in the ARN, client id and Region)::

    .venv/bin/python agent/invoke.py --runtime-arn <arn> --client-id <id> --region <region> \
        --username you@example.com "What is the weather in Paris?"

The runtime authorizes with a JWT, not SigV4, so ``aws bedrock-agentcore invoke-agent-runtime`` cannot call it.
This script signs in (Cognito ``InitiateAuth`` with ``USER_PASSWORD_AUTH``, then the TOTP the pool requires through
``RespondToAuthChallenge``; on a first sign-in, the new password and the authenticator set-up too),
and POSTs the prompt over HTTPS to the runtime's ``/invocations`` with the access
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
from dataclasses import dataclass
from typing import Any

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"


class SignInError(Exception):
    """Cognito did not hand out a token; the message says what it asked for instead."""


@dataclass
class Prompts:
    """What a person types during sign-in: the authenticator's code, a new password, and where to show the secret of
    an authenticator being set up (tests answer for them)."""

    code: Callable[[], str]
    new_password: Callable[[], str]
    show_secret: Callable[[str], None]


def access_token(cognito: Any, client_id: str, username: str, password: str, prompts: Prompts) -> str:
    """The user's access token. A user an administrator created signs in with a temporary password: Cognito asks for
    a new one (NEW_PASSWORD_REQUIRED), then, the pool requiring MFA, for an authenticator to be set up (MFA_SETUP:
    AssociateSoftwareToken, then VerifySoftwareToken with its first code); later sign-ins ask for the code."""
    reply = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    for _ in range(4):  # at most: new password, authenticator set-up, code
        challenge = reply.get("ChallengeName")
        if challenge is None:
            break
        responses = {"USERNAME": username}
        if challenge == "NEW_PASSWORD_REQUIRED":
            responses["NEW_PASSWORD"] = prompts.new_password()
        elif challenge == "SOFTWARE_TOKEN_MFA":
            responses["SOFTWARE_TOKEN_MFA_CODE"] = prompts.code()
        elif challenge == "MFA_SETUP":
            secret = cognito.associate_software_token(Session=reply["Session"])
            prompts.show_secret(secret["SecretCode"])
            verified = cognito.verify_software_token(
                Session=secret["Session"], UserCode=prompts.code(), FriendlyDeviceName="authenticator"
            )
            if verified.get("Status") != "SUCCESS":
                raise SignInError("the authenticator's code was not accepted; sign in again to retry the set-up")
            reply = {**reply, "Session": verified["Session"]}
        else:
            raise SignInError(f"Cognito asked for {challenge!r}, which this script does not answer")
        reply = cognito.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName=challenge, Session=reply["Session"], ChallengeResponses=responses
        )
    result = reply.get("AuthenticationResult")
    if not result:
        raise SignInError(f"Cognito asked for {reply.get('ChallengeName')!r} again; sign in again")
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
    prompts = Prompts(
        code=lambda: input("Authenticator code: ").strip(),
        new_password=lambda: getpass.getpass("New password (first sign-in): "),
        show_secret=lambda secret: print(f"Add this key to your authenticator app (TOTP): {secret}"),
    )
    token = access_token(cognito, args.client_id, args.username, getpass.getpass("Password: "), prompts)
    session = args.session_id or f"session-{uuid.uuid4()}"
    answer = invoke(invocation_url(args.runtime_arn, args.region), token, args.prompt, session)
    print(answer.get("answer", json.dumps(answer)))
    print(f"(continue this conversation with --session-id {session})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
