"""Turns loaded YAML into frozen dataclasses, driven by their type hints: the one parser of
environment config (``config/loader.py``) and recipes (``customization/recipes.py``).

A new field needs no parser code: the dataclass says its type, whether it is required (no
default) and, through ``X | None``, whether ``null`` is allowed. Every wrong type, unknown
key and missing key is recorded as a :class:`~customization.problems.Problem`, so a file is
fixed in one pass. It lives in ``customization/`` because the workflow's Lambda steps load
recipes with it (that folder ships in their code asset); config imports it from here.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from customization.problems import Problem

_NUMBER_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_typed(kind: Any, value: object, key: str, problems: list[Problem]) -> Any:
    """``value`` converted to ``kind``, or ``None`` with the reasons appended to ``problems``."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if value is None:
            return None
        inner = options[0]
        if typing.get_origin(inner) is Literal and value not in typing.get_args(inner):
            problems.append(Problem(key, value, _literal_choices(inner) + " or null"))
            return None
        return parse_typed(inner, value, key, problems)
    if origin is Literal:
        if value in typing.get_args(kind):
            return value
        problems.append(Problem(key, value, _literal_choices(kind)))
        return None
    if origin is tuple:
        if not isinstance(value, list):
            problems.append(Problem(key, value, "a list"))
            return None
        item = typing.get_args(kind)[0]
        return tuple(parse_typed(item, entry, f"{key}[{i}]", problems) for i, entry in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(Problem(key, value, "a mapping of names to values"))
            return None
        item = typing.get_args(kind)[1]
        return {str(k): parse_typed(item, v, f"{key}.{k}", problems) for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return _parse_dataclass(kind, value, key, problems)
    return _parse_scalar(kind, value, key, problems)


def _parse_scalar(kind: Any, value: object, key: str, problems: list[Problem]) -> Any:
    if kind is bool or kind is int:
        # YAML's booleans are ints in Python: keep the two apart.
        if type(value) is kind:
            return value
        problems.append(Problem(key, value, "true or false" if kind is bool else "an integer"))
        return None
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        hint = ""
        if isinstance(value, str) and _NUMBER_TEXT.match(value.strip()):
            hint = " (YAML 1.1 reads an exponent without a dot as text: write 1.0e-5, not 1e-5)"
        problems.append(Problem(key, value, "a number" + hint))
        return None
    if kind is str:
        if isinstance(value, str):
            return value
        problems.append(Problem(key, value, "a string (quote numbers such as account ids)"))
        return None
    raise TypeError(f"field {key} has a type the parser does not handle: {kind!r}")


def _parse_dataclass(kind: Any, value: object, key: str, problems: list[Problem]) -> Any:
    if not isinstance(value, Mapping):
        problems.append(Problem(key or "(file)", value, "a mapping of keys to values"))
        return None
    prefix = f"{key}." if key else ""
    hints = typing.get_type_hints(kind)
    fields = {field.name: field for field in dataclasses.fields(kind)}
    before = len(problems)
    for unknown in (str(k) for k in value if k not in fields):
        problems.append(Problem.unknown_key(prefix + unknown, fields))
    arguments: dict[str, Any] = {}
    for name, field in fields.items():
        if name in value:
            arguments[name] = parse_typed(hints[name], value[name], prefix + name, problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append(Problem.missing(prefix + name))
    if len(problems) > before:
        return None
    return kind(**arguments)


def to_data(value: object) -> Any:
    """Plain YAML/JSON data back from parsed objects, in field order.

    A field whose value is ``None`` is left out when ``None`` is also its default (an
    optional key that was absent); a required field keeps its ``null`` (``peft_scheme``).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if item is None and field.default is None:
                continue
            data[field.name] = to_data(item)
        return data
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    return value


def _literal_choices(kind: Any) -> str:
    return "one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
