"""Roles GitHub Actions assumes through OIDC to deploy one environment each.

A workflow job gets a role only when it runs in the GitHub environment of the same name
(``repo:<owner>/<name>:environment:<env>``), so protection rules on the ``prod`` environment
(reviewers, branches) guard prod's credentials. A role may only assume the CDK bootstrap
roles of its environment's account and Region (config's, or this stack's when config names none);
CloudFormation deploys with those, as ``cdk deploy`` does. An environment in another account must be
bootstrapped with ``cdk bootstrap --trust <this stack's account>`` for its roles to accept the call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BOOTSTRAP_QUALIFIER = "hnb659fds"


@dataclass(frozen=True)
class GitHubDeployRolesProps:
    repository: str  # owner/name
    environments: Sequence[str]
    # Each environment's CDK bootstrap qualifier (default hnb659fds): its role may assume only that bootstrap's roles.
    qualifiers: Mapping[str, str] = field(default_factory=dict)
    # Each environment's (account, Region) from its config; None for either: this stack's.
    placements: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)


class GitHubDeployRoles(Construct):
    """Attribute ``roles``: environment name -> role (its ARN goes in that GitHub environment's
    ``AWS_DEPLOY_ROLE_ARN`` variable)."""

    def __init__(self, scope: Construct, construct_id: str, props: GitHubDeployRolesProps) -> None:
        super().__init__(scope, construct_id)
        if not REPOSITORY_PATTERN.match(props.repository):
            raise ValueError(f"GitHubDeployRoles: repository {props.repository!r}; allowed: owner/name")
        provider = iam.OidcProviderNative(self, "GitHubOidc", url=GITHUB_OIDC_URL, client_ids=["sts.amazonaws.com"])
        stack = cdk.Stack.of(self)
        self.roles: dict[str, iam.Role] = {}
        for environment in props.environments:
            qualifier = props.qualifiers.get(environment, BOOTSTRAP_QUALIFIER)
            account, region = props.placements.get(environment, (None, None))
            bootstrap_roles = stack.format_arn(
                service="iam",
                region="",
                account=account or stack.account,
                resource="role",
                resource_name=f"cdk-{qualifier}-*-{account or stack.account}-{region or stack.region}",
            )
            role = iam.Role(
                self,
                f"Deploy-{environment}",
                description=f"GitHub Actions deploys {environment} from {props.repository}",
                max_session_duration=cdk.Duration.hours(1),
                assumed_by=iam.OpenIdConnectPrincipal(
                    provider,
                    {
                        "StringEquals": {
                            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                            "token.actions.githubusercontent.com:sub": (
                                f"repo:{props.repository}:environment:{environment}"
                            ),
                        }
                    },
                ),
                inline_policies={
                    "AssumeCdkBootstrapRoles": iam.PolicyDocument(
                        statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[bootstrap_roles])]
                    )
                },
            )
            acknowledge(
                role,
                "The CDK bootstrap roles (deploy, file and image publishing, lookup) share one name pattern per "
                "account and region; the role may assume only those. CloudFormation deploys with them.",
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::{account or '<AWS::AccountId>'}:role/"
                f"cdk-{qualifier}-*-{account or '<AWS::AccountId>'}-{region or '<AWS::Region>'}]",
                "NIST.800.53.R5-IAMNoInlinePolicy",
            )
            self.roles[environment] = role
            cdk.CfnOutput(self, f"RoleArn-{environment}", value=role.role_arn)
