"""Retry throttling and transient Bedrock errors with exponential back-off."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

RETRYABLE = ("ThrottlingException", "ServiceUnavailableException", "InternalServerException")


def with_retries(call: Callable[[], Any], sleep: Callable[[float], None] = time.sleep, attempts: int = 6) -> Any:
    """Call; on a retryable error wait 1, 2, 4 ... seconds and call again, up to ``attempts`` times."""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as error:
            if error.response["Error"]["Code"] not in RETRYABLE or attempt == attempts - 1:
                raise
            sleep(float(2**attempt))
    raise AssertionError("unreachable")


def is_not_found(error: ClientError) -> bool:
    return bool(error.response["Error"]["Code"] == "ResourceNotFoundException")


def is_busy(error: ClientError) -> bool:
    """A delete refused for now: DeleteProvisionedModelThroughput and DeleteCustomModelDeployment model
    ``ConflictException`` (assumed to mean the resource is still creating or updating; AWS does not say)."""
    return bool(error.response["Error"]["Code"] == "ConflictException")
