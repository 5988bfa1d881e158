"""Kubernetes objects a restricted instance group (RIG) needs, derived from the live cluster.

Nodes of a RIG carry the taint ``sagemaker.amazonaws.com/RestrictedNode=Worker:NoSchedule``
and the label ``sagemaker.amazonaws.com/instance-group-type=Restricted``. The HyperPod team's
``install_rig_dependencies.sh`` (aws/sagemaker-hyperpod-cli, branch ``release_v2``) makes the
cluster's add-ons work there by copying the VPC CNI (``aws-node``) and CoreDNS as RIG-only
DaemonSets, keeping the originals off RIG nodes, and letting the training operator, the MPI
operator and the EFA device plugin tolerate the taint. These functions do the same on
objects read with ``kubectl get -o json``, as pure dict transformations, so every rule is
tested without a cluster. They never change their input.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

RIG_LABEL = "sagemaker.amazonaws.com/instance-group-type"
RIG_LABEL_VALUE = "Restricted"
RIG_TAINT = {
    "key": "sagemaker.amazonaws.com/RestrictedNode",
    "operator": "Equal",
    "value": "Worker",
    "effect": "NoSchedule",
}
PATCH_ANNOTATION = "rig.hyperpod.patch/{component}"
RIG_PREFIX = "rig-"

# The VPC CNI releases the RIG script requires at least (container name -> minimum version and its tag).
AWS_NODE_MINIMUM_IMAGES = {
    "containers": {"aws-node": ("1.19.6", "v1.19.6-eksbuild.1"), "aws-eks-nodeagent": ("1.2.2", "v1.2.2-eksbuild.1")},
    "initContainers": {"aws-vpc-cni-init": ("1.19.6", "v1.19.6-eksbuild.1")},
}

# Set by the API server or controllers: a copy must not carry them.
SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")
SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deprecated.daemonset.template.generation",
    "deployment.kubernetes.io/revision",
    "meta.helm.sh/release-name",
    "meta.helm.sh/release-namespace",
)
REGIONAL_HOST = re.compile(r"\.[^./]*\.amazonaws\.com")

Object = dict[str, Any]
JsonPatch = list[dict[str, Any]]


def patch_annotation(component: str) -> str:
    return PATCH_ANNOTATION.format(component=component)


# Objects the RIG patch gives the RIG toleration to; they belong to the standard chart, whose next helm upgrade (a
# values or commit change) puts its own tolerations back and keeps the annotation.
TOLERATING_COMPONENTS = ("training-operators", "mpi-operator", "aws-efa-k8s-device-plugin")


def is_patched(obj: Object, component: str) -> bool:
    """Whether an earlier install already changed this object, so a retry skips it: the annotation, and for the
    standard chart's objects the toleration itself (an upgrade of that chart removes it)."""
    annotated = patch_annotation(component) in (obj.get("metadata", {}).get("annotations") or {})
    if component not in TOLERATING_COMPONENTS:
        return annotated
    tolerations = obj.get("spec", {}).get("template", {}).get("spec", {}).get("tolerations") or []
    return annotated and any(t.get("key") == RIG_TAINT["key"] for t in tolerations)


def _marker(source: str) -> str:
    # The source commit, not a timestamp: the same install writes the same objects.
    return json.dumps({"source": source}, sort_keys=True)


def _copy_without_server_fields(obj: Object) -> Object:
    result = copy.deepcopy(obj)
    result.pop("status", None)
    metadata = result.setdefault("metadata", {})
    for name in SERVER_FIELDS:
        metadata.pop(name, None)
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS}
    metadata["annotations"] = annotations
    return result


def _pod_spec(obj: Object) -> Object:
    spec: Object = obj.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    return spec


def _required_terms(pod_spec: Object) -> list[Object]:
    required = (
        pod_spec.setdefault("affinity", {})
        .setdefault("nodeAffinity", {})
        .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    )
    terms: list[Object] = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({"matchExpressions": []})
    return terms


def _require_rig_label(pod_spec: Object, operator: str) -> None:
    """Every node selector term gets ``instance-group-type <operator> [Restricted]`` (terms are ORed)."""
    for term in _required_terms(pod_spec):
        expressions = [e for e in term.get("matchExpressions", []) if e.get("key") != RIG_LABEL]
        expressions.append({"key": RIG_LABEL, "operator": operator, "values": [RIG_LABEL_VALUE]})
        term["matchExpressions"] = expressions


def image_version(uri: str) -> tuple[int, ...]:
    """``.../amazon-k8s-cni:v1.19.2-eksbuild.1`` -> (1, 19, 2); an image without a version tag -> ()."""
    tag = uri.rsplit(":", 1)[1] if ":" in uri.rsplit("/", 1)[-1] else ""
    numbers = re.match(r"^v?(\d+(?:\.\d+)*)", tag)
    return tuple(int(part) for part in numbers.group(1).split(".")) if numbers else ()


def at_least(uri: str, minimum: str, minimum_tag: str) -> str:
    """The image, or the same repository at ``minimum_tag`` when its version is older than ``minimum``."""
    if image_version(uri) >= tuple(int(part) for part in minimum.split(".")):
        return uri
    repository = uri.rsplit(":", 1)[0] if ":" in uri.rsplit("/", 1)[-1] else uri
    return f"{repository}:{minimum_tag}"


def regional_image(uri: str, region: str) -> str:
    """The image from the cluster's region: the EFA chart names one registry region for every cluster."""
    return REGIONAL_HOST.sub(f".{region}.amazonaws.com", uri, count=1)


def _set_env(container: Object, name: str, value: str) -> None:
    env = [entry for entry in container.get("env", []) if entry.get("name") != name]
    env.append({"name": name, "value": value})
    container["env"] = env


def non_rig_aws_node(aws_node: Object, source: str) -> Object:
    """The cluster's VPC CNI, kept off RIG nodes (they get their own copy)."""
    result = _copy_without_server_fields(aws_node)
    _require_rig_label(_pod_spec(result), "NotIn")
    result["metadata"]["annotations"][patch_annotation("aws-node")] = _marker(source)
    return result


def rig_aws_node(aws_node: Object, source: str) -> Object:
    """A copy of the VPC CNI for RIG nodes only: IMDS-only mode, prefix delegation, recent enough images."""
    result = _copy_without_server_fields(aws_node)
    metadata = result["metadata"]
    metadata["name"] = RIG_PREFIX + metadata["name"]
    metadata["annotations"][patch_annotation("aws-node")] = _marker(source)
    pod_spec = _pod_spec(result)
    _require_rig_label(pod_spec, "In")
    for field_name, minimums in AWS_NODE_MINIMUM_IMAGES.items():
        for container in pod_spec.get(field_name, []):
            if container.get("name") in minimums:
                minimum, tag = minimums[container["name"]]
                container["image"] = at_least(container["image"], minimum, tag)
            if field_name == "containers" and container.get("name") == "aws-node":
                _set_env(container, "ENABLE_PREFIX_DELEGATION", "true")
                _set_env(container, "ENABLE_IMDS_ONLY_MODE", "true")
    return result


def rig_coredns(coredns: Object, source: str) -> Object:
    """CoreDNS as a DaemonSet on RIG nodes: each restricted node resolves names locally."""
    result = _copy_without_server_fields(coredns)
    result["kind"] = "DaemonSet"
    metadata = result["metadata"]
    metadata["name"] = RIG_PREFIX + metadata["name"]
    metadata["annotations"][patch_annotation("coredns")] = _marker(source)
    spec = result["spec"]
    for deployment_only in ("replicas", "progressDeadlineSeconds", "revisionHistoryLimit", "strategy", "paused"):
        spec.pop(deployment_only, None)
    spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    pod_spec = _pod_spec(result)
    pod_spec.pop("topologySpreadConstraints", None)
    pod_spec["nodeSelector"] = {RIG_LABEL: RIG_LABEL_VALUE}
    pod_spec["tolerations"] = [t for t in pod_spec.get("tolerations", []) if t.get("key") != RIG_TAINT["key"]]
    pod_spec["tolerations"].append(dict(RIG_TAINT))
    return result


def tolerate_rig_patch(obj: Object, component: str, source: str, *, prefer_other_nodes: bool) -> JsonPatch:
    """A JSON patch that lets a Deployment or DaemonSet run on RIG nodes.

    ``prefer_other_nodes`` keeps a controller (training or MPI operator) on standard nodes
    while there are any: a mixed cluster runs its controllers where capacity is cheap.
    """
    pod_spec = copy.deepcopy(obj.get("spec", {}).get("template", {}).get("spec", {}))
    tolerations = [t for t in pod_spec.get("tolerations", []) if t.get("key") != RIG_TAINT["key"]]
    tolerations.append(dict(RIG_TAINT))
    patch: JsonPatch = [{"op": "add", "path": "/spec/template/spec/tolerations", "value": tolerations}]
    if prefer_other_nodes:
        affinity = pod_spec.get("affinity") or {}
        node_affinity = affinity.setdefault("nodeAffinity", {})
        preferred = node_affinity.setdefault("preferredDuringSchedulingIgnoredDuringExecution", [])
        preference = {"matchExpressions": [{"key": RIG_LABEL, "operator": "NotIn", "values": [RIG_LABEL_VALUE]}]}
        if not any(entry.get("preference") == preference for entry in preferred):
            preferred.append({"weight": 100, "preference": preference})
        patch.append({"op": "add", "path": "/spec/template/spec/affinity", "value": affinity})
    return patch + _annotation_patch(obj, component, source)


def efa_patch(efa: Object, source: str, region: str) -> JsonPatch:
    """The EFA device plugin tolerates RIG nodes and pulls its image from the cluster's region."""
    patch = tolerate_rig_patch(efa, "aws-efa-k8s-device-plugin", source, prefer_other_nodes=False)
    containers = efa.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    for index, container in enumerate(containers):
        if container.get("name") == "aws-efa-k8s-device-plugin":
            patch.insert(
                1,
                {
                    "op": "replace",
                    "path": f"/spec/template/spec/containers/{index}/image",
                    "value": regional_image(container["image"], region),
                },
            )
    return patch


def _annotation_patch(obj: Object, component: str, source: str) -> JsonPatch:
    key = patch_annotation(component).replace("~", "~0").replace("/", "~1")
    patch: JsonPatch = []
    if not obj.get("metadata", {}).get("annotations"):
        patch.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    patch.append({"op": "add", "path": f"/metadata/annotations/{key}", "value": _marker(source)})
    return patch


def chart_template(obj: Object) -> str:
    """An object as a Helm template: JSON is YAML, and literal ``{{`` must not start a template action."""
    return json.dumps(obj, indent=2, sort_keys=True).replace("{{", '{{ "{{" }}') + "\n"
