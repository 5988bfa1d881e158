"""What the customization workflow may do in the cluster: a namespaced Role bound to one Kubernetes group.

EKS access policies cannot name kubeflow.org's PyTorchJobs, so the workflow's role is mapped (by
an EKS access entry in the Workflow stack) to a group, and this Role gives that group exactly what
a Nova run creates and deletes in the training namespace (ConfigMaps, PyTorchJobs and, for PPO's
generation servers, a Service and a StatefulSet), and reading its PyTorchJobs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod_dependencies.kubectl import Kubectl

ROLE_NAME = "nova-customization-workflow"
# The workflow reads only its PyTorchJobs (their status); the rest it creates and deletes.
RULES = [
    {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": ["create", "delete"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["create", "delete"]},
    {"apiGroups": ["kubeflow.org"], "resources": ["pytorchjobs"], "verbs": ["create", "get", "delete"]},
]
GROUP_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class WorkflowAccess:
    namespace: str
    group: str

    def objects(self) -> dict[str, Any]:
        """A ``List`` kubectl applies and deletes as one: the Role and its RoleBinding."""
        metadata = {"namespace": self.namespace, "labels": {"app.kubernetes.io/managed-by": "cloudformation"}}
        return {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": ROLE_NAME, **metadata},
                    "rules": RULES,
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": ROLE_NAME, **metadata},
                    "subjects": [{"kind": "Group", "name": self.group, "apiGroup": "rbac.authorization.k8s.io"}],
                    "roleRef": {"kind": "Role", "name": ROLE_NAME, "apiGroup": "rbac.authorization.k8s.io"},
                },
            ],
        }

    def write(self, workdir: Path) -> Path:
        manifest = workdir / "workflow-access.json"
        manifest.write_text(json.dumps(self.objects()))
        return manifest

    def apply(self, kubectl: Kubectl, workdir: Path) -> None:
        kubectl.apply(self.write(workdir))

    def remove(self, kubectl: Kubectl, workdir: Path) -> None:
        kubectl.delete(self.write(workdir))
