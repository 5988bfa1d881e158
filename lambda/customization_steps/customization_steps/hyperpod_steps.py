"""The HyperPod training steps: create the run's Kubernetes objects, read its job's state, delete them.

The cluster's API endpoint is private, so this function runs in the VPC and talks to the
Kubernetes API directly (Step Functions' EKS integration needs a public endpoint). Its role is
mapped, by an EKS access entry, to edit rights in the training namespace only. Every step is
safe to retry: objects that already exist are left as they are, objects already gone are skipped.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from eks_access.api import KubeApi, describe_endpoint, urllib_transport
from eks_access.token import eks_token

from customization_steps.clients import client
from customization_steps.hyperpod_jobs import job_state

logger = Logger()
tracer = Tracer()


def submit_objects(plan: dict[str, Any], api: KubeApi) -> list[str]:
    """Creates the run's objects in order; returns the names it created (none on a retry after success)."""
    created = []
    for obj in plan["objects"]:
        if api.create(obj["path"], obj["body"]):
            created.append(obj["name"])
        else:
            logger.info("already there", extra={"object": obj["name"]})
    return created


def job_status(plan: dict[str, Any], api: KubeApi) -> str:
    """``Succeeded`` when the primary PyTorchJob succeeded; ``Failed`` when any of the run's PyTorchJobs
    failed (a PPO role dying fails the run at once); else ``Running``."""
    primary = plan["primary"]
    states = {
        obj["name"]: job_state(api.get(f"{obj['path']}/{obj['name']}"))
        for obj in plan["objects"]
        if obj["body"].get("kind") == "PyTorchJob"
    }
    if "Failed" in states.values():
        logger.info("job failed", extra={"jobs": states})
        return "Failed"
    return states.get(primary["name"], "Failed")


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
    return cluster_api(os.environ["CLUSTER_NAME"], client("eks"), client("sts"))


ACTIONS = {"submit": submit_objects, "status": job_status, "remove": remove_objects}
RESULT_KEYS = {"submit": "created", "status": "status", "remove": "removed"}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"action": "submit" | "status" | "remove", "hyperpod": <the plan Prepare made>}``."""
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action: {action!r} is not allowed; expected one of {', '.join(ACTIONS)}")
    plan = event.get("hyperpod")
    if not isinstance(plan, dict) or "objects" not in plan or "primary" not in plan:
        raise ValueError(f"hyperpod: {plan!r:.200} is not allowed; expected Prepare's plan (objects, primary)")
    result: object = ACTIONS[action](plan, _api())
    return {RESULT_KEYS[action]: result}
