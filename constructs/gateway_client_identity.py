"""How the agent proves itself to its tool gateway: an OAuth client of its own, held by AgentCore Identity.

The gateway takes a JWT (CUSTOM_JWT inbound authorizer) from one Cognito app client, by client id and scope. The
agent never holds that client's secret: an AgentCore Identity OAuth2 credential provider stores it (in Secrets
Manager, under the token vault) and hands the runtime an access token for the client-credentials grant
(``GetResourceOauth2Token`` with ``oauth2Flow: M2M``), against the runtime's own workload identity. So the workload
identity the runtime is given does real work, and rotating the secret is a provider update, not a redeploy of the
agent. (AgentCore developer guide: "Amazon Cognito" under identity providers, "Manage credential providers with
AgentCore Identity", and "Configure inbound JWT authorizer"; a gateway has exactly one inbound authorizer type.)

The pool has no users: it is an authorization server for machines. Cognito's token endpoint lives on the pool's
domain, so the pool gets one; its OIDC discovery document names that endpoint, and the provider reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge

SCOPE_SERVER = "tools"
SCOPE_NAME = "invoke"
# Cognito refuses a domain prefix holding any of these (Cognito developer guide, "Using the Amazon Cognito prefix
# domain"): lowercase letters, digits and hyphens only.
RESERVED_IN_DOMAIN = ("aws", "amazon", "cognito")
TOKEN_LIFETIME = cdk.Duration.minutes(60)


@dataclass(frozen=True)
class GatewayClientIdentityProps:
    name: str  # the agent's name: letters, digits and '_'


class GatewayClientIdentity(Construct):
    """Attributes: ``authorizer`` (for the gateway), ``provider_name`` and ``scope`` (for the agent's token request),
    ``user_pool``, ``client``; ``grant_token(grantee)`` lets a workload obtain the token."""

    def __init__(self, scope: Construct, construct_id: str, props: GatewayClientIdentityProps) -> None:
        super().__init__(scope, construct_id)
        domain_name = props.name.replace("_", "-").lower() + "-tools"
        reserved = [word for word in RESERVED_IN_DOMAIN if word in domain_name]
        if reserved or not re.fullmatch(r"[a-z0-9-]{1,50}", domain_name):
            raise ValueError(
                f"agent name: {props.name!r} gives the gateway's Cognito domain prefix {domain_name!r}, which Cognito "
                f"refuses (it contains {reserved or 'characters other than a-z, 0-9 and -'}); allowed: an environment "
                "name of lowercase letters, digits and hyphens without 'aws', 'amazon' or 'cognito'"
            )
        self.user_pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=False,
            # Holds no users and no data: the client and its secret are made again with the pool, and the credential
            # provider is updated with them in the same deployment.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        invoke = cognito.ResourceServerScope(scope_name=SCOPE_NAME, scope_description="Call the gateway's tools")
        server = self.user_pool.add_resource_server(
            "Tools", identifier=SCOPE_SERVER, scopes=[invoke], user_pool_resource_server_name="Agent tool gateway"
        )
        # Domain prefixes are unique per Region across all accounts: the account id keeps two accounts' equal
        # environment names apart.
        domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=f"{domain_name}-{cdk.Aws.ACCOUNT_ID}")
        )
        self.client = self.user_pool.add_client(
            "Agent",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(server, invoke)],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            access_token_validity=TOKEN_LIFETIME,
        )
        self.scope = f"{SCOPE_SERVER}/{SCOPE_NAME}"
        client_resource = self.client.node.default_child
        assert isinstance(client_resource, cognito.CfnUserPoolClient)
        self.provider_name = f"{props.name}_gateway_client"
        # The secret comes from the client's ClientSecret attribute (Fn::GetAtt), so its value is never written in
        # the template; the provider keeps it in Secrets Manager.
        self.provider = agentcore.OAuth2CredentialProvider.using_custom(
            self,
            "Provider",
            o_auth2_credential_provider_name=self.provider_name,
            client_id=self.client.user_pool_client_id,
            client_secret=cdk.SecretValue.resource_attribute(client_resource.attr_client_secret),
            discovery_url=f"{self.user_pool.user_pool_provider_url}/.well-known/openid-configuration",
        )
        # Where AgentCore Identity keeps the provider's client secret: Secrets Manager appends six random characters.
        # CloudFormation gives the ARN only as an object attribute (ClientSecretArn), which IAM cannot name.
        self.secret_arn = cdk.Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"bedrock-agentcore-identity!default/oauth2/{self.provider_name}-??????",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        # The provider reads the discovery document, whose token endpoint exists only once the domain does.
        self.provider.node.add_dependency(domain)
        self.authorizer = agentcore.GatewayAuthorizer.using_cognito(
            user_pool=self.user_pool, allowed_clients=[self.client], allowed_scopes=[self.scope]
        )
        acknowledge(
            self.user_pool,
            "A pool without users: an authorization server for one machine client (client-credentials grant), so "
            "passwords, MFA, threat protection for sign-ins and the Plus plan's user features do not apply.",
            "AwsSolutions-COG1",
            "AwsSolutions-COG2",
            "AwsSolutions-COG3",
            "AwsSolutions-COG8",
        )

    def grant_token(self, grantee: iam.IGrantable, workload_identity_arn: str) -> iam.Grant:
        """What fetching the token takes of the workload (``workload_identity_arn``, e.g. a runtime's own):
        GetResourceOauth2Token on the default token vault, this provider and the workload identity, and this
        provider's secret, which AgentCore Identity reads with the caller's permissions. aws-cdk-lib's
        ``grant_use`` would name every workload identity and, the secret's ARN being a deploy-time value, every
        token-vault secret; this names the three exactly (AgentCore developer guide, "Identity permissions";
        Service Authorization Reference, Amazon Bedrock AgentCore: GetResourceOauth2Token's resource types)."""
        stack = cdk.Stack.of(self)
        vault = stack.format_arn(service="bedrock-agentcore", resource="token-vault", resource_name="default")
        directory = stack.format_arn(
            service="bedrock-agentcore", resource="workload-identity-directory", resource_name="default"
        )
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["bedrock-agentcore:GetResourceOauth2Token"],
            resource_arns=[vault, self.provider.credential_provider_arn, directory, workload_identity_arn],
        )
        secret = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["secretsmanager:GetSecretValue"],
            resource_arns=[self.secret_arn],
        )
        return grant.combine(secret)
