"""Custom resource ``Custom::ApprovedModel``: the newest model that passed the workflow's gate, or a fallback.

The Serving stack must deploy before any customization has run, and later serve what the
workflow approved. Synth cannot read DynamoDB (it runs offline), so this resolves at deploy
time: Create and Update query the lineage table's sparse ``approved-models`` index (newest
first) and return ``ModelArn``; with no approved run yet, the fallback (a base model). It
reads nothing else and creates nothing, so Delete has nothing to undo and a retry is safe.
A new approved model is picked up when the resource updates (``Generation`` changes).

With ``OnDemandTechniques`` (the model is served by an on-demand deployment), a model trained another way is
refused with its run and technique named: Bedrock serves no full-rank custom model on demand, and a deploy that
failed at CreateCustomModelDeployment would say less.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import boto3

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)
MODEL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{0,12}:(custom-model|foundation-model)/\S+$")
PHYSICAL_ID = "approved-model"
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


def latest_approved(dynamodb: Any, table: str, index: str, approval: str) -> tuple[str, str] | None:
    """(model ARN, run name) of the newest approved run, or ``None``."""
    response = dynamodb.query(
        TableName=table,
        IndexName=index,
        KeyConditionExpression="approval = :approval",
        ExpressionAttributeValues={":approval": {"S": approval}},
        ScanIndexForward=False,
        Limit=1,
    )
    items = response.get("Items", [])
    if not items:
        return None
    item = items[0]
    arn = item.get("model_arn", {}).get("S", "")
    if not MODEL_ARN.match(arn):
        raise InvalidRequestError(f"model_arn: {arn!r} of run {item.get('run_name', {}).get('S')!r} is not a model ARN")
    return arn, item.get("run_name", {}).get("S", "")


def on_demand_problem(dynamodb: Any, table: str, run: str, techniques: list[str]) -> str | None:
    """Why the run's model cannot be served on demand, or ``None``."""
    item = dynamodb.get_item(
        TableName=table, Key={"run_name": {"S": run}}, ProjectionExpression="technique", ConsistentRead=True
    ).get("Item", {})
    technique = item.get("technique", {}).get("S")
    if technique in techniques:
        return None
    return (
        f"run {run!r}: technique {technique!r} is not allowed with serving.mode 'on-demand'; expected one of "
        f"{', '.join(techniques)} (Bedrock serves no full-rank custom model on demand): set serving.mode "
        "'provisioned-throughput', or approve a run of one of those"
    )


def handle(event: dict[str, Any], dynamodb: Any) -> dict[str, Any]:
    request = event.get("RequestType")
    if request == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    if request not in ("Create", "Update"):
        raise InvalidRequestError(f"RequestType: {request!r} is not allowed; expected Create, Update or Delete")
    table, index, approval, fallback = _properties(event)
    found = latest_approved(dynamodb, table, index, approval)
    techniques = event.get("ResourceProperties", {}).get("OnDemandTechniques")
    if found and isinstance(techniques, list):
        problem = on_demand_problem(dynamodb, table, found[1], [str(t) for t in techniques])
        if problem:
            raise InvalidRequestError(problem)
    arn, source = (found[0], f"lineage:{found[1]}") if found else (fallback, "fallback")
    LOGGER.info(json.dumps({"model_arn": arn, "source": source}))
    return {"PhysicalResourceId": PHYSICAL_ID, "Data": {"ModelArn": arn, "Source": source}}


def on_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if "dynamodb" not in _clients:
        _clients["dynamodb"] = boto3.client("dynamodb")
    return handle(event, _clients["dynamodb"])
