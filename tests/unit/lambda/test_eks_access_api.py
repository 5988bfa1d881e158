"""The Kubernetes REST client: outcomes per status, headers, URLs, the urllib transport and DescribeCluster."""

from __future__ import annotations

import base64
import email.message
import io
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_access import api
from eks_access.api import DELETE_OPTIONS, KubeApi, KubeApiError, Request, Response, describe_endpoint

ENDPOINT = "https://ABC.gr7.us-east-1.eks.amazonaws.com"
JOBS = "/apis/kubeflow.org/v1/namespaces/x/pytorchjobs"
JOB = f"{JOBS}/train"


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}
    ).encode()


class FakeTransport:
    """Records every request and answers from a script, in order."""

    def __init__(self, *responses: Response) -> None:
        self.responses = list(responses)
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return self.responses.pop(0)


def client(*responses: Response, endpoint: str = ENDPOINT) -> tuple[KubeApi, FakeTransport]:
    transport = FakeTransport(*responses)
    return KubeApi(endpoint, lambda: "k8s-aws-v1.TOKEN", transport), transport


# create


def test_create_posts_json_and_reports_created() -> None:
    kube, transport = client(Response(201, b'{"kind":"PyTorchJob"}'))
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "train"}}

    assert kube.create(JOBS, body) is True
    [request] = transport.requests
    assert request.method == "POST"
    assert request.url == ENDPOINT + JOBS
    assert request.body is not None
    assert json.loads(request.body) == body


@pytest.mark.parametrize("status", [200, 202])
def test_create_accepts_other_success_codes(status: int) -> None:
    kube, _ = client(Response(status, b"{}"))

    assert kube.create(JOBS, {}) is True


def test_create_of_existing_object_is_not_an_error() -> None:
    kube, _ = client(Response(409, status_body(409, "AlreadyExists", 'pytorchjobs "train" already exists')))

    assert kube.create(JOBS, {}) is False


def test_create_forbidden_raises_with_reason_and_message() -> None:
    message = 'pytorchjobs.kubeflow.org is forbidden: User "lambda" cannot create resource "pytorchjobs"'
    kube, _ = client(Response(403, status_body(403, "Forbidden", message)))

    with pytest.raises(KubeApiError) as raised:
        kube.create(JOBS, {})

    assert str(raised.value) == f"POST {JOBS}: 403 Forbidden: {message}"
    assert (raised.value.status, raised.value.reason, raised.value.path) == (403, "Forbidden", JOBS)


def test_create_conflict_other_than_already_exists_raises() -> None:
    kube, _ = client(Response(409, status_body(409, "Conflict", "the object has been modified")))

    with pytest.raises(KubeApiError, match="409 Conflict: the object has been modified") as raised:
        kube.create(JOBS, {})

    assert raised.value.reason == "Conflict"


# get


def test_get_returns_the_object() -> None:
    job = {"kind": "PyTorchJob", "status": {"conditions": [{"type": "Running", "status": "True"}]}}
    kube, transport = client(Response(200, json.dumps(job).encode()))

    assert kube.get(JOB) == job
    assert transport.requests[0].method == "GET"
    assert transport.requests[0].body is None


def test_get_missing_object_is_none() -> None:
    kube, _ = client(Response(404, status_body(404, "NotFound", 'pytorchjobs "train" not found')))

    assert kube.get(JOB) is None


def test_get_server_error_with_plain_text_body_raises_with_truncated_text() -> None:
    kube, _ = client(Response(500, b"upstream connect error " + b"x" * 2000))

    with pytest.raises(KubeApiError) as raised:
        kube.get(JOB)

    error = raised.value
    assert (error.status, error.reason, error.path) == (500, "Internal Server Error", JOB)
    assert str(error).startswith(f"GET {JOB}: 500 Internal Server Error: upstream connect error x")
    assert len(error.message) == api.ERROR_TEXT_LIMIT


def test_get_rejects_a_body_that_is_not_an_object() -> None:
    kube, _ = client(Response(200, b"[]"))

    with pytest.raises(KubeApiError, match="UnexpectedBody"):
        kube.get(JOB)


# delete


@pytest.mark.parametrize("status", [200, 202])
def test_delete_sends_foreground_options_and_reports_deleted(status: int) -> None:
    kube, transport = client(Response(status, b'{"kind":"Status","status":"Success"}'))

    assert kube.delete(JOB) is True
    [request] = transport.requests
    assert request.method == "DELETE"
    assert request.url == ENDPOINT + JOB
    assert request.body is not None
    assert json.loads(request.body) == {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
    assert json.loads(request.body) == DELETE_OPTIONS


def test_delete_of_missing_object_is_false() -> None:
    kube, _ = client(Response(404, status_body(404, "NotFound", "not found")))

    assert kube.delete(JOB) is False


def test_delete_forbidden_raises() -> None:
    kube, _ = client(Response(403, status_body(403, "Forbidden", "cannot delete")))

    with pytest.raises(KubeApiError, match=f"^DELETE {JOB}: 403 Forbidden: cannot delete$"):
        kube.delete(JOB)


# headers and URLs


def test_every_request_sends_a_fresh_bearer_token() -> None:
    tokens = iter(["first", "second"])
    transport = FakeTransport(Response(201, b"{}"), Response(200, b"{}"))
    kube = KubeApi(ENDPOINT, lambda: next(tokens), transport)

    kube.create(JOBS, {})
    kube.get(JOB)

    assert [r.headers["Authorization"] for r in transport.requests] == ["Bearer first", "Bearer second"]
    assert all(r.headers["Accept"] == "application/json" for r in transport.requests)


def test_content_type_only_when_there_is_a_body() -> None:
    kube, transport = client(Response(201, b"{}"), Response(200, b"{}"), Response(200, b"{}"))

    kube.create(JOBS, {})
    kube.get(JOB)
    kube.delete(JOB)

    post, get, delete = transport.requests
    assert post.headers["Content-Type"] == "application/json"
    assert "Content-Type" not in get.headers
    assert delete.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("endpoint", "path"),
    [(ENDPOINT, JOB), (ENDPOINT + "/", JOB), (ENDPOINT + "/", JOB.lstrip("/")), (ENDPOINT, JOB.lstrip("/"))],
)
def test_url_joins_endpoint_and_path_with_one_slash(endpoint: str, path: str) -> None:
    kube, transport = client(Response(200, b"{}"), endpoint=endpoint)

    kube.get(path)

    assert transport.requests[0].url == ENDPOINT + JOB


# urllib_transport

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CA_B64 = base64.b64encode(CA_PEM.encode()).decode()


class FakeAnswer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body

    def read(self) -> bytes:
        return self.body

    def __enter__(self) -> FakeAnswer:
        return self

    def __exit__(self, *_: object) -> None:
        return None


@pytest.fixture
def tls(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stands in for the SSL context (building a real one needs a real certificate) and records its CA data."""
    seen: dict[str, Any] = {"context": object()}

    def create_default_context(*, cadata: str) -> object:
        seen["cadata"] = cadata
        return seen["context"]

    monkeypatch.setattr(ssl, "create_default_context", create_default_context)
    return seen


def test_urllib_transport_rejects_ca_data_that_is_not_a_certificate() -> None:
    with pytest.raises(ssl.SSLError):
        api.urllib_transport(base64.b64encode(b"not a certificate").decode())


def test_urllib_transport_sends_the_request_with_the_cluster_ca(
    monkeypatch: pytest.MonkeyPatch, tls: dict[str, Any]
) -> None:
    calls: list[tuple[urllib.request.Request, float, object]] = []

    def urlopen(request: urllib.request.Request, *, timeout: float, context: object) -> FakeAnswer:
        calls.append((request, timeout, context))
        return FakeAnswer(201, b'{"kind":"PyTorchJob"}')

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    send = api.urllib_transport(CA_B64, timeout=7)

    response = send(Request("POST", ENDPOINT + JOBS, {"Content-Type": "application/json"}, b"{}"))

    assert response == Response(201, b'{"kind":"PyTorchJob"}')
    assert tls["cadata"] == CA_PEM
    [(request, timeout, context)] = calls
    assert (request.get_method(), request.full_url, request.data) == ("POST", ENDPOINT + JOBS, b"{}")
    assert request.get_header("Content-type") == "application/json"
    assert (timeout, context) == (7, tls["context"])


def test_urllib_transport_returns_http_errors_as_responses(
    monkeypatch: pytest.MonkeyPatch, tls: dict[str, Any]
) -> None:
    body = status_body(409, "AlreadyExists", "exists")

    def urlopen(request: urllib.request.Request, **_: object) -> FakeAnswer:
        raise urllib.error.HTTPError(request.full_url, 409, "Conflict", email.message.Message(), io.BytesIO(body))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)

    response = api.urllib_transport(CA_B64)(Request("POST", ENDPOINT + JOBS, {}, b"{}"))

    assert response == Response(409, body)


def test_urllib_transport_lets_network_errors_propagate(monkeypatch: pytest.MonkeyPatch, tls: dict[str, Any]) -> None:
    def urlopen(request: urllib.request.Request, **_: object) -> FakeAnswer:
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)

    with pytest.raises(urllib.error.URLError, match="connection refused"):
        api.urllib_transport(CA_B64)(Request("GET", ENDPOINT + JOB, {}, None))


# describe_endpoint


def eks_client() -> Any:
    return boto3.client("eks", region_name="us-east-1", aws_access_key_id="AKIATEST", aws_secret_access_key="x")


def described(status: str) -> dict[str, Any]:
    return {
        "cluster": {
            "name": "prod-orchestrator",
            "status": status,
            "endpoint": ENDPOINT,
            "certificateAuthority": {"data": CA_B64},
        }
    }


def test_describe_endpoint_returns_endpoint_and_ca() -> None:
    eks = eks_client()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", described("ACTIVE"), {"name": "prod-orchestrator"})

        assert describe_endpoint(eks, "prod-orchestrator") == (ENDPOINT, CA_B64)
        stub.assert_no_pending_responses()


def test_describe_endpoint_refuses_a_cluster_that_is_not_active() -> None:
    eks = eks_client()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", described("CREATING"), {"name": "prod-orchestrator"})

        with pytest.raises(ValueError, match="'prod-orchestrator' is CREATING, not ACTIVE"):
            describe_endpoint(eks, "prod-orchestrator")


def test_describe_endpoint_refuses_a_cluster_without_an_endpoint() -> None:
    eks = eks_client()
    response = described("ACTIVE")
    del response["cluster"]["endpoint"]
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", response, {"name": "prod-orchestrator"})

        with pytest.raises(ValueError, match="'prod-orchestrator' reports no API endpoint"):
            describe_endpoint(eks, "prod-orchestrator")


def test_describe_endpoint_lets_a_missing_cluster_error_propagate() -> None:
    eks = eks_client()
    with Stubber(eks) as stub:
        stub.add_client_error(
            "describe_cluster", "ResourceNotFoundException", "No cluster found for name: gone.", 404, {"name": "gone"}
        )

        with pytest.raises(ClientError) as raised:
            describe_endpoint(eks, "gone")

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
