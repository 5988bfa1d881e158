"""The agent section: rules and their messages."""

from __future__ import annotations

from typing import Any

import pytest

from config.loader import ConfigError, parse_environment

BASE: dict[str, Any] = {
    "name": "qa",
    "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
    "serving": {"base_model_id": "amazon.nova-lite-v1:0"},
}


def error_for(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_environment(raw, "qa", "environments/qa.yaml")
    return str(caught.value)


def test_agent_needs_a_served_model():
    raw = {**BASE, "agent": {}}
    del raw["serving"]
    assert "agent: 'present' is not allowed; expected a serving section too" in error_for(raw)


def test_oidc_needs_a_discovery_url_and_an_audience():
    message = error_for({**BASE, "agent": {"oidc_discovery_url": "https://idp.example/.well-known/jwks.json"}})
    assert "agent.oidc_discovery_url: 'https://idp.example/.well-known/jwks.json' is not allowed" in message
    assert "agent.allowed_audience: [] is not allowed; expected at least one audience" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("memory_expiry_days", 1, "agent.memory_expiry_days: 1 is not allowed; expected from 3 to 365"),
        ("alarm_email", "ops", "agent.alarm_email: 'ops' is not allowed; expected an email address"),
        ("latency_p90_threshold_ms", 0, "agent.latency_p90_threshold_ms: 0 is not allowed; expected 1 or more"),
    ],
)
def test_bad_agent_values_are_rejected(key, value, expected):
    assert expected in error_for({**BASE, "agent": {key: value}})


def test_valid_oidc_agent_parses():
    raw = {
        **BASE,
        "agent": {
            "oidc_discovery_url": "https://idp.example/.well-known/openid-configuration",
            "allowed_audience": ["platform-agent"],
        },
    }
    assert parse_environment(raw, "qa", "environments/qa.yaml").agent.allowed_audience == ("platform-agent",)


@pytest.mark.parametrize("percent", [0, 101])
def test_transaction_search_indexes_a_share_from_1_to_100(percent):
    from config.loader import ConfigError, parse_environment

    raw = {
        "name": "qa",
        "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
        "serving": {"base_model_id": "amazon.nova-lite-v1:0"},
        "agent": {"transaction_search_percent": percent},
    }
    with pytest.raises(ConfigError, match=f"agent.transaction_search_percent: {percent} is not allowed; expected"):
        parse_environment(raw, "qa", "environments/qa.yaml")
