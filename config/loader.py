"""Reads ``config/environments/*.yaml`` into frozen :class:`EnvironmentConfig` objects.

Parsing is driven by the dataclasses' type hints, so a new field needs no parser code:
unknown keys, wrong types and enum values are reported with the file, the dotted key,
the value and what is allowed, and every problem in a file is reported at once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from config.delivery import PipelineConfig
from config.model import EnvironmentConfig
from config.problems import Problem

ENVIRONMENTS_DIR = Path(__file__).resolve().parent / "environments"
PIPELINE_FILE = Path(__file__).resolve().parent / "pipeline.yaml"
PIPELINE = "pipeline config"

T = TypeVar("T")


class ConfigError(ValueError):
    """Raised when an environment's config breaks a rule; the message lists every problem."""

    def __init__(self, source: str, problems: Sequence[Problem], what: str = "environment config") -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"  - {p.key}: {p.value!r} is not allowed; expected {p.allowed}" for p in problems]
        super().__init__(f"invalid {what} {source}:\n" + "\n".join(lines))


def load_environments(directory: Path = ENVIRONMENTS_DIR, only: Iterable[str] | None = None) -> list[EnvironmentConfig]:
    """Every environment in ``directory`` (sorted by name), or just those named in ``only``."""
    files = {path.stem: path for path in sorted(directory.glob("*.yaml"))}
    if not files:
        raise ConfigError(str(directory), [Problem("environments", [], "at least one <name>.yaml file")])
    wanted = list(files) if only is None else list(only)
    unknown = [name for name in wanted if name not in files]
    if unknown:
        raise ConfigError("selection", [Problem("environments", unknown, f"names from {', '.join(files)}")])
    return [load_environment(files[name]) for name in wanted]


def load_environment(path: Path) -> EnvironmentConfig:
    """Parse one file; raise :class:`ConfigError` naming ``path`` if anything is wrong."""
    source = f"{path.parent.name}/{path.name}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(source, [Problem("(file)", str(error).splitlines()[0], "valid YAML")]) from error
    return parse_environment(raw, path.stem, source)


def parse_environment(raw: object, expected_name: str, source: str) -> EnvironmentConfig:
    """Build an :class:`EnvironmentConfig` from already-loaded YAML data."""
    problems: list[Problem] = []
    config = _parse(EnvironmentConfig, raw, "", problems)
    if config is not None and not problems:
        problems = config.problems(expected_name)
    if problems or config is None:
        raise ConfigError(source, problems)
    return config


def load_pipeline(path: Path, environments: Sequence[str]) -> PipelineConfig:
    """Parse ``config/pipeline.yaml``; its waves must name environments that exist."""
    source = f"{path.parent.name}/{path.name}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(source, [Problem("(file)", str(error).splitlines()[0], "valid YAML")], PIPELINE) from error
    problems: list[Problem] = []
    config = _parse(PipelineConfig, raw, "", problems)
    if config is not None and not problems:
        problems = config.problems(tuple(environments))
    if problems or config is None:
        raise ConfigError(source, problems, PIPELINE)
    return typing.cast(PipelineConfig, config)


def _parse(kind: Any, value: object, key: str, problems: list[Problem]) -> Any:
    """Convert ``value`` to ``kind`` or record a problem and return ``None``."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return None if value is None else _parse(options[0], value, key, problems)
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value in allowed:
            return value
        problems.append(Problem(key, value, "one of " + ", ".join(repr(a) for a in allowed)))
        return None
    if origin is tuple:
        if not isinstance(value, list):
            problems.append(Problem(key, value, "a list"))
            return None
        item_kind = typing.get_args(kind)[0]
        return tuple(_parse(item_kind, item, f"{key}[{i}]", problems) for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            problems.append(Problem(key, value, "a mapping"))
            return None
        value_kind = typing.get_args(kind)[1]
        return {str(k): _parse(value_kind, v, f"{key}.{k}", problems) for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return _parse_dataclass(kind, value, key, problems)
    if kind is bool or kind is int:
        # YAML's bool is an int subclass: keep the two apart.
        if type(value) is kind:
            return value
        problems.append(Problem(key, value, "true or false" if kind is bool else "an integer"))
        return None
    if kind is str:
        if isinstance(value, str):
            return value
        problems.append(Problem(key, value, "a string (quote numbers such as account ids)"))
        return None
    raise TypeError(f"config field {key} has a type the loader does not handle: {kind!r}")


def _parse_dataclass(kind: Any, value: object, key: str, problems: list[Problem]) -> Any:
    prefix = f"{key}." if key else ""
    if not isinstance(value, Mapping):
        problems.append(Problem(key or "(file)", value, "a mapping of keys to values"))
        return None
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(str(k) for k in value if k not in fields)
    if unknown:
        problems.append(
            Problem(
                f"{prefix}{unknown[0]}" if len(unknown) == 1 else key or "(file)",
                unknown,
                "known keys: " + ", ".join(fields),
            )
        )
    arguments: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in value:
            arguments[name] = _parse(hints[name], value[name], prefix + name, problems)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            problems.append(Problem(prefix + name, None, "a value (this key is required)"))
    if problems:
        return None
    return kind(**arguments)
