"""boto3 clients, made once per Lambda container and only when a step needs them."""

from __future__ import annotations

from typing import Any

import boto3

_clients: dict[str, Any] = {}


def client(name: str) -> Any:
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]
