"""Read and change Kubernetes objects with kubectl (from the kubectl Lambda layer)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hyperpod_dependencies import helm

KUBECTL = os.environ.get("KUBECTL_BINARY", "/opt/kubectl/kubectl")


class MissingObjectError(Exception):
    """An object the RIG dependencies build on is not in the cluster."""


class Kubectl:
    """kubectl against one cluster: ``env`` holds its KUBECONFIG; ``runner`` runs the command (stubbed in tests)."""

    def __init__(self, runner: helm.Runner, env: dict[str, str]) -> None:
        self.runner = runner
        self.env = env

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        command = [KUBECTL, "get", kind, name, "--namespace", namespace, "--output", "json"]
        try:
            obj: dict[str, Any] = json.loads(self.runner(command, self.env))
        except helm.HelmError as error:
            if "NotFound" in str(error):
                raise MissingObjectError(f"{kind} {namespace}/{name} is not in the cluster") from error
            raise
        return obj

    def apply(self, manifest: Path) -> None:
        self.runner([KUBECTL, "apply", "--filename", str(manifest)], self.env)

    def delete(self, manifest: Path) -> None:
        """Deletes what ``manifest`` lists; objects already gone are not an error."""
        self.runner([KUBECTL, "delete", "--filename", str(manifest), "--ignore-not-found"], self.env)

    def patch(self, kind: str, name: str, namespace: str, patch: list[dict[str, Any]]) -> None:
        command = [
            KUBECTL,
            "patch",
            kind,
            name,
            "--namespace",
            namespace,
            "--type",
            "json",
            "--patch",
            json.dumps(patch),
        ]
        self.runner(command, self.env)
