"""GitHub Actions delivery: one OIDC deploy role per environment, in the account this stack deploys to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk

from constructs import Construct
from constructs.github_deploy_roles import GitHubDeployRoles, GitHubDeployRolesProps


class GitHubDeployStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        environments: Sequence[str],
        qualifiers: Mapping[str, str] | None = None,
        placements: Mapping[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id, description="GitHub Actions OIDC deploy roles", analytics_reporting=False)
        self.deploy_roles = GitHubDeployRoles(
            self,
            "GitHub",
            GitHubDeployRolesProps(
                repository=repository,
                environments=environments,
                qualifiers=qualifiers or {},
                placements=placements or {},
            ),
        )
