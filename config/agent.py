"""The ``agent`` section: the AgentCore runtime that serves the platform's agent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from customization.problems import Problem

DISCOVERY_URL_PATTERN = re.compile(r"^https://[^\s]+/\.well-known/openid-configuration$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class AgentConfig:
    """Inbound users authenticate with JWTs: from a Cognito user pool made here, or from the
    OIDC provider at ``oidc_discovery_url`` (with ``allowed_audience``)."""

    oidc_discovery_url: str | None = None
    allowed_audience: tuple[str, ...] = ()
    memory_expiry_days: int = 30
    alarm_email: str | None = None
    latency_p90_threshold_ms: int = 10000
    transaction_search_percent: int | None = None
    """Turn on CloudWatch Transaction Search (X-Ray spans to CloudWatch Logs, this share of them indexed) for this
    environment's account and Region. One ``AWS::XRay::TransactionSearchConfig`` exists per account and Region, so
    set it on one environment per account (default: off)."""

    def problems(self, has_serving: bool) -> list[Problem]:
        found: list[Problem] = []
        if not has_serving:
            found.append(Problem("agent", "present", "a serving section too: the agent runs on the served model"))
        if self.oidc_discovery_url is not None:
            if not DISCOVERY_URL_PATTERN.match(self.oidc_discovery_url):
                found.append(
                    Problem(
                        "agent.oidc_discovery_url",
                        self.oidc_discovery_url,
                        "an https URL ending in /.well-known/openid-configuration",
                    )
                )
            if not self.allowed_audience:
                found.append(Problem("agent.allowed_audience", [], "at least one audience with oidc_discovery_url"))
        if not 3 <= self.memory_expiry_days <= 365:
            found.append(Problem("agent.memory_expiry_days", self.memory_expiry_days, "from 3 to 365"))
        if self.alarm_email is not None and not EMAIL_PATTERN.match(self.alarm_email):
            found.append(Problem("agent.alarm_email", self.alarm_email, "an email address"))
        if self.transaction_search_percent is not None and not 1 <= self.transaction_search_percent <= 100:
            found.append(
                Problem("agent.transaction_search_percent", self.transaction_search_percent, "from 1 to 100, or absent")
            )
        if self.latency_p90_threshold_ms < 1:
            found.append(Problem("agent.latency_p90_threshold_ms", self.latency_p90_threshold_ms, "1 or more"))
        return found
