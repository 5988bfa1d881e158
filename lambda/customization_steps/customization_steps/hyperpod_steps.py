"""The HyperPod training steps: create the run's Kubernetes objects, read its job's state, delete them.

The cluster's API endpoint is private, so this function runs in the VPC and talks to the
Kubernetes API directly (Step Functions' EKS integration needs a public endpoint). Its role is
mapped, by an EKS access entry, to a Role in the training namespace that may create and delete a
run's objects and read its PyTorchJobs, nothing more. Every step is safe to retry: objects that
already exist are left as they are, objects already gone are skipped. An overloaded or unreachable
API server raises :class:`KubeApiTransientError`, which the state machine retries; and the step
creates only the kinds of object a Nova run has, in its own namespace, whatever its event says.
"""

from __future__ import annotations

import os
import urllib.error
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from eks_access.api import KubeApi, KubeApiError, describe_endpoint, urllib_transport
from eks_access.token import eks_token

from customization.contract import THROTTLING_CODES, Env, HyperPodAction, HyperPodJobStatus, KubeApiTransientError
from customization_steps.clients import client
from customization_steps.hyperpod_jobs import KINDS, failure_reason, job_state

logger = Logger()
tracer = Tracer()


NAME_PREFIXES = ("nova-", "training-config-nova-")


def check_plan(plan: object, namespace: str) -> dict[str, Any]:
    """Prepare's plan, if every object is a kind a Nova run has, in ``namespace``, under a run's name."""
    if not isinstance(plan, dict) or not isinstance(plan.get("objects"), list) or "primary" not in plan:
        raise ValueError(f"hyperpod: {plan!r:.200} is not allowed; expected Prepare's plan (objects, primary)")
    for obj in plan["objects"]:
        body = obj.get("body", {}) if isinstance(obj, dict) else {}
        kind, name = body.get("kind"), obj.get("name") if isinstance(obj, dict) else None
        path = KINDS[str(kind)][1].format(namespace=namespace) if kind in KINDS else ""
        metadata = body.get("metadata", {})
        if (
            not path
            or obj.get("path") != path
            or not isinstance(name, str)
            or not name.startswith(NAME_PREFIXES)
            or metadata.get("name") != name
            or metadata.get("namespace") != namespace
        ):
            allowed = f"{', '.join(KINDS)} named nova-... in namespace {namespace!r}"
            raise ValueError(
                f"hyperpod.objects: {kind} {name!r} at {obj.get('path')!r} is not allowed; expected {allowed}"
            )
    return plan


def submit_objects(plan: dict[str, Any], api: KubeApi) -> list[str]:
    """Creates the run's objects in order; returns the names it created (none on a retry after success)."""
    created = []
    for obj in plan["objects"]:
        if api.create(obj["path"], obj["body"]):
            created.append(obj["name"])
        else:
            logger.info("already there", extra={"object": obj["name"]})
    return created


def job_report(plan: dict[str, Any], api: KubeApi) -> dict[str, str]:
    """``{"status": ..., "detail": ...}``: ``Succeeded`` once the primary PyTorchJob succeeded (PPO's serving
    roles may exit badly after it); before that, ``Failed`` when any of the run's PyTorchJobs failed (a PPO
    role dying ends the run), with which job and why in ``detail``; else ``Running``."""
    primary = plan["primary"]
    jobs = {
        obj["name"]: api.get(f"{obj['path']}/{obj['name']}")
        for obj in plan["objects"]
        if obj["body"].get("kind") == "PyTorchJob"
    }
    states = {name: job_state(job) for name, job in jobs.items()}
    if states.get(primary["name"]) == HyperPodJobStatus.SUCCEEDED:
        return {"status": HyperPodJobStatus.SUCCEEDED, "detail": ""}
    failed = [name for name, state in states.items() if state == HyperPodJobStatus.FAILED]
    if failed or primary["name"] not in states:
        detail = "; ".join(f"{name}: {failure_reason(jobs[name])}" for name in failed) or "no primary job"
        logger.info("job failed", extra={"jobs": states, "detail": detail})
        return {"status": HyperPodJobStatus.FAILED, "detail": detail}
    return {"status": HyperPodJobStatus.RUNNING, "detail": ""}


def job_status(plan: dict[str, Any], api: KubeApi) -> str:
    """``Running``, ``Succeeded`` or ``Failed``: :func:`job_report`'s status."""
    return job_report(plan, api)["status"]


def remove_objects(plan: dict[str, Any], api: KubeApi) -> list[str]:
    """Deletes the run's objects, newest first; returns the names that were still there."""
    removed = []
    for obj in reversed(plan["objects"]):
        if api.delete(f"{obj['path']}/{obj['name']}"):
            removed.append(obj["name"])
    return removed


def cluster_api(cluster_name: str, eks: Any, sts: Any) -> KubeApi:
    """A client for one invocation: the endpoint and CA from DescribeCluster, a fresh token (valid minutes)."""
    endpoint, certificate = describe_endpoint(eks, cluster_name)
    token = eks_token(sts, cluster_name)
    return KubeApi(endpoint, lambda: token, urllib_transport(certificate))


def _api() -> KubeApi:
    return cluster_api(os.environ[Env.CLUSTER_NAME], client("eks"), client("sts"))


ACTIONS: dict[str, Any] = {
    HyperPodAction.SUBMIT: submit_objects,
    HyperPodAction.STATUS: job_report,
    HyperPodAction.REMOVE: remove_objects,
}
# Where each action's result goes in the answer; ``None``: the result is the answer.
RESULT_KEYS: dict[str, str | None] = {
    HyperPodAction.SUBMIT: "created",
    HyperPodAction.STATUS: None,
    HyperPodAction.REMOVE: "removed",
}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"action": "submit" | "status" | "remove", "hyperpod": <the plan Prepare made>}``."""
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action: {action!r} is not allowed; expected one of {', '.join(ACTIONS)}")
    plan = check_plan(event.get("hyperpod"), os.environ[Env.HYPERPOD_NAMESPACE])
    try:
        result: object = ACTIONS[action](plan, _api())
    except KubeApiError as error:
        if error.status == 429 or error.status >= 500:
            raise KubeApiTransientError(str(error)) from error
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise KubeApiTransientError(f"the cluster's API server is out of reach: {error}") from error
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise KubeApiTransientError(str(error)) from error
        raise
    key = RESULT_KEYS[action]
    return {key: result} if key else dict(result)  # type: ignore[call-overload]
