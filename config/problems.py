"""What a broken config rule reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One rule a config value breaks: where it is, what it is, what is allowed."""

    key: str
    value: object
    allowed: str
