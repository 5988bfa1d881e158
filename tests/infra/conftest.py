"""Fixtures of the template tests: each committed environment, one test per environment."""

from __future__ import annotations

import pytest

from config.loader import load_environments
from config.model import EnvironmentConfig

ENVIRONMENTS = {env.name: env for env in load_environments()}


@pytest.fixture(params=sorted(ENVIRONMENTS))
def env(request: pytest.FixtureRequest) -> EnvironmentConfig:
    return ENVIRONMENTS[request.param]
