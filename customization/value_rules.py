"""Small checks shared by the recipe schema and the run overrides.

Each returns a list of problems (empty when the value is fine) so callers can collect
every problem at once.
"""

from __future__ import annotations

import re

from customization.problems import Problem

S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/\S+$")
S3_URI_FORM = "an S3 URI of the form s3://bucket/key"
# SageMaker job names: letters, digits and hyphens, starting with a letter or digit.
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def positive_int(key: str, value: int) -> list[Problem]:
    return [] if value >= 1 else [Problem(key, value, "a positive integer")]


def non_negative_int(key: str, value: int) -> list[Problem]:
    return [] if value >= 0 else [Problem(key, value, "an integer >= 0")]


def positive(key: str, value: float) -> list[Problem]:
    return [] if value > 0 else [Problem(key, value, "a number > 0")]


def non_negative(key: str, value: float) -> list[Problem]:
    return [] if value >= 0 else [Problem(key, value, "a number >= 0")]


def learning_rate(key: str, value: float) -> list[Problem]:
    return [] if 0 < value < 1 else [Problem(key, value, "a learning rate > 0 and < 1")]


def open_unit(key: str, value: float) -> list[Problem]:
    return [] if 0 < value < 1 else [Problem(key, value, "a number > 0 and < 1")]


def dropout(key: str, value: float) -> list[Problem]:
    return [] if 0 <= value < 1 else [Problem(key, value, "a number >= 0 and < 1")]


def unit(key: str, value: float) -> list[Problem]:
    return [] if 0 <= value <= 1 else [Problem(key, value, "a number from 0 to 1")]


def one_of(key: str, value: int, allowed: tuple[int, ...], why: str) -> list[Problem]:
    """``value`` is one of ``allowed``; ``why`` says whose set it is, e.g. ``the public LoRA recipes``."""
    if value in allowed:
        return []
    return [Problem(key, value, f"one of {', '.join(str(item) for item in allowed)} ({why})")]


def between(key: str, value: float, bounds: tuple[float, float], why: str) -> list[Problem]:
    lowest, highest = bounds
    if lowest <= value <= highest:
        return []
    return [Problem(key, value, f"a number from {lowest:g} to {highest:g} ({why})")]


def non_empty(key: str, value: str, why: str) -> list[Problem]:
    return [] if value.strip() else [Problem(key, value, f"a non-empty name ({why})")]


def s3_uri(key: str, value: str, *, empty_ok: bool) -> list[Problem]:
    """``value`` is an ``s3://bucket/key`` URI (or ``""``, a placeholder filled per run, if ``empty_ok``)."""
    if (empty_ok and value == "") or S3_URI.match(value):
        return []
    allowed = S3_URI_FORM + (', or "" to be set per run' if empty_ok else "")
    return [Problem(key, value, allowed)]


def job_name(key: str, value: str) -> list[Problem]:
    if JOB_NAME.match(value):
        return []
    return [Problem(key, value, "1-63 letters, digits and hyphens, starting with a letter or digit")]
