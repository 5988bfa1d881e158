"""What differs between the serving resources: their properties and their Bedrock operations.

Each kind parses and validates its properties (every problem at once), and maps create,
update, delete and status onto Bedrock. ``handler`` holds the custom resource flow they share.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from bedrock_serving.retries import is_not_found, with_retries

State = Literal["pending", "ready", "failed"]
MODEL_ARN_PATTERN = re.compile(
    r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:\d{0,12}:(custom-model|foundation-model)/\S+$"
)
NAME_PATTERN = re.compile(r"^([0-9a-zA-Z][_-]?)+$")
COMMITMENTS = ("None", "OneMonth", "SixMonths")


class InvalidRequestError(Exception):
    """The resource properties break a rule; the message names every bad field."""


@dataclass(frozen=True)
class Status:
    state: State
    data: dict[str, str]
    reason: str = ""


def _model_and_name(properties: dict[str, Any], name_key: str, problems: list[str]) -> tuple[str, str]:
    model_id = properties.get("ModelId")
    if not isinstance(model_id, str) or not MODEL_ARN_PATTERN.match(model_id):
        problems.append(f"ModelId: {model_id!r} is not allowed; expected a Bedrock custom or foundation model ARN")
    name = properties.get(name_key)
    if not isinstance(name, str) or not 1 <= len(name) <= 63 or not NAME_PATTERN.match(name):
        problems.append(f"{name_key}: {name!r} is not allowed; expected 1-63 letters, digits, '-' or '_'")
    return str(model_id), str(name)


def _tags(properties: dict[str, Any], problems: list[str]) -> dict[str, str]:
    tags = properties.get("Tags", {})
    if not isinstance(tags, dict):
        problems.append(f"Tags: {tags!r} is not allowed; expected a mapping of keys to values")
        return {}
    return {str(k): str(v) for k, v in tags.items()}


class Kind(Protocol):
    def parse(self, properties: dict[str, Any]) -> Any: ...
    def attributes(self, spec: Any, now: datetime) -> dict[str, str]: ...
    def create(self, spec: Any, token: str) -> str: ...
    def needs_replacement(self, spec: Any, old: Any) -> bool: ...
    def update(self, arn: str, spec: Any) -> None: ...
    def delete(self, arn: str) -> None: ...
    def status(self, arn: str) -> Status: ...


class _BedrockKind:
    def __init__(self, bedrock: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self.bedrock = bedrock
        self.sleep = sleep

    def attributes(self, spec: Any, now: datetime) -> dict[str, str]:
        """Attributes known when a create or update is requested (``Fn::GetAtt`` on the resource)."""
        return {}

    def _call(self, operation: str, **params: Any) -> Any:
        return with_retries(lambda: getattr(self.bedrock, operation)(**params), self.sleep)

    def _delete(self, operation: str, **params: Any) -> None:
        try:
            self._call(operation, **params)
        except ClientError as error:
            if not is_not_found(error):
                raise


@dataclass(frozen=True)
class ThroughputSpec:
    model_id: str
    model_units: int
    commitment: str
    name: str
    tags: dict[str, str]
    expire_after_hours: int | None = None


class ProvisionedThroughputs(_BedrockKind):
    """Provisioned throughput: new model units or commitment need a new throughput."""

    def parse(self, properties: dict[str, Any]) -> ThroughputSpec:
        problems: list[str] = []
        model_id, name = _model_and_name(properties, "ProvisionedModelName", problems)
        try:
            units = int(properties.get("ModelUnits", ""))  # CloudFormation passes numbers as strings
        except ValueError:
            units = 0
        if units < 1:
            problems.append(f"ModelUnits: {properties.get('ModelUnits')!r} is not allowed; expected an integer >= 1")
        commitment = properties.get("CommitmentDuration", "None")
        if commitment not in COMMITMENTS:
            allowed = ", ".join(COMMITMENTS)
            problems.append(f"CommitmentDuration: {commitment!r} is not allowed; expected one of {allowed}")
        tags = _tags(properties, problems)
        expiry = properties.get("ExpireAfterHours")
        if expiry is not None:
            try:
                expiry = int(expiry)
            except ValueError:
                expiry = 0
            if expiry < 1 or commitment != "None":
                problems.append(
                    f"ExpireAfterHours: {properties.get('ExpireAfterHours')!r} is not allowed; expected an integer "
                    ">= 1, and only without a commitment"
                )
        if problems:
            raise InvalidRequestError("; ".join(problems))
        return ThroughputSpec(model_id, units, str(commitment), name, tags, expiry)

    def attributes(self, spec: ThroughputSpec, now: datetime) -> dict[str, str]:
        """``ExpiresAt`` (UTC, EventBridge Scheduler's ``at()`` format) when the throughput should be deleted."""
        if spec.expire_after_hours is None:
            return {}
        expires = now.astimezone(UTC) + timedelta(hours=spec.expire_after_hours)
        return {"ExpiresAt": expires.strftime("%Y-%m-%dT%H:%M:%S")}

    def create(self, spec: ThroughputSpec, token: str) -> str:
        params: dict[str, Any] = {
            "clientRequestToken": token,
            "modelUnits": spec.model_units,
            "provisionedModelName": spec.name,
            "modelId": spec.model_id,
            "tags": [{"key": k, "value": v} for k, v in sorted(spec.tags.items())],
        }
        if spec.commitment != "None":
            params["commitmentDuration"] = spec.commitment
        return str(self._call("create_provisioned_model_throughput", **params)["provisionedModelArn"])

    def needs_replacement(self, spec: ThroughputSpec, old: ThroughputSpec) -> bool:
        return (spec.model_units, spec.commitment) != (old.model_units, old.commitment)

    def update(self, arn: str, spec: ThroughputSpec) -> None:
        self._call(
            "update_provisioned_model_throughput",
            provisionedModelId=arn,
            desiredProvisionedModelName=spec.name,
            desiredModelId=spec.model_id,
        )

    def delete(self, arn: str) -> None:
        self._delete("delete_provisioned_model_throughput", provisionedModelId=arn)

    def status(self, arn: str) -> Status:
        current = self._call("get_provisioned_model_throughput", provisionedModelId=arn)
        state: State = {"InService": "ready", "Failed": "failed"}.get(current["status"], "pending")  # type: ignore[assignment]
        data = {"ProvisionedModelArn": arn, "ModelArn": current.get("modelArn", "")}
        return Status(state, data, current.get("failureMessage", ""))


@dataclass(frozen=True)
class DeploymentSpec:
    model_id: str
    name: str
    tags: dict[str, str]


class CustomModelDeployments(_BedrockKind):
    """On-demand custom model deployment: billed per use; a new name needs a new deployment."""

    def parse(self, properties: dict[str, Any]) -> DeploymentSpec:
        problems: list[str] = []
        model_id, name = _model_and_name(properties, "DeploymentName", problems)
        if ":custom-model/" not in model_id:
            problems.append(f"ModelId: {model_id!r} is not allowed; expected a custom model ARN (on-demand)")
        tags = _tags(properties, problems)
        if problems:
            raise InvalidRequestError("; ".join(problems))
        return DeploymentSpec(model_id, name, tags)

    def create(self, spec: DeploymentSpec, token: str) -> str:
        response = self._call(
            "create_custom_model_deployment",
            modelDeploymentName=spec.name,
            modelArn=spec.model_id,
            tags=[{"key": k, "value": v} for k, v in sorted(spec.tags.items())],
            clientRequestToken=token,
        )
        return str(response["customModelDeploymentArn"])

    def needs_replacement(self, spec: DeploymentSpec, old: DeploymentSpec) -> bool:
        return spec.name != old.name

    def update(self, arn: str, spec: DeploymentSpec) -> None:
        self._call("update_custom_model_deployment", customModelDeploymentIdentifier=arn, modelArn=spec.model_id)

    def delete(self, arn: str) -> None:
        self._delete("delete_custom_model_deployment", customModelDeploymentIdentifier=arn)

    def status(self, arn: str) -> Status:
        current = self._call("get_custom_model_deployment", customModelDeploymentIdentifier=arn)
        state: State = {"Active": "ready", "Failed": "failed"}.get(current["status"], "pending")  # type: ignore[assignment]
        data = {"DeploymentArn": arn, "ModelArn": current.get("modelArn", "")}
        return Status(state, data, current.get("failureMessage", ""))
