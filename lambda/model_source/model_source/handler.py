"""Custom resource ``Custom::ApprovedModel``: the newest model that passed the workflow's gate, or a fallback.

The Serving stack must deploy before any customization has run, and later serve what the
workflow approved. Synth cannot read DynamoDB (it runs offline), so this resolves at deploy
time: Create and Update query the lineage table's sparse ``approved-models`` index (newest
first) and return ``ModelArn``; with no approved run yet, the fallback (a base model). It
reads nothing else and creates nothing, so Delete has nothing to undo and a retry is safe.
A new approved model is picked up when the resource updates (``Generation`` changes).

With ``OnDemandTechniques`` (the model is served by an on-demand deployment), the newest approved run whose
technique Bedrock serves on demand is taken (no full-rank model is: Nova user guide, "On-demand inference of custom
Nova models"); newer runs passed over are named in ``Source``, which the Serving stack outputs. They are skipped
rather than refused: a refusal here would fail the deploy's rollback too, which reads the table again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import boto3

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)
MODEL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{0,12}:(custom-model|foundation-model)/\S+$")
PHYSICAL_ID = "approved-model"
PAGE = 25
_clients: dict[str, Any] = {}


class InvalidRequestError(Exception):
    """The resource's properties break a rule; the message names every problem."""


def _properties(event: dict[str, Any]) -> tuple[str, str, str, str]:
    properties = event.get("ResourceProperties", {})
    problems = []
    values = {}
    for key in ("TableName", "IndexName", "Approval", "FallbackModelArn"):
        value = properties.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: {value!r} is not allowed; expected a non-empty string")
        values[key] = str(value)
    if values["FallbackModelArn"] and not MODEL_ARN.match(values["FallbackModelArn"]):
        problems.append(
            f"FallbackModelArn: {values['FallbackModelArn']!r} is not allowed; expected a Bedrock model ARN"
        )
    if problems:
        raise InvalidRequestError("; ".join(problems))
    return values["TableName"], values["IndexName"], values["Approval"], values["FallbackModelArn"]


def approved_newest_first(dynamodb: Any, table: str, index: str, approval: str) -> Iterator[tuple[str, str]]:
    """(model ARN, run name) of each approved run, newest first, a page at a time."""
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "approval = :approval",
        "ExpressionAttributeValues": {":approval": {"S": approval}},
        "ScanIndexForward": False,
        "Limit": PAGE,
    }
    while True:
        response = dynamodb.query(**params)
        for item in response.get("Items", []):
            arn, run = item.get("model_arn", {}).get("S", ""), item.get("run_name", {}).get("S", "")
            if not MODEL_ARN.match(arn):
                raise InvalidRequestError(f"model_arn: {arn!r} of run {run!r} is not a model ARN")
            yield arn, run
        if "LastEvaluatedKey" not in response:
            return
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def technique_of(dynamodb: Any, table: str, run: str) -> str | None:
    item = dynamodb.get_item(
        TableName=table, Key={"run_name": {"S": run}}, ProjectionExpression="technique", ConsistentRead=True
    ).get("Item", {})
    return item.get("technique", {}).get("S")


def handle(event: dict[str, Any], dynamodb: Any) -> dict[str, Any]:
    request = event.get("RequestType")
    if request == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    if request not in ("Create", "Update"):
        raise InvalidRequestError(f"RequestType: {request!r} is not allowed; expected Create, Update or Delete")
    table, index, approval, fallback = _properties(event)
    techniques = event.get("ResourceProperties", {}).get("OnDemandTechniques")
    skipped: list[str] = []
    arn, source = fallback, "fallback"
    for model, run in approved_newest_first(dynamodb, table, index, approval):
        if isinstance(techniques, list):
            technique = technique_of(dynamodb, table, run)
            if technique not in techniques:
                skipped.append(f"{run} ({technique})")
                continue
        arn, source = model, f"lineage:{run}"
        break
    if skipped:
        # Not refused: a deploy that failed here would fail its own rollback the same way (the table is re-read).
        source += f"; skipped, not servable on demand: {', '.join(skipped)}"
    LOGGER.info(json.dumps({"model_arn": arn, "source": source}))
    return {"PhysicalResourceId": PHYSICAL_ID, "Data": {"ModelArn": arn, "Source": source}}


def on_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if "dynamodb" not in _clients:
        _clients["dynamodb"] = boto3.client("dynamodb")
    return handle(event, _clients["dynamodb"])
