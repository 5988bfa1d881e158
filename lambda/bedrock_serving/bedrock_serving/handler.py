"""Custom resources for Bedrock serving, which CloudFormation has no resource types for.

One flow for both kinds (``Kind``: ``ProvisionedThroughput`` or ``CustomModelDeployment``).
The Provider framework calls ``on_event`` once per request and ``is_complete`` until done,
so nothing here sleeps while Bedrock works.

- Create: with a client request token derived from the CloudFormation request id, so a
  retried request finds the same resource.
- Update: in place where the API allows it, otherwise a new resource (CloudFormation then
  deletes the old one); a resource that has expired or was deleted outside CloudFormation is
  created again.
- Delete: a resource that is already gone counts as deleted.
- A create that ends ``Failed`` deletes what it made before it reports the failure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bedrock_serving.kinds import CustomModelDeployments, InvalidRequestError, Kind, ProvisionedThroughputs
from bedrock_serving.retries import is_not_found

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)
KINDS: dict[str, Callable[[Any], Kind]] = {
    "ProvisionedThroughput": ProvisionedThroughputs,
    "CustomModelDeployment": CustomModelDeployments,
}
_clients: dict[str, Any] = {}


class ServingResourceFailedError(Exception):
    """Bedrock reported the resource as Failed."""


def on_event(event: dict[str, Any], kind: Kind, now: datetime | None = None) -> dict[str, Any]:
    request = event.get("RequestType")
    if request == "Delete":
        arn = event.get("PhysicalResourceId", "")
        if arn.startswith("arn:"):  # a create that failed before Bedrock answered made nothing
            kind.delete(arn)
        return {"PhysicalResourceId": arn}
    if request not in ("Create", "Update"):
        raise InvalidRequestError(f"RequestType: {request!r} is not allowed; expected Create, Update or Delete")
    spec = kind.parse(event.get("ResourceProperties", {}))
    response: dict[str, Any] = {}
    attributes = kind.attributes(spec, now or datetime.now(UTC))
    if attributes:
        response["Data"] = attributes  # the Provider framework merges is_complete's Data into these
    if request == "Update":
        old = kind.parse(event.get("OldResourceProperties", {}))
        if not kind.needs_replacement(spec, old):
            try:
                kind.update(event["PhysicalResourceId"], spec)
                return {**response, "PhysicalResourceId": event["PhysicalResourceId"]}
            except ClientError as error:
                if not is_not_found(error):
                    raise
                LOGGER.info(json.dumps({"update": event["PhysicalResourceId"], "recreate": "it no longer exists"}))
    return {**response, "PhysicalResourceId": kind.create(spec, event["RequestId"])}


def is_complete(event: dict[str, Any], kind: Kind) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        return {"IsComplete": True}
    arn = event["PhysicalResourceId"]
    status = kind.status(arn)
    if status.state == "failed":
        if event.get("RequestType") == "Create":
            kind.delete(arn)
        raise ServingResourceFailedError(f"{arn} failed: {status.reason or 'no reason given'}")
    if status.state == "pending":
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": status.data}


def _kind(event: dict[str, Any]) -> Kind:
    name = event.get("ResourceProperties", {}).get("Kind")
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
