"""Shared fixtures: each app is synthesized once per test session (per xdist worker)."""

from __future__ import annotations

import os

# Before jsii starts: Node 20's end-of-life banner would otherwise flood every test's output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from pathlib import Path

import pytest
from synthesis import Synthesized, synthesize

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest modules first (``pytest.mark.heavy(seconds)``), the others in their usual order. Two workers take
    whole modules in this order (pyproject: loadfile, no reordering by test count), so they finish together rather
    than one running a half-minute module of CLI synths while the other waits."""

    def weight(item: pytest.Item) -> float:
        marker = item.get_closest_marker("heavy")
        return -float(marker.args[0]) if marker else 0.0

    items.sort(key=weight)


@pytest.fixture(scope="session")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every environment in config/environments."""
    return synthesize(tmp_path_factory.mktemp("committed"))


@pytest.fixture(scope="session")
def fixture_envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """The test-only environments: one pinned to an account and region, one in an existing VPC."""
    return {
        name: synthesize(tmp_path_factory.mktemp(name), {"config_dir": str(FIXTURES / name)})
        for name in ("pinned", "existing_vpc")
    }
