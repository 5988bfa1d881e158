"""Shared fixtures: each app is synthesized once per test session (per xdist worker)."""

from __future__ import annotations

import os

# Before jsii starts: Node 20's end-of-life banner would otherwise flood every test's output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from pathlib import Path

import pytest
from synthesis import Synthesized, synthesize

FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
