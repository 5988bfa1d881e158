"""Who is asking: the user the runtime's JWT authorizer verified, never a name from the request body.

The runtime checks the token's signature, issuer, audience and expiry before the request reaches the
agent, and passes the ``Authorization`` header on only when its request-header allow-list names it
(``RequestHeaderConfiguration``). The agent reads the ``sub`` claim of that already-verified token: a
body field would let any user with a valid token read another's memory.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping


class UnknownUserError(Exception):
    """The request carries no verified token to name its user."""


def actor_id(headers: Mapping[str, str] | None) -> str:
    """The token's ``sub``, as the memory's actor id (AgentCore Memory actor ids allow letters, digits, ``_-``)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    parts = token.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        raise UnknownUserError("Authorization: no bearer token; expected the runtime's verified JWT")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError as error:
        raise UnknownUserError(f"Authorization: the token's claims are not JSON ({error})") from error
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str) or not subject:
        raise UnknownUserError("Authorization: the token has no sub claim; expected the user's id")
    # A Cognito token says what it is: only an access token names a user of this app (an ID token is for the client).
    if "token_use" in claims and claims["token_use"] != "access":
        raise UnknownUserError(f"Authorization: token_use {claims['token_use']!r}; expected an access token")
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in subject)
