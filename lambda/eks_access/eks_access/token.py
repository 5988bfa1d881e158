"""Authenticate to an EKS cluster the way ``aws eks get-token`` does, without the AWS CLI."""

from __future__ import annotations

import base64
from typing import Any

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_HEADER = "x-k8s-aws-id"


def eks_token(sts_client: Any, cluster_name: str) -> str:
    """A bearer token: a presigned STS GetCallerIdentity URL that names the cluster in a signed header."""

    def carry_cluster_name(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if CLUSTER_HEADER in params:
            context[CLUSTER_HEADER] = params.pop(CLUSTER_HEADER)

    def sign_cluster_name(request: Any, **_: Any) -> None:
        if CLUSTER_HEADER in request.context:
            request.headers[CLUSTER_HEADER] = request.context[CLUSTER_HEADER]

    events = sts_client.meta.events
    events.register("provide-client-params.sts.GetCallerIdentity", carry_cluster_name)
    events.register("before-sign.sts.GetCallerIdentity", sign_cluster_name)
    try:
        url = sts_client.generate_presigned_url(
            "get_caller_identity", Params={CLUSTER_HEADER: cluster_name}, ExpiresIn=60, HttpMethod="GET"
        )
    finally:
        events.unregister("provide-client-params.sts.GetCallerIdentity", carry_cluster_name)
        events.unregister("before-sign.sts.GetCallerIdentity", sign_cluster_name)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
