"""The invoke command: a Cognito sign-in (stubbed) and an HTTPS call checked by a local server the way the runtime
checks it (path with the URL-encoded ARN and qualifier, bearer token, session id of 33+ characters, JSON payload)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import boto3
import pytest
from botocore.stub import Stubber
from invoke import SESSION_HEADER, Prompts, SignInError, access_token, invocation_url, invoke

ARN = "arn:aws:bedrock-agentcore:eu-west-1:111111111111:runtime/pinned_platform_agent-AbCdEf1234"
TOKENS = {"AccessToken": "access.jwt.token", "IdToken": "id.jwt.token", "ExpiresIn": 3600, "TokenType": "Bearer"}


def prompts(code: str = "123456", shown: list[str] | None = None) -> Prompts:
    return Prompts(
        code=lambda: code,
        new_password=lambda: "N3w-Passw0rd!long",
        show_secret=(shown.append if shown is not None else lambda _: None),
    )


def cognito():
    return boto3.client("cognito-idp", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_sign_in_answers_the_totp_challenge_the_pool_requires():
    client = cognito()
    with Stubber(client) as stub:
        stub.add_response(
            "initiate_auth",
            {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s" * 40, "ChallengeParameters": {}},
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": "client123",
                "AuthParameters": {"USERNAME": "alice@example.com", "PASSWORD": "pw"},
            },
        )
        stub.add_response(
            "respond_to_auth_challenge",
            {"AuthenticationResult": TOKENS},
            {
                "ClientId": "client123",
                "ChallengeName": "SOFTWARE_TOKEN_MFA",
                "Session": "s" * 40,
                "ChallengeResponses": {"USERNAME": "alice@example.com", "SOFTWARE_TOKEN_MFA_CODE": "123456"},
            },
        )
        assert access_token(client, "client123", "alice@example.com", "pw", prompts()) == "access.jwt.token"
        stub.assert_no_pending_responses()


def test_a_first_sign_in_sets_a_new_password_and_an_authenticator_then_gets_the_token():
    """An administrator created the user: a temporary password, then the TOTP set-up the pool requires."""
    client = cognito()
    shown: list[str] = []
    user = {"USERNAME": "alice@example.com"}
    with Stubber(client) as stub:
        stub.add_response("initiate_auth", {"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "a" * 40})
        stub.add_response(
            "respond_to_auth_challenge",
            {"ChallengeName": "MFA_SETUP", "Session": "b" * 40},
            {
                "ClientId": "client123",
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "Session": "a" * 40,
                "ChallengeResponses": {**user, "NEW_PASSWORD": "N3w-Passw0rd!long"},
            },
        )
        stub.add_response(
            "associate_software_token", {"SecretCode": "JBSWY3DPEHPK3PXP", "Session": "c" * 40}, {"Session": "b" * 40}
        )
        stub.add_response(
            "verify_software_token",
            {"Status": "SUCCESS", "Session": "d" * 40},
            {"Session": "c" * 40, "UserCode": "123456", "FriendlyDeviceName": "authenticator"},
        )
        stub.add_response(
            "respond_to_auth_challenge",
            {"AuthenticationResult": TOKENS},
            {"ClientId": "client123", "ChallengeName": "MFA_SETUP", "Session": "d" * 40, "ChallengeResponses": user},
        )
        assert (
            access_token(client, "client123", "alice@example.com", "temp", prompts(shown=shown)) == "access.jwt.token"
        )
        stub.assert_no_pending_responses()
    assert shown == ["JBSWY3DPEHPK3PXP"]  # what the person adds to the authenticator app


def test_a_challenge_the_script_does_not_answer_is_named():
    client = cognito()
    with Stubber(client) as stub:
        stub.add_response("initiate_auth", {"ChallengeName": "SMS_MFA", "Session": "s" * 40})
        with pytest.raises(SignInError, match="Cognito asked for 'SMS_MFA', which this script does not answer"):
            access_token(client, "client123", "alice@example.com", "pw", prompts())


class Runtime(BaseHTTPRequestHandler):
    """Answers as the runtime does when the request is one it accepts; records what it saw."""

    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path, _, query = self.path.partition("?")
        Runtime.seen.append({"path": path, "query": query, "headers": dict(self.headers), "body": json.loads(body)})
        ok = (
            path == f"/runtimes/{urllib.parse.quote(ARN, safe='')}/invocations"
            and query == "qualifier=DEFAULT"
            and self.headers["Authorization"] == "Bearer access.jwt.token"
            and self.headers["Content-Type"] == "application/json"
            and len(self.headers.get(SESSION_HEADER, "")) >= 33
        )
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"answer": "Paris: 21 C"} if ok else {"message": "denied"}).encode())

    def log_message(self, *_: object) -> None: ...


@pytest.fixture
def runtime():
    server = HTTPServer(("127.0.0.1", 0), Runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Runtime.seen = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_prompt_reaches_the_runtime_as_it_expects(runtime):
    url = invocation_url(ARN, "eu-west-1", endpoint=runtime)

    assert invoke(url, "access.jwt.token", "Weather in Paris?") == {"answer": "Paris: 21 C"}
    [request] = Runtime.seen
    assert request["body"] == {"prompt": "Weather in Paris?"}  # no user name: the agent reads the token's sub


def test_a_token_the_runtime_would_refuse_fails_loudly(runtime):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError, match="403"):
        invoke(invocation_url(ARN, "eu-west-1", endpoint=runtime), "someone.elses.token", "Weather?")


def test_the_default_url_is_the_regional_agentcore_endpoint():
    assert invocation_url(ARN, "eu-west-1").startswith(
        "https://bedrock-agentcore.eu-west-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aeu-west-1%3A"
    )
