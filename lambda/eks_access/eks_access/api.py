"""A minimal Kubernetes REST client, because the Lambda ships only the standard library and boto3.

The cluster endpoint is private, so the Lambda reaches it from inside the VPC; it only needs to create, read
and delete a few objects, which plain JSON over HTTPS covers without the ``kubernetes`` package.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

# Foreground: the call reports "being deleted" until dependents (pods of a job) are gone, so a poller that
# waits for a 404 knows the whole tree has been cleaned up.
DELETE_OPTIONS: dict[str, str] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


# The seam between the client and the network, so the client's rules can be tested with scripted answers.
Transport = Callable[[Request], Response]


class KubeApiError(Exception):
    """An answer the caller cannot treat as success; carries the API server's own reason so logs say why."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {reason}: {message}")
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_response(cls, method: str, path: str, response: Response) -> KubeApiError:
        reason, message = _failure(response)
        return cls(method, path, response.status, reason, message)


def _failure(response: Response) -> tuple[str, str]:
    """The ``reason`` and ``message`` of a Kubernetes ``Status`` body; proxies and load balancers send plain text."""
    text = response.body.decode(errors="replace")
    try:
        status = json.loads(text)
    except ValueError:
        status = None
    if not isinstance(status, dict):
        status = {}
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Unknown"
    reason = status.get("reason") or phrase
    message = status.get("message") or text[:ERROR_TEXT_LIMIT]
    return str(reason), str(message)


def urllib_transport(ca_data_b64: str, timeout: float = 30) -> Transport:
    """HTTPS that trusts only the cluster's own CA, the one ``DescribeCluster`` returns, not the public roots."""
    context = ssl.create_default_context(cadata=base64.b64decode(ca_data_b64).decode())

    def send(request: Request) -> Response:
        http_request = urllib.request.Request(
            request.url, data=request.body, headers=request.headers, method=request.method
        )
        try:
            with urllib.request.urlopen(http_request, timeout=timeout, context=context) as answer:
                return Response(answer.status, answer.read())
        except urllib.error.HTTPError as error:
            # A 404 or 409 is an answer the client decides about, not a transport failure.
            try:
                return Response(error.code, error.read())
            finally:
                error.close()

    return send


class KubeApi:
    """Create, read and delete objects by API path, with the outcomes a retried workflow step needs."""

    def __init__(self, endpoint: str, token: Callable[[], str], transport: Transport) -> None:
        # ``token`` is called for every request because EKS tokens expire after about 15 minutes;
        # callers that want fewer STS presigns cache behind it.
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.transport = transport

    def create(self, path: str, body: dict[str, Any]) -> bool:
        """True when created; False when it already exists, so re-running a step after a timeout is harmless."""
        response = self._send("POST", path, body)
        if _ok(response):
            return True
        if response.status == HTTPStatus.CONFLICT and _failure(response)[0] == "AlreadyExists":
            return False
        raise KubeApiError.from_response("POST", path, response)

    def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist (never created, or deletion finished)."""
        response = self._send("GET", path)
        if response.status == HTTPStatus.NOT_FOUND:
            return None
        if not _ok(response):
            raise KubeApiError.from_response("GET", path, response)
        found = json.loads(response.body)
        if not isinstance(found, dict):
            raise KubeApiError("GET", path, response.status, "UnexpectedBody", "expected a JSON object")
        return found

    def delete(self, path: str) -> bool:
        """True when deleted or being deleted; False when already gone, so cleanup can be retried."""
        response = self._send("DELETE", path, DELETE_OPTIONS)
        if response.status == HTTPStatus.NOT_FOUND:
            return False
        if not _ok(response):
            raise KubeApiError.from_response("DELETE", path, response)
        return True

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        url = f"{self.endpoint}/{path.lstrip('/')}"
        return self.transport(Request(method, url, headers, data))


def _ok(response: Response) -> bool:
    return 200 <= response.status < 300


def describe_endpoint(eks_client: Any, cluster_name: str) -> tuple[str, str]:
    """The API endpoint and base64 CA; fails early with the cluster's name rather than a later TLS or DNS error."""
    cluster = eks_client.describe_cluster(name=cluster_name)["cluster"]
    status = cluster.get("status")
    if status != "ACTIVE":
        raise ValueError(f"EKS cluster {cluster_name!r} is {status or 'of unknown status'}, not ACTIVE")
    endpoint = cluster.get("endpoint")
    ca_data = cluster.get("certificateAuthority", {}).get("data")
    if not endpoint or not ca_data:
        raise ValueError(f"EKS cluster {cluster_name!r} reports no API endpoint or certificate authority")
    return endpoint, ca_data
