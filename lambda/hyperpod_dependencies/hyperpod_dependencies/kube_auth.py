"""A kubeconfig for kubectl and helm, around a bearer token from :mod:`eks_access.token`."""

from __future__ import annotations

import json
from typing import Any


def kubeconfig(cluster: dict[str, Any], token: str) -> str:
    """A kubeconfig (JSON is valid YAML) for ``DescribeCluster``'s ``cluster`` and a bearer token."""
    name = cluster["name"]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": cluster["endpoint"],
                        "certificate-authority-data": cluster["certificateAuthority"]["data"],
                    },
                }
            ],
            "users": [{"name": "installer", "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "installer"}}],
            "current-context": name,
        }
    )
