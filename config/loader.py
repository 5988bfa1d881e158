"""Reads ``config/environments/*.yaml`` into frozen :class:`EnvironmentConfig` objects.

Parsing is the recipes' parser (``customization.typed_yaml``), driven by the dataclasses' type
hints, so a new field needs no parser code: unknown keys, wrong types and enum values are
reported with the file, the dotted key, the value and what is allowed, all at once.
"""

from __future__ import annotations

import ipaddress
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from config import strict_yaml
from config.delivery import PipelineConfig
from config.model import EnvironmentConfig
from customization.problems import Problem
from customization.typed_yaml import parse_typed

ENVIRONMENTS_DIR = Path(__file__).resolve().parent / "environments"
PIPELINE_FILE = Path(__file__).resolve().parent / "pipeline.yaml"
# What the repository keeps instead (config/delivery.py); the audit uses it when there is no pipeline.yaml.
PIPELINE_EXAMPLE = PIPELINE_FILE.with_name("pipeline.example.yaml")
PIPELINE = "pipeline config"


class ConfigError(ValueError):
    """Raised when an environment's config breaks a rule; the message lists every problem."""

    def __init__(self, source: str, problems: Sequence[Problem], what: str = "environment config") -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"  - {p}" for p in problems]
        super().__init__(f"invalid {what} {source}:\n" + "\n".join(lines))


def load_environments(directory: Path = ENVIRONMENTS_DIR, only: Iterable[str] | None = None) -> list[EnvironmentConfig]:
    """Every environment in ``directory`` (sorted by name), or just those named in ``only``."""
    files = {path.stem: path for path in sorted(directory.glob("*.yaml"))}
    others = sorted(p.name for p in directory.glob("*.yml"))
    if others:  # a file that would otherwise be skipped without a word
        raise ConfigError(str(directory), [Problem("environments", others, "<name>.yaml files (not .yml)")])
    if not files:
        raise ConfigError(str(directory), [Problem("environments", [], "at least one <name>.yaml file")])
    wanted = list(files) if only is None else list(only)
    unknown = [name for name in wanted if name not in files]
    if unknown:
        raise ConfigError("selection", [Problem("environments", unknown, f"names from {', '.join(files)}")])
    environments = [load_environment(files[name]) for name in wanted]
    _refuse_overlapping_networks(environments)
    _refuse_unacknowledged_shared_accounts(environments)
    return environments


def _refuse_unacknowledged_shared_accounts(environments: Sequence[EnvironmentConfig]) -> None:
    """Environments in one account and Region (both naming it, or both none: the CLI's) share deploy rights: any CDK
    bootstrap's deploy role there may change every stack of the account, whatever its qualifier. Each must say so
    (shares_account_with), or name an account of its own."""
    problems = []
    for env in environments:
        for other in environments:
            same = (env.account, env.region) == (other.account, other.region)
            if other is not env and same and other.name not in env.shares_account_with:
                where = f"account {env.account}, {env.region}" if env.account else "the CLI's account and Region"
                problems.append(
                    Problem(
                        f"{env.name}: shares_account_with",
                        list(env.shares_account_with),
                        f"a list naming {other.name!r} ({where}), or an account of its own",
                    )
                )
    if problems:
        raise ConfigError("environments", problems)


def _refuse_overlapping_networks(environments: Sequence[EnvironmentConfig]) -> None:
    """Two environments' VPCs may not overlap (unless they describe the same existing VPC): they could never be
    peered or routed to one another, and a copied file that kept its block is the usual cause."""
    problems = []
    for index, first in enumerate(environments):
        for second in environments[index + 1 :]:
            same_vpc = first.network.vpc_id is not None and first.network.vpc_id == second.network.vpc_id
            try:
                overlap = ipaddress.IPv4Network(first.network.cidr).overlaps(ipaddress.IPv4Network(second.network.cidr))
            except ValueError:
                continue  # each file reports its own bad block
            if overlap and not same_vpc:
                problems.append(
                    Problem(
                        f"{second.name}: network.cidr",
                        second.network.cidr,
                        f"a block that does not overlap {first.name}'s {first.network.cidr}",
                    )
                )
    if problems:
        raise ConfigError("environments", problems)


def load_environment(path: Path) -> EnvironmentConfig:
    """Parse one file; raise :class:`ConfigError` naming ``path`` if anything is wrong."""
    source = f"{path.parent.name}/{path.name}"
    try:
        raw, refused = strict_yaml.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(source, [Problem.invalid_yaml(error)]) from error
    if refused:
        raise ConfigError(source, refused)
    return parse_environment(raw, path.stem, source)


def parse_environment(raw: object, expected_name: str, source: str) -> EnvironmentConfig:
    """Build an :class:`EnvironmentConfig` from already-loaded YAML data."""
    problems: list[Problem] = []
    config = parse_typed(EnvironmentConfig, raw, "", problems)
    if config is not None and not problems:
        problems = config.problems(expected_name)
    if problems or config is None:
        raise ConfigError(source, problems)
    return config


def load_pipeline(path: Path, environments: Sequence[str]) -> PipelineConfig:
    """Parse ``config/pipeline.yaml``; its waves must name environments that exist."""
    source = f"{path.parent.name}/{path.name}"
    try:
        raw, refused = strict_yaml.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(source, [Problem.invalid_yaml(error)], PIPELINE) from error
    if refused:
        raise ConfigError(source, refused, PIPELINE)
    problems: list[Problem] = []
    config = parse_typed(PipelineConfig, raw, "", problems)
    if config is not None and not problems:
        problems = config.problems(tuple(environments))
    if problems or config is None:
        raise ConfigError(source, problems, PIPELINE)
    return typing.cast(PipelineConfig, config)
