"""Mocked task results that AWS could really return, checked against botocore's output shapes.

A result is built from the members AWS documents as present at that point of a job's life;
botocore's validator checks names, types and required members. Where a service leaves out a member
its model marks required, :data:`ABSENT_REQUIRED` names the exception and its source, and only
those may be missing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

SESSION = botocore.session.get_session()
# (service, operation, member) -> why AWS omits a member botocore marks required.
ABSENT_REQUIRED: dict[tuple[str, str, str], str] = {
    ("sagemaker", "DescribeTrainingJob", "ModelArtifacts"): (
        "Nova training jobs write their checkpoint to an escrow bucket and DescribeTrainingJob returns "
        "ModelArtifacts: null (aws/sagemaker-python-sdk PR 6091, 'Confirmed against a real completed job')"
    ),
}


@dataclass(frozen=True)
class Return:
    """A task's result (for a Lambda step: what the function returns)."""

    payload: Any


@dataclass(frozen=True)
class Throw:
    """A task's error, as Step Functions reports it (``Bedrock.ThrottlingException``, ``States.TaskFailed``)."""

    error: str
    cause: str = ""


def aws_result(service: str, operation: str, **members: Any) -> Return:
    """``operation``'s response with ``members`` (botocore's names), validated; for AWS SDK integrations
    (``arn:aws:states:::aws-sdk:...``) member names are given as Step Functions returns them, capitalized."""
    shape = SESSION.get_service_model(service).operation_model(operation).output_shape
    assert shape is not None, f"{service}.{operation} has no output"
    report = ParamValidator().validate(members, shape)
    errors = [error for error in report._errors if not _documented_absence(service, operation, error)]
    assert not errors, f"{service}.{operation}: {errors}"
    return Return(_as_json(members, shape))


def _documented_absence(service: str, operation: str, error: tuple[str, str, dict[str, Any]]) -> bool:
    reason, _, details = error
    return reason == "missing required field" and (service, operation, details["required_name"]) in ABSENT_REQUIRED


def sdk_integration_result(service: str, operation: str, **members: Any) -> Return:
    """An ``aws-sdk`` integration's result: structure member names with the first letter capitalized, as Step
    Functions returns them; map keys (hyperparameters, tags) are data and stay as they are."""
    shape = SESSION.get_service_model(service).operation_model(operation).output_shape
    raw = aws_result(service, operation, **members).payload
    return Return(_capitalized(raw, shape))


def _as_json(value: Any, shape: Shape) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {name: _as_json(item, shape.members[name]) for name, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item, shape.member) for item in value]  # type: ignore[attr-defined]
    return value


def _capitalized(value: Any, shape: Shape) -> Any:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {name[:1].upper() + name[1:]: _capitalized(item, shape.members[name]) for name, item in value.items()}
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: _capitalized(item, shape.value) for key, item in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_capitalized(item, shape.member) for item in value]
    return value
