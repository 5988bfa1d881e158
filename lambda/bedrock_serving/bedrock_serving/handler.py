"""Custom resource for Bedrock serving, which CloudFormation has no resource type for.

One flow for both kinds (``Kind``: ``ProvisionedThroughput`` or ``CustomModelDeployment``). The
Provider framework calls ``on_event`` once per request and ``is_complete`` every minute until done,
so nothing here sleeps while Bedrock works. The framework hands ``is_complete`` the request merged
with what ``on_event`` returned (aws-cdk-lib custom-resources, provider-framework ``createResponseEvent``):
``StartedAt`` and ``MadeInThisRequest`` travel that way.

- A base model (``ModelId`` a foundation model ARN) gets no resource: the physical id and ``InvokeArn``
  are ``BaseInvokeArn`` (the model or an inference profile), and a later Delete has nothing to delete.
- Create: named ``<NamePrefix>-<request id>`` with the request id as client token, so a retried request
  finds the same resource and a replacement never reuses the name of the resource it replaces.
- Update: nothing to make when the live resource already serves what is asked (a rollback to the settings
  it was made with, or a retried request); in place where Bedrock allows it (``Kind.updates_in_place``:
  tags, and a custom model of the same base); otherwise a new resource. The physical id stays the old
  resource's until the new one is ready (``Replacement`` carries it to ``is_complete``, which returns it
  as the physical id then): a replacement that fails or times out is deleted here, and CloudFormation's
  rollback is handed the old resource, which already matches. A resource that has expired or was deleted
  outside CloudFormation is made again. A change of commitment is refused: one side of it could be
  neither deleted (a committed throughput, during its term) nor kept (an hourly one, billing unowned).
- Delete: of the resource the physical id names, whatever the properties say (after a mode change they
  name the new kind); a resource already gone counts as deleted; one Bedrock refuses to delete for now
  (still creating) is asked again on every ``is_complete``.
- A resource this request made that ends ``Failed``, or is not ready after ``READY_WITHIN``, is deleted
  before the request fails, so no rollback leaves one billing. CloudFormation waits for a custom resource
  one hour at most (``ServiceTimeout`` up to 3600 s, aws-cdk-lib's Provider ``totalTimeout`` up to one hour),
  and a response it never gets carries no physical id to delete.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bedrock_serving.kinds import (
    CustomModelDeployments,
    InvalidRequestError,
    Kind,
    ProvisionedThroughputs,
    resource_name,
)
from bedrock_serving.retries import is_not_found

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)
KINDS: dict[str, type[ProvisionedThroughputs | CustomModelDeployments]] = {
    "ProvisionedThroughput": ProvisionedThroughputs,
    "CustomModelDeployment": CustomModelDeployments,
}
# Below the Provider's total timeout (50 minutes, constructs/served_model.py), itself below CloudFormation's hour.
READY_WITHIN = timedelta(minutes=45)
_clients: dict[str, Any] = {}


class ServingResourceFailedError(Exception):
    """Bedrock reported the resource as Failed, or it was not ready in time."""


def on_event(event: dict[str, Any], kind: Kind, now: datetime | None = None) -> dict[str, Any]:
    request = event.get("RequestType")
    started = now or datetime.now(UTC)
    if request == "Delete":
        arn = event.get("PhysicalResourceId", "")
        if kind.owns(arn):  # a base model's invoke ARN, or a create that failed before Bedrock answered: nothing
            kind.delete(arn)  # refused for now: is_complete asks again
        return {"PhysicalResourceId": arn}
    if request not in ("Create", "Update"):
        raise InvalidRequestError(f"RequestType: {request!r} is not allowed; expected Create, Update or Delete")
    spec = kind.parse(event.get("ResourceProperties", {}))
    response: dict[str, Any] = {"StartedAt": started.isoformat()}
    attributes = kind.attributes(spec, started)
    if attributes:
        response["Data"] = attributes  # the Provider framework merges is_complete's Data into these
    if spec.is_base_model:
        return {**response, "PhysicalResourceId": spec.base_invoke_arn, "MadeInThisRequest": False}
    if request == "Create":
        arn = kind.create(spec, resource_name(spec, event["RequestId"]), event["RequestId"])
        return {**response, "PhysicalResourceId": arn, "MadeInThisRequest": True}
    arn = event["PhysicalResourceId"]
    old = kind.parse(event.get("OldResourceProperties", {}))
    commitments = (getattr(old, "commitment", "None"), getattr(spec, "commitment", "None"))
    if kind.owns(arn) and commitments[0] != commitments[1]:
        raise InvalidRequestError(
            f"CommitmentDuration: {commitments[1]!r} is not allowed in place of {commitments[0]!r}; expected the "
            "same: a committed throughput cannot be deleted during its term, and an hourly one replaced by it would "
            "be left billing; remove the serving section's throughput by hand first"
        )
    try:
        if kind.owns(arn) and kind.matches(arn, spec):  # a rollback, or a request retried after it was done
            kind.retag(arn, spec.tags, old.tags)
            return {**response, "PhysicalResourceId": arn, "MadeInThisRequest": False}
        if kind.updates_in_place(arn, spec, old):
            kind.update(arn, spec, old)
            return {**response, "PhysicalResourceId": arn, "MadeInThisRequest": False}
    except ClientError as error:
        if not is_not_found(error):
            raise
        LOGGER.info(json.dumps({"update": arn, "recreate": "it no longer exists"}))
    made = kind.create(spec, resource_name(spec, event["RequestId"]), event["RequestId"])
    # The old resource stays the physical id until the new one is ready (is_complete hands CloudFormation the new).
    return {**response, "PhysicalResourceId": arn, "Replacement": made, "MadeInThisRequest": True}


def is_complete(event: dict[str, Any], kind: Kind, now: datetime | None = None) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        arn = event["PhysicalResourceId"]
        return {"IsComplete": not kind.owns(arn) or kind.delete(arn)}
    arn = event.get("Replacement") or event["PhysicalResourceId"]
    spec = kind.parse(event.get("ResourceProperties", {}))
    if not kind.owns(arn):
        return {"IsComplete": True, "PhysicalResourceId": arn, "Data": {"InvokeArn": arn, "ModelArn": spec.model_id}}
    status = kind.status(arn, spec)
    made = bool(event.get("MadeInThisRequest"))
    if status.state == "failed":
        raise ServingResourceFailedError(
            f"{arn} failed: {status.reason or 'no reason given'}{_discard(kind, arn, made)}"
        )
    if status.state == "pending":
        started = datetime.fromisoformat(event["StartedAt"])
        if (now or datetime.now(UTC)) - started < READY_WITHIN:
            return {"IsComplete": False}
        minutes = int(READY_WITHIN.total_seconds() // 60)
        raise ServingResourceFailedError(
            f"{arn} was not ready within {minutes} minutes (CloudFormation waits for a custom resource one hour at "
            f"most){_discard(kind, arn, made)}"
        )
    return {"IsComplete": True, "PhysicalResourceId": arn, "Data": {"InvokeArn": arn, "ModelArn": status.model_arn}}


def _discard(kind: Kind, arn: str, made: bool) -> str:
    """Delete what this request made (a create, or a replacement), so a failed or timed-out request leaves nothing
    billing (CloudFormation's rollback of an update keeps the resource it had, not the replacement); returns what
    the error message adds."""
    if not made:
        return ""
    if kind.delete(arn):
        return "; it was deleted"
    LOGGER.warning(json.dumps({"left": arn, "why": "Bedrock refused the delete for now"}))
    return "; Bedrock refused to delete it for now: delete it once it can be (it bills until then)"


def _kind(event: dict[str, Any]) -> Kind:
    name = event.get("ResourceProperties", {}).get("Kind")
    if event.get("RequestType") == "Delete":  # the resource's own kind, by its ARN
        arn = str(event.get("PhysicalResourceId", ""))
        name = next((n for n, kind in KINDS.items() if f":{kind.arn_type}/" in arn), name)
    if name not in KINDS:
        raise InvalidRequestError(f"Kind: {name!r} is not allowed; expected one of {', '.join(KINDS)}")
    if "bedrock" not in _clients:
        _clients["bedrock"] = boto3.client("bedrock")
    return KINDS[name](_clients["bedrock"])


def handle_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    LOGGER.info(json.dumps({"request": event.get("RequestType"), "id": event.get("PhysicalResourceId")}))
    return on_event(event, _kind(event))


def handle_is_complete(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return is_complete(event, _kind(event))
