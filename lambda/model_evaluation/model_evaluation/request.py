"""Checks shared by the evaluation's events: each problem names the field, the bad value and what is allowed.

The batch's ``BatchInput`` (``model_evaluation.batch``) and the report's event (``model_evaluation.report``)
are parsed with these before any AWS call; every problem is reported at once in one
``InvalidEvaluationRequestError``.
"""

from __future__ import annotations

from typing import Any

from model_evaluation.dataset import InvalidS3UriError, S3Uri, parse_s3_uri, short_repr

CANDIDATES = ("base", "customized")
MAX_MODEL_ID = 2048  # Converse's limit on modelId


class InvalidEvaluationRequestError(Exception):
    """The event breaks the contract above; the message names every bad field."""


def text_field(value: Any, field: str, problems: list[str], limit: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip() or (limit is not None and len(value) > limit):
        size = f" of at most {limit} characters" if limit else ""
        problems.append(f"{field}: {short_repr(value)} is not allowed; expected a non-empty string{size}")
        return ""
    return value


def uri_field(value: Any, field: str, problems: list[str], *, prefix: bool = False) -> S3Uri:
    try:
        return parse_s3_uri(value, field, prefix=prefix)
    except InvalidS3UriError as error:
        problems.append(str(error))
        return S3Uri("", "")


def object_field(value: Any, field: str, problems: list[str], shape: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.append(f"{field}: {short_repr(value)} is not allowed; expected an object {shape}")
        return None
    return value
