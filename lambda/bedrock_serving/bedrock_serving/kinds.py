"""What differs between the serving resources: their properties and their Bedrock operations.

Each kind parses and validates its properties (every problem at once), and maps create, update in
place, delete and status onto Bedrock. ``handler`` holds the custom resource flow they share.

A base model is never given a resource: it is invoked on demand (its foundation model ARN, or a
cross-Region inference profile), which bills nothing while idle. Only a custom model gets a
throughput or a deployment, and a throughput is never moved between a base and a custom model
(UpdateProvisionedModelThroughput refuses ``desiredModelId`` for a throughput of a base model, and
moves a custom model's only to its base model or another custom model of that base: Bedrock API
reference, UpdateProvisionedModelThroughput).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from bedrock_serving.retries import is_busy, is_not_found, with_retries

State = Literal["pending", "ready", "failed"]
CUSTOM_MODEL_PATTERN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:\d{12}:custom-model/\S+$")
FOUNDATION_MODEL_PATTERN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}::foundation-model/\S+$")
BASE_INVOKE_PATTERN = re.compile(
    r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(:foundation-model|\d{12}:inference-profile)/\S+$"
)
# Provisioned throughput and deployment names: 1-63 characters (CreateProvisionedModelThroughput,
# CreateCustomModelDeployment); the handler adds "-" and 8 characters of the request id.
PREFIX_PATTERN = re.compile(r"^[0-9a-zA-Z]([0-9a-zA-Z_-]{0,52}[0-9a-zA-Z])?$")
COMMITMENTS = ("None", "OneMonth", "SixMonths")


class InvalidRequestError(Exception):
    """The resource properties break a rule; the message names every bad field."""


@dataclass(frozen=True)
class Status:
    state: State
    model_arn: str
    reason: str = ""


@dataclass(frozen=True)
class ServingSpec:
    """What every kind is given: the model to serve, what to invoke while that is a base model, names and tags."""

    model_id: str
    """A custom model ARN (served through this kind's resource) or a foundation model ARN (nothing is made)."""
    base_invoke_arn: str
    """What agents invoke while ``model_id`` is a foundation model: that model's ARN or an inference profile's."""
    name_prefix: str
    tags: dict[str, str]

    @property
    def is_base_model(self) -> bool:
        return bool(FOUNDATION_MODEL_PATTERN.match(self.model_id))


def _common(properties: dict[str, Any], problems: list[str]) -> ServingSpec:
    model_id = properties.get("ModelId")
    if not isinstance(model_id, str) or not (
        CUSTOM_MODEL_PATTERN.match(model_id) or FOUNDATION_MODEL_PATTERN.match(model_id)
    ):
        problems.append(f"ModelId: {model_id!r} is not allowed; expected a Bedrock custom or foundation model ARN")
    base = properties.get("BaseInvokeArn")
    if not isinstance(base, str) or not BASE_INVOKE_PATTERN.match(base):
        problems.append(f"BaseInvokeArn: {base!r} is not allowed; expected a foundation model or inference profile ARN")
    prefix = properties.get("NamePrefix")
    if not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix):
        problems.append(f"NamePrefix: {prefix!r} is not allowed; expected 1-54 letters, digits, '-' or '_'")
    tags = properties.get("Tags", {})
    if not isinstance(tags, dict):
        problems.append(f"Tags: {tags!r} is not allowed; expected a mapping of keys to values")
        tags = {}
    return ServingSpec(str(model_id), str(base), str(prefix), {str(k): str(v) for k, v in tags.items()})


def resource_name(spec: ServingSpec, request_id: str) -> str:
    """A name of its own per resource made (a replacement is made while the old one still exists, and names are
    unique per account), the same for a retried request."""
    return f"{spec.name_prefix}-{re.sub(r'[^0-9a-zA-Z]', '', request_id)[:8]}"


class Kind(Protocol):
    arn_type: str

    def owns(self, arn: str) -> bool: ...
    def matches(self, arn: str, spec: Any) -> bool: ...
    def retag(self, arn: str, tags: dict[str, str], old: dict[str, str]) -> None: ...
    def parse(self, properties: dict[str, Any]) -> Any: ...
    def attributes(self, spec: Any, now: datetime) -> dict[str, str]: ...
    def create(self, spec: Any, name: str, token: str) -> str: ...
    def updates_in_place(self, arn: str, spec: Any, old: Any) -> bool: ...
    def update(self, arn: str, spec: Any, old: Any) -> None: ...
    def delete(self, arn: str) -> bool: ...
    def status(self, arn: str, spec: Any) -> Status: ...


class _BedrockKind:
    arn_type = ""

    def __init__(self, bedrock: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self.bedrock = bedrock
        self.sleep = sleep

    def attributes(self, spec: Any, now: datetime) -> dict[str, str]:
        """Attributes known when a create or update is requested (``Fn::GetAtt`` on the resource)."""
        return {}

    def owns(self, arn: str) -> bool:
        """Whether ``arn`` is a resource of this kind (a base model's invoke ARN is not)."""
        return f":{self.arn_type}/" in arn

    def _call(self, operation: str, **params: Any) -> Any:
        return with_retries(lambda: getattr(self.bedrock, operation)(**params), self.sleep)

    def _live(self, operation: str, **params: Any) -> dict[str, Any] | None:
        """The resource as Bedrock describes it, or None when it does not exist."""
        try:
            return dict(self._call(operation, **params))
        except ClientError as error:
            if is_not_found(error):
                return None
            raise

    def _delete(self, operation: str, **params: Any) -> bool:
        """True once gone (or going); False while Bedrock refuses for now (``ConflictException``: the resource is
        still creating or updating), so the caller asks again later."""
        try:
            self._call(operation, **params)
        except ClientError as error:
            if is_busy(error):
                return False
            if not is_not_found(error):
                raise
        return True

    def retag(self, arn: str, tags: dict[str, str], old: dict[str, str]) -> None:
        """Tags changed in config change on the resource (an update in place keeps it)."""
        changed = {k: v for k, v in tags.items() if old.get(k) != v}
        if changed:
            self._call(
                "tag_resource", resourceARN=arn, tags=[{"key": k, "value": v} for k, v in sorted(changed.items())]
            )
        removed = sorted(set(old) - set(tags))
        if removed:
            self._call("untag_resource", resourceARN=arn, tagKeys=removed)

    def matches(self, arn: str, spec: Any) -> bool:
        """Whether the live resource already serves ``spec`` (an update then has nothing to make: a rollback, or a
        request retried after it was done)."""
        return False

    def _base_of(self, model_arn: str) -> str:
        return str(self._call("get_custom_model", modelIdentifier=model_arn)["baseModelArn"])


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


@dataclass(frozen=True)
class ThroughputSpec(ServingSpec):
    model_units: int = 1
    commitment: str = "None"
    expire_after_hours: int | None = None


class ProvisionedThroughputs(_BedrockKind):
    """Provisioned throughput for a custom model: new model units or commitment, or a model of another base, need
    a new throughput."""

    arn_type = "provisioned-model"

    def parse(self, properties: dict[str, Any]) -> ThroughputSpec:
        problems: list[str] = []
        common = _common(properties, problems)
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
        return ThroughputSpec(**vars(common), model_units=units, commitment=str(commitment), expire_after_hours=expiry)

    def attributes(self, spec: ThroughputSpec, now: datetime) -> dict[str, str]:
        """``ExpiresAt`` (UTC, EventBridge Scheduler's ``at()`` format) when the throughput should be deleted."""
        if spec.expire_after_hours is None:
            return {}
        expires = now.astimezone(UTC) + timedelta(hours=spec.expire_after_hours)
        return {"ExpiresAt": expires.strftime("%Y-%m-%dT%H:%M:%S")}

    def create(self, spec: ThroughputSpec, name: str, token: str) -> str:
        params: dict[str, Any] = {
            "clientRequestToken": token,
            "modelUnits": spec.model_units,
            "provisionedModelName": name,
            "modelId": spec.model_id,
            "tags": _tag_list(spec.tags),
        }
        if spec.commitment != "None":
            params["commitmentDuration"] = spec.commitment
        return str(self._call("create_provisioned_model_throughput", **params)["provisionedModelArn"])

    def updates_in_place(self, arn: str, spec: ThroughputSpec, old: ThroughputSpec) -> bool:
        if not self.owns(arn) or old.is_base_model or spec.is_base_model:
            return False
        if (spec.model_units, spec.commitment, spec.name_prefix) != (old.model_units, old.commitment, old.name_prefix):
            return False
        return spec.model_id == old.model_id or self._base_of(spec.model_id) == self._base_of(old.model_id)

    def matches(self, arn: str, spec: ThroughputSpec) -> bool:
        live = self._live("get_provisioned_model_throughput", provisionedModelId=arn)
        if live is None:
            return False
        commitment = live.get("commitmentDuration") or "None"
        return (
            live["status"] != "Failed"
            and spec.model_id in (live.get("modelArn"), live.get("desiredModelArn"))
            and spec.model_units in (live.get("modelUnits"), live.get("desiredModelUnits"))
            and commitment == spec.commitment
        )

    def update(self, arn: str, spec: ThroughputSpec, old: ThroughputSpec) -> None:
        if spec.model_id != old.model_id:  # only ever a custom model of the same base (updates_in_place)
            self._call("update_provisioned_model_throughput", provisionedModelId=arn, desiredModelId=spec.model_id)
        self.retag(arn, spec.tags, old.tags)

    def delete(self, arn: str) -> bool:
        return self._delete("delete_provisioned_model_throughput", provisionedModelId=arn)

    def status(self, arn: str, spec: ThroughputSpec) -> Status:
        """Ready once InService with the model asked for (an update in place is ``Updating`` until it has moved)."""
        current = self._call("get_provisioned_model_throughput", provisionedModelId=arn)
        model = current.get("modelArn", "")
        if current["status"] == "Failed":
            return Status("failed", model, current.get("failureMessage", ""))
        ready = current["status"] == "InService" and model == spec.model_id
        return Status("ready" if ready else "pending", model)


class CustomModelDeployments(_BedrockKind):
    """On-demand custom model deployment: billed per use; another model updates it in place."""

    arn_type = "custom-model-deployment"

    def parse(self, properties: dict[str, Any]) -> ServingSpec:
        problems: list[str] = []
        spec = _common(properties, problems)
        if problems:
            raise InvalidRequestError("; ".join(problems))
        return spec

    def create(self, spec: ServingSpec, name: str, token: str) -> str:
        response = self._call(
            "create_custom_model_deployment",
            modelDeploymentName=name,
            modelArn=spec.model_id,
            tags=_tag_list(spec.tags),
            clientRequestToken=token,
        )
        return str(response["customModelDeploymentArn"])

    def updates_in_place(self, arn: str, spec: ServingSpec, old: ServingSpec) -> bool:
        return (
            self.owns(arn) and not old.is_base_model and not spec.is_base_model and spec.name_prefix == old.name_prefix
        )

    def matches(self, arn: str, spec: ServingSpec) -> bool:
        live = self._live("get_custom_model_deployment", customModelDeploymentIdentifier=arn)
        return live is not None and live["status"] != "Failed" and live.get("modelArn") == spec.model_id

    def update(self, arn: str, spec: ServingSpec, old: ServingSpec) -> None:
        if spec.model_id != old.model_id:
            self._call("update_custom_model_deployment", customModelDeploymentIdentifier=arn, modelArn=spec.model_id)
        self.retag(arn, spec.tags, old.tags)

    def delete(self, arn: str) -> bool:
        return self._delete("delete_custom_model_deployment", customModelDeploymentIdentifier=arn)

    def status(self, arn: str, spec: ServingSpec) -> Status:
        """Ready once Active on the model asked for. An update keeps the deployment Active and reports its own
        progress in ``updateDetails`` (``Updating``, ``UpdateCompleted``, ``UpdateFailed``; GetCustomModelDeployment),
        which the top-level status never shows."""
        current = self._call("get_custom_model_deployment", customModelDeploymentIdentifier=arn)
        model, update = current.get("modelArn", ""), current.get("updateDetails") or {}
        # The last update's details stay after it: a failed one counts only if it was to the model asked for now.
        failed_update = update.get("updateStatus") == "UpdateFailed" and update.get("modelArn") == spec.model_id
        if current["status"] == "Failed" or failed_update:
            return Status("failed", model, current.get("failureMessage", "") or "the update failed")
        moved = model == spec.model_id or (
            update.get("modelArn") == spec.model_id and update.get("updateStatus") == "UpdateCompleted"
        )
        updating = update.get("updateStatus") == "Updating" and update.get("modelArn") == spec.model_id
        ready = current["status"] == "Active" and moved and not updating
        return Status("ready" if ready else "pending", model)
