"""The Kubernetes objects of a Nova training run on a HyperPod EKS cluster's restricted instance group.

HyperPod has no "create training job" API for Nova: the public launcher
(aws/sagemaker-hyperpod-recipes, ``launcher/nova``, commit 263199555b2e) renders a Helm chart
and installs it. This module builds the same objects as plain data, so a Lambda can create
them through the Kubernetes API and the state machine can wait for them:

- SFT, DPO and CPT: a ConfigMap ``training-config-<job>`` holding the recipe as ``config.yaml``
  and one kubeflow ``PyTorchJob`` (one master, ``replicas - 1`` workers).
- PPO: one ConfigMap and job per model role (reward, critic, anchor, actor train) and, for
  actor generation, a headless Service and StatefulSet on the generation image. The run ends
  when the actor-train job ends; the other roles serve it and are deleted with it.

Pods tolerate the restricted-node taint and must land on the restricted group's instance type;
an init container from the Nova registry prepares the node. The launcher's init container
mounts ``k8s-ca-cert`` but its PyTorchJob template defines that volume only for evaluation
jobs; here the volume is always defined, as its PPO generation template does.

Names are lowercase, start with a letter and carry a hash of the run name, so two runs whose
names differ only in case never share objects, and a retried step creates the same objects.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

from customization.contract import HyperPodJobStatus

PYTORCH_JOBS = "/apis/kubeflow.org/v1/namespaces/{namespace}/pytorchjobs"
CONFIG_MAPS = "/api/v1/namespaces/{namespace}/configmaps"
SERVICES = "/api/v1/namespaces/{namespace}/services"
STATEFUL_SETS = "/apis/apps/v1/namespaces/{namespace}/statefulsets"
# Every kind a Nova run creates: its apiVersion and the collection it is created in.
KINDS = {
    "ConfigMap": ("v1", CONFIG_MAPS),
    "PyTorchJob": ("kubeflow.org/v1", PYTORCH_JOBS),
    "Service": ("v1", SERVICES),
    "StatefulSet": ("apps/v1", STATEFUL_SETS),
}
RESTRICTED_TAINT = {
    "key": "sagemaker.amazonaws.com/RestrictedNode",
    "operator": "Equal",
    "value": "Worker",
    "effect": "NoSchedule",
}
GPUS_PER_NODE = {"ml.p5.48xlarge": 8, "ml.p5en.48xlarge": 8}
EFA_DEVICES = {"ml.p5.48xlarge": 32, "ml.p5en.48xlarge": 16}
# PPO roles: job suffix -> (recipe section, task_type, run key holding its node count).
PPO_ROLES: dict[str, tuple[str, str, str]] = {
    "rm": ("ppo_reward", "ppo_rm", "rm_replicas"),
    "cm": ("ppo_critic", "ppo_cm", "cm_replicas"),
    "am": ("ppo_anchor", "ppo_anchor", "am_replicas"),
    "ag": ("ppo_actor_generation", "ppo_actor_gen", "actor_generation_replicas"),
    "at": ("ppo_actor_train", "ppo_actor_train", "actor_train_replicas"),
}
PPO_RUN_KEYS_DROPPED = ("actor_train_replicas", "rm_replicas", "cm_replicas", "am_replicas")
PPO_PRIMARY = "at"
# Pod restarts a job survives before the training operator marks it Failed (a crash loop ends the run).
BACKOFF_LIMIT = 3
RUN_REFERENCE = re.compile(r"^\$\{recipes\.run\.(?P<key>[a-z_]+)\}$")


@dataclass(frozen=True)
class Placement:
    """Where and as whom the run's pods go: the cluster's namespace and restricted group, the account and region."""

    namespace: str
    instance_type: str
    account: str
    region: str
    max_seconds: int = 24 * 3600


@dataclass(frozen=True)
class Images:
    training: str
    init: str
    actor_generation: str | None = None


def base_name(run_name: str) -> str:
    """``nova-<run>-<hash>``: at most 45 characters, so ``<name>-<role>-worker-<n>`` pod names stay short."""
    digest = hashlib.sha256(run_name.encode()).hexdigest()[:8]
    return f"nova-{run_name.lower()[:30].rstrip('-')}-{digest}"


def job_objects(
    run_name: str, technique: str, rendered: dict[str, Any], placement: Placement, images: Images
) -> dict[str, Any]:
    """``{"objects": [{"path", "name", "body"}...], "primary": {"name", "path"}}``, in creation order.

    ``path`` is the collection to POST to; ``path/name`` is the object. ConfigMaps come first:
    pods mount them.
    """
    name = base_name(run_name)
    namespace = placement.namespace
    objects: list[dict[str, Any]] = []
    if technique == "ppo":
        if images.actor_generation is None:
            raise ValueError("PPO needs the actor generation image")
        run = {k: v for k, v in rendered["run"].items() if k not in PPO_RUN_KEYS_DROPPED}
        for role, (section, task_type, replicas_key) in PPO_ROLES.items():
            job = f"{name}-{role}"
            nodes = int(rendered["run"][replicas_key])
            training = _resolve_run_references({**rendered[section], "task_type": task_type}, rendered["run"])
            objects.append(_config_map(job, namespace, {"run": run, "training_config": training}))
            if role == "ag":
                objects += _generation_objects(job, namespace, nodes, placement, images)
            else:
                objects.append(
                    _pytorch_job(job, namespace, nodes, placement, images, images.training, _service(job, namespace))
                )
        primary = f"{name}-{PPO_PRIMARY}"
    else:
        nodes = int(rendered["run"].get("replicas", 1))
        objects.append(_config_map(name, namespace, rendered))
        objects.append(_pytorch_job(name, namespace, nodes, placement, images, images.training))
        primary = name
    return {"objects": objects, "primary": {"name": primary, "path": PYTORCH_JOBS.format(namespace=namespace)}}


def _resolve_run_references(section: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Replaces ``${recipes.run.<key>}`` (PPO's node counts) with the run's value, as the launcher's OmegaConf does."""

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        match = RUN_REFERENCE.match(value) if isinstance(value, str) else None
        if match is None:
            return value
        if match["key"] not in run:
            raise ValueError(f"{value}: run.{match['key']} is not in the recipe")
        return run[match["key"]]

    resolved: dict[str, Any] = resolve(section)
    return resolved


def _object(kind: str, name: str, namespace: str, job: str, **content: Any) -> dict[str, Any]:
    """``{"path", "name", "body"}`` for one object of ``kind``, labelled with the job it belongs to."""
    api_version, collection = KINDS[kind]
    metadata = {"name": name, "namespace": namespace, "labels": {"app": job}}
    return {
        "path": collection.format(namespace=namespace),
        "name": name,
        "body": {"apiVersion": api_version, "kind": kind, "metadata": metadata, **content},
    }


def _config_map(job: str, namespace: str, recipe: dict[str, Any]) -> dict[str, Any]:
    data = {"config.yaml": yaml.safe_dump(recipe, sort_keys=False)}
    return _object("ConfigMap", f"training-config-{job}", namespace, job, data=data)


def _environment(placement: Placement) -> list[dict[str, str]]:
    return [
        {"name": "X_AMZ_SOURCE_ACCOUNT", "value": placement.account},
        {"name": "INSTANCE_TYPE", "value": placement.instance_type},
        {"name": "AWS_REGION", "value": placement.region},
    ]


def _devices(placement: Placement) -> dict[str, int]:
    return {
        "nvidia.com/gpu": GPUS_PER_NODE[placement.instance_type],
        "vpc.amazonaws.com/efa": EFA_DEVICES[placement.instance_type],
    }


def _host_path(name: str, path: str, kind: str = "DirectoryOrCreate") -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def _pod_spec(job: str, placement: Placement, images: Images, container: dict[str, Any]) -> dict[str, Any]:
    """The pod both templates share: toleration, node affinity, init container and the node's volumes."""
    return {
        "tolerations": [RESTRICTED_TAINT],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "node.kubernetes.io/instance-type",
                                    "operator": "In",
                                    "values": [placement.instance_type],
                                },
                                {
                                    "key": "sagemaker.amazonaws.com/instance-group-type",
                                    "operator": "In",
                                    "values": ["Restricted"],
                                },
                            ]
                        }
                    ]
                }
            }
        },
        "initContainers": [
            {
                "name": "init-container",
                "image": images.init,
                "imagePullPolicy": "Always",
                "env": _environment(placement),
                "volumeMounts": [
                    {"name": "fsx-path-init", "mountPath": "/sagemaker/fsx/init"},
                    {"name": "training-config", "mountPath": "/config"},
                    {"name": "logs", "mountPath": "/var/log/aws/clusters"},
                    {"name": "k8s-ca-cert", "mountPath": "/etc/kubernetes/pki/ca.crt", "readOnly": True},
                ],
            }
        ],
        "containers": [container],
        "volumes": [
            _host_path("fsx-path-main", "/sagemaker/fsx/main"),
            _host_path("fsx-path-init", "/sagemaker/fsx/init"),
            {"name": "training-config", "configMap": {"name": f"training-config-{job}"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            _host_path("logs", "/var/log/aws/clusters"),
            _host_path("fsx-path-output-artifacts", "/sagemaker/fsx/output_artifacts"),
            _host_path("tmp-storage", "/opt/dlami/nvme", "Directory"),
            _host_path("k8s-ca-cert", "/etc/kubernetes/pki/ca.crt", "File"),
        ],
    }


def _mounts(with_tmp: bool) -> list[dict[str, str]]:
    mounts = [
        {"name": "fsx-path-main", "mountPath": "/sagemaker/fsx/main"},
        {"name": "training-config", "mountPath": "/config"},
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "logs", "mountPath": "/var/log/aws/clusters"},
        {"name": "fsx-path-output-artifacts", "mountPath": "/sagemaker/fsx/output_artifacts"},
    ]
    if with_tmp:
        mounts.append({"name": "tmp-storage", "mountPath": "/tmp"})
    return mounts


def _service(job: str, namespace: str) -> list[dict[str, str]]:
    """Where a PPO role's processes find each other: every PPO container of the public launcher sets these
    (aws/sagemaker-hyperpod-recipes, launcher/nova/k8s_templates/PPO/training.yaml and training-ag.yaml)."""
    return [{"name": "SVC_NAME", "value": job}, {"name": "NAMESPACE", "value": namespace}]


def _pytorch_job(
    job: str,
    namespace: str,
    nodes: int,
    placement: Placement,
    images: Images,
    image: str,
    service: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """``service``: a PPO role's ``SVC_NAME`` and ``NAMESPACE``, ahead of the environment every job gets."""
    container = {
        "name": "pytorch",
        "image": image,
        "imagePullPolicy": "Always",
        "env": [*(service or []), *_environment(placement)],
        "resources": {"limits": _devices(placement), "requests": _devices(placement)},
        "securityContext": {"capabilities": {"add": ["IPC_LOCK"]}},
        "volumeMounts": _mounts(with_tmp=True),
    }

    def replicas(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": {
                "metadata": {"labels": {"app": job}},
                "spec": _pod_spec(job, placement, images, container),
            },
        }

    specs = {"Master": replicas(1)}
    if nodes > 1:
        specs["Worker"] = replicas(nodes - 1)
    # The training operator fails the job after the environment's time limit or BACKOFF_LIMIT restarts.
    run_policy = {"activeDeadlineSeconds": placement.max_seconds, "backoffLimit": BACKOFF_LIMIT}
    return _object("PyTorchJob", job, namespace, job, spec={"runPolicy": run_policy, "pytorchReplicaSpecs": specs})


def _generation_objects(
    job: str, namespace: str, nodes: int, placement: Placement, images: Images
) -> list[dict[str, Any]]:
    """PPO's actor generation: a StatefulSet of inference servers behind a headless Service."""
    container = {
        "name": "server",
        "image": images.actor_generation,
        "imagePullPolicy": "Always",
        "env": _service(job, namespace),
        "resources": {"limits": _devices(placement), "requests": _devices(placement)},
        # The launcher's generation template runs this container privileged; nothing here asks for more.
        "securityContext": {"privileged": True},
        "volumeMounts": _mounts(with_tmp=False),
    }
    pod = _pod_spec(job, placement, images, container)
    pod["volumes"] = [volume for volume in pod["volumes"] if volume["name"] != "tmp-storage"]
    pod["restartPolicy"] = "Always"
    stateful_set = {
        "podManagementPolicy": "Parallel",
        "replicas": nodes,
        "selector": {"matchLabels": {"app": job}},
        "serviceName": job,
        "template": {"metadata": {"labels": {"app": job}}, "spec": pod},
    }
    return [
        _object("Service", job, namespace, job, spec={"clusterIP": "None", "selector": {"app": job}}),
        _object("StatefulSet", job, namespace, job, spec=stateful_set),
    ]


def job_state(job: dict[str, Any] | None) -> str:
    """``Succeeded``, ``Failed`` or ``Running`` from a PyTorchJob's status conditions (the training
    operator sets the newest condition last); a job that is gone counts as ``Failed``."""
    if job is None:
        return HyperPodJobStatus.FAILED
    conditions = (job.get("status") or {}).get("conditions") or []
    ended = {"Succeeded": HyperPodJobStatus.SUCCEEDED, "Failed": HyperPodJobStatus.FAILED}
    for condition in reversed(conditions):
        if condition.get("status") == "True" and condition.get("type") in ended:
            return ended[condition["type"]]
    return HyperPodJobStatus.RUNNING


def failure_reason(job: dict[str, Any] | None) -> str:
    """Why a PyTorchJob failed, from its ``Failed`` condition (e.g. the deadline or the restart limit)."""
    if job is None:
        return "the job is gone from the cluster"
    for condition in reversed((job.get("status") or {}).get("conditions") or []):
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".rstrip(": ")
    return "no Failed condition"
