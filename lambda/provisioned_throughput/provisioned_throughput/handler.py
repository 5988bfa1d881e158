"""Custom resource: Bedrock provisioned throughput, which CloudFormation has no resource type for.

The Provider framework calls ``on_event`` once per request and ``is_complete`` until it
reports done, so nothing here sleeps while the throughput comes into service.

- Create: ``CreateProvisionedModelThroughput`` with a client request token derived from the
  CloudFormation request id, so a retried request finds the same throughput.
- Update: a new model or name is updated in place; new model units or commitment need a new
  throughput (CloudFormation then deletes the old one).
- Delete: deletes; a throughput that is already gone counts as deleted.
- A create that ends ``Failed`` deletes what it made before it reports the failure.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)

COMMITMENTS = ("None", "OneMonth", "SixMonths")
NAME_PATTERN = re.compile(r"^([0-9a-zA-Z][_-]?)+$")
MODEL_ARN_PATTERN = re.compile(
    r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:\d{0,12}:(custom-model|foundation-model)/\S+$"
)
RETRYABLE = ("ThrottlingException", "ServiceUnavailableException", "InternalServerException")
_clients: dict[str, Any] = {}


class InvalidRequestError(Exception):
    """The resource properties break a rule; the message names every bad field."""


class ThroughputFailedError(Exception):
    """Bedrock reported the throughput as Failed."""


@dataclass(frozen=True)
class ThroughputSpec:
    model_id: str
    model_units: int
    commitment: str
    name: str
    tags: dict[str, str]

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> ThroughputSpec:
        problems: list[str] = []
        model_id = properties.get("ModelId")
        if not isinstance(model_id, str) or not MODEL_ARN_PATTERN.match(model_id):
            problems.append(f"ModelId: {model_id!r} is not allowed; expected a Bedrock custom or foundation model ARN")
        try:
            units = int(properties.get("ModelUnits", ""))  # CloudFormation passes numbers as strings
        except ValueError:
            units = 0
        if units < 1:
            problems.append(f"ModelUnits: {properties.get('ModelUnits')!r} is not allowed; expected an integer >= 1")
        commitment = properties.get("CommitmentDuration", "None")
        if commitment not in COMMITMENTS:
            problems.append(
                f"CommitmentDuration: {commitment!r} is not allowed; expected one of {', '.join(COMMITMENTS)}"
            )
        name = properties.get("ProvisionedModelName")
        if not isinstance(name, str) or not 1 <= len(name) <= 63 or not NAME_PATTERN.match(name):
            problems.append(f"ProvisionedModelName: {name!r} is not allowed; expected 1-63 letters, digits, '-' or '_'")
        tags = properties.get("Tags", {})
        if not isinstance(tags, dict):
            problems.append(f"Tags: {tags!r} is not allowed; expected a mapping of keys to values")
            tags = {}
        if problems:
            raise InvalidRequestError("; ".join(problems))
        return cls(str(model_id), units, str(commitment), str(name), {str(k): str(v) for k, v in tags.items()})

    def needs_replacement(self, old: ThroughputSpec) -> bool:
        return (self.model_units, self.commitment) != (old.model_units, old.commitment)


def with_retries(call: Callable[[], Any], sleep: Callable[[float], None] = time.sleep, attempts: int = 6) -> Any:
    """Retry throttling and transient errors with exponential back-off (1, 2, 4 ... seconds)."""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as error:
            if error.response["Error"]["Code"] not in RETRYABLE or attempt == attempts - 1:
                raise
            sleep(float(2**attempt))
    raise AssertionError("unreachable")


class Throughputs:
    def __init__(self, bedrock: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self.bedrock = bedrock
        self.sleep = sleep

    def _call(self, operation: str, **params: Any) -> Any:
        return with_retries(lambda: getattr(self.bedrock, operation)(**params), self.sleep)

    def create(self, spec: ThroughputSpec, request_id: str) -> str:
        params: dict[str, Any] = {
            "clientRequestToken": request_id,
            "modelUnits": spec.model_units,
            "provisionedModelName": spec.name,
            "modelId": spec.model_id,
            "tags": [{"key": k, "value": v} for k, v in sorted(spec.tags.items())],
        }
        if spec.commitment != "None":
            params["commitmentDuration"] = spec.commitment
        return str(self._call("create_provisioned_model_throughput", **params)["provisionedModelArn"])

    def update(self, arn: str, spec: ThroughputSpec) -> None:
        self._call(
            "update_provisioned_model_throughput",
            provisionedModelId=arn,
            desiredProvisionedModelName=spec.name,
            desiredModelId=spec.model_id,
        )

    def delete(self, arn: str) -> None:
        try:
            self._call("delete_provisioned_model_throughput", provisionedModelId=arn)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            LOGGER.info(json.dumps({"delete": arn, "skipped": "already gone"}))

    def status(self, arn: str) -> dict[str, Any]:
        return dict(self._call("get_provisioned_model_throughput", provisionedModelId=arn))


def on_event(event: dict[str, Any], throughputs: Throughputs) -> dict[str, Any]:
    request = event.get("RequestType")
    if request == "Delete":
        arn = event.get("PhysicalResourceId", "")
        if arn.startswith("arn:"):  # a create that failed before Bedrock answered made nothing
            throughputs.delete(arn)
        return {"PhysicalResourceId": arn}
    spec = ThroughputSpec.from_properties(event.get("ResourceProperties", {}))
    if request == "Create":
        return {"PhysicalResourceId": throughputs.create(spec, event["RequestId"])}
    if request == "Update":
        old = ThroughputSpec.from_properties(event.get("OldResourceProperties", {}))
        if spec.needs_replacement(old):
            return {"PhysicalResourceId": throughputs.create(spec, event["RequestId"])}
        throughputs.update(event["PhysicalResourceId"], spec)
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    raise InvalidRequestError(f"RequestType: {request!r} is not allowed; expected Create, Update or Delete")


def is_complete(event: dict[str, Any], throughputs: Throughputs) -> dict[str, Any]:
    arn = event["PhysicalResourceId"]
    if event.get("RequestType") == "Delete":
        return {"IsComplete": True}
    current = throughputs.status(arn)
    status = current["status"]
    if status == "Failed":
        if event.get("RequestType") == "Create":
            throughputs.delete(arn)
        raise ThroughputFailedError(
            f"provisioned throughput {arn} failed: {current.get('failureMessage', 'no reason')}"
        )
    if status != "InService":
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": {"ProvisionedModelArn": arn, "ModelArn": current.get("modelArn", "")}}


def _throughputs() -> Throughputs:
    if "bedrock" not in _clients:
        _clients["bedrock"] = boto3.client("bedrock")
    return Throughputs(_clients["bedrock"])


def handle_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    LOGGER.info(json.dumps({"request": event.get("RequestType"), "id": event.get("PhysicalResourceId")}))
    return on_event(event, _throughputs())


def handle_is_complete(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return is_complete(event, _throughputs())
