"""The ``config/pipeline.yaml`` file: where the self-mutating delivery pipeline lives and what it deploys.

It names a CodeConnections connection (made once in the console, where the repository's
owner authorizes it), so it is a file the platform team adds with real values; the
repository keeps only ``config/pipeline.example.yaml``. Without the file the app has no
pipeline and nothing else changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.model import ACCOUNT_PATTERN, REGION_PATTERN
from customization.problems import Problem

REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
CONNECTION_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z]{2}(-[a-z]+)+-\d:\d{12}:connection/[0-9a-f-]{36}$"
)
BRANCH_PATTERN = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")


@dataclass(frozen=True)
class PipelineConfig:
    """``waves`` are environment names in deployment order; ``approval_before`` need a person's approval."""

    repository: str
    connection_arn: str
    account: str
    region: str
    branch: str = "main"
    waves: tuple[str, ...] = ("dev", "staging", "prod")
    approval_before: tuple[str, ...] = ("prod",)

    def problems(self, environments: tuple[str, ...]) -> list[Problem]:
        found: list[Problem] = []
        if not REPOSITORY_PATTERN.match(self.repository):
            found.append(Problem("repository", self.repository, "<owner>/<name> of the source repository"))
        if not CONNECTION_ARN_PATTERN.match(self.connection_arn):
            found.append(
                Problem(
                    "connection_arn",
                    self.connection_arn,
                    "a CodeConnections connection ARN (arn:aws:codeconnections:...)",
                )
            )
        if not ACCOUNT_PATTERN.match(self.account):
            found.append(Problem("account", self.account, "a 12-digit AWS account id"))
        if not REGION_PATTERN.match(self.region):
            found.append(Problem("region", self.region, "an AWS region name such as eu-west-1"))
        if not BRANCH_PATTERN.match(self.branch):
            found.append(Problem("branch", self.branch, "a Git branch name"))
        if not self.waves:
            found.append(Problem("waves", [], "at least one environment"))
        unknown = [name for name in self.waves if name not in environments]
        if unknown:
            found.append(Problem("waves", unknown, "environments from config/environments: " + ", ".join(environments)))
        duplicates = sorted({name for name in self.waves if self.waves.count(name) > 1})
        if duplicates:
            found.append(Problem("waves", duplicates, "each environment once"))
        stray = [name for name in self.approval_before if name not in self.waves]
        if stray:
            found.append(Problem("approval_before", stray, "environments listed in waves"))
        return found
