"""The gateway's weather tool handler."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from weather_tool.handler import UnknownToolError, forecast, handler


def context(tool: str) -> SimpleNamespace:
    return SimpleNamespace(
        client_context=SimpleNamespace(custom={"bedrockAgentCoreToolName": tool}), aws_request_id="r-1"
    )


def test_known_city_gets_its_forecast():
    assert handler({"city": "paris"}, context("weather___get_weather")) == {
        "city": "Paris",
        "temperature": "21 C",
        "conditions": "sunny",
    }


@pytest.mark.parametrize(
    ("city", "message"),
    [("", "city: a non-empty string is required"), ("Atlantis", "city: 'Atlantis' is not covered; known cities")],
)
def test_bad_city_gets_an_error_naming_the_field(city, message):
    assert message in forecast(city)["error"]


def test_unknown_tool_is_rejected():
    with pytest.raises(UnknownToolError, match="tool 'get_time' is not implemented"):
        handler({}, context("weather___get_time"))
