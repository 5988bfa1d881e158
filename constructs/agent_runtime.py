"""The platform's agent on Bedrock AgentCore: runtime, memory, identity and a tool gateway.

- Runtime: the container in ``agent/`` (built by the CDK asset system at deploy time, no
  Docker daemon at synth), inbound JWT auth (a Cognito pool made here, or an OIDC provider),
  application and usage logs to CloudWatch, tracing on.
- Memory: short-term events plus semantic, summary and user-preference strategies,
  encrypted with the platform key.
- Gateway: MCP tools behind a JWT authorizer, with the weather Lambda as a target and room for
  more targets. The agent gets its token from AgentCore Identity with the runtime's own workload
  identity (``GatewayClientIdentity``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct
from constructs.gateway_client_identity import GatewayClientIdentity, GatewayClientIdentityProps
from constructs.nag_acknowledgements import acknowledge, nag_arn
from constructs.served_model import ServedModel

REPO = Path(__file__).resolve().parent.parent
AGENT_DIR = REPO / "agent"
WEATHER_HANDLER_DIR = REPO / "lambda" / "weather_tool"
WEATHER_TARGET = "weather"  # the agent calls "weather___get_weather"
GATEWAY_MCP_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")


@dataclass(frozen=True)
class OidcInbound:
    discovery_url: str
    allowed_audience: tuple[str, ...]


@dataclass(frozen=True)
class AgentRuntimeProps:
    name: str  # letters, digits and '_' (AgentCore names)
    model: ServedModel
    key: kms.IKey
    log_retention: logs.RetentionDays
    memory_expiry: cdk.Duration = field(default_factory=lambda: cdk.Duration.days(30))
    oidc: OidcInbound | None = None
    retain: bool = True


class AgentRuntime(Construct):
    """Attributes: ``runtime``, ``memory``, ``gateway``, ``gateway_identity``, ``weather_tool``, ``user_pool``."""

    def __init__(self, scope: Construct, construct_id: str, props: AgentRuntimeProps) -> None:
        super().__init__(scope, construct_id)
        # Kept on update and delete, but not when the stack's creation rolls back (CloudFormation RetainExceptOnCreate):
        # these have fixed names, and a kept copy would fail the retry of a failed first deploy with "already exists".
        removal = cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if props.retain else cdk.RemovalPolicy.DESTROY
        self._removal = removal
        self.memory = agentcore.Memory(
            self,
            "Memory",
            memory_name=f"{props.name}_memory",
            description="Conversation events and long-term memories of the platform agent",
            expiration_duration=props.memory_expiry,
            kms_key=props.key,
            memory_strategies=[
                agentcore.MemoryStrategy.using_built_in_semantic(),
                agentcore.MemoryStrategy.using_built_in_summarization(),
                agentcore.MemoryStrategy.using_built_in_user_preference(),
            ],
        )
        memory_resource = next(c for c in self.memory.node.children if isinstance(c, cdk.CfnResource))
        memory_resource.apply_removal_policy(removal)
        self.weather_tool = lambda_.Function(
            self,
            "WeatherTool",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="weather_tool.handler.handler",
            code=lambda_.Code.from_asset(str(WEATHER_HANDLER_DIR), exclude=["**/__pycache__"]),
            timeout=cdk.Duration.seconds(10),
            log_group=logs.LogGroup(self, "WeatherToolLogs", retention=props.log_retention, encryption_key=props.key),
            description="AgentCore Gateway tool: get_weather",
        )
        self.gateway_identity = GatewayClientIdentity(
            self, "GatewayClient", GatewayClientIdentityProps(name=props.name)
        )
        self.gateway = agentcore.Gateway(
            self,
            "Gateway",
            # The gateway takes only the versions listed (AgentCore developer guide, "Use an AgentCore gateway"): these
            # include the one the agent's MCP client (mcp 2.1) offers with initialize; the test gateway enforces them.
            protocol_configuration=agentcore.McpProtocolConfiguration(
                supported_versions=[agentcore.MCPProtocolVersion.of(v) for v in GATEWAY_MCP_VERSIONS],
                search_type=agentcore.McpGatewaySearchType.SEMANTIC,
            ),
            gateway_name=f"{props.name.replace('_', '-')}-tools",
            description="Tools for the platform agent, over MCP",
            authorizer_configuration=self.gateway_identity.authorizer,
            kms_key=props.key,
        )
        weather_target = self.gateway.add_lambda_target(
            "WeatherTarget",
            gateway_target_name=WEATHER_TARGET,
            lambda_function=self.weather_tool,
            tool_schema=agentcore.ToolSchema.from_inline(
                [
                    agentcore.ToolDefinition(
                        name="get_weather",
                        description="Current weather for a city",
                        input_schema=agentcore.SchemaDefinition(
                            type=agentcore.SchemaDefinitionType.OBJECT,
                            properties={
                                "city": agentcore.SchemaDefinition(
                                    type=agentcore.SchemaDefinitionType.STRING, description="City name"
                                )
                            },
                            required=["city"],
                        ),
                    )
                ]
            ),
            credential_provider_configurations=[agentcore.GatewayCredentialProvider.from_iam_role()],
        )
        # Creating a Lambda target invokes the function with the gateway's role: its policy must exist first
        # (aws/aws-cdk#36826, "Gateway execution role lacks permission to invoke Lambda function").
        weather_target.node.add_dependency(self.gateway.role)
        self.user_pool: cognito.UserPool | None = None
        self.user_pool_client: cognito.UserPoolClient | None = None
        self.runtime = agentcore.Runtime(
            self,
            "Runtime",
            runtime_name=props.name,
            description="The platform agent (Strands) on the customized model",
            agent_runtime_artifact=agentcore.AgentRuntimeArtifact.from_asset(
                # invoke.py is the operator's script, not the agent: editing it must not rebuild the image.
                str(AGENT_DIR),
                platform=ecr_assets.Platform.LINUX_ARM64,
                exclude=["**/__pycache__", "invoke.py", "requirements.txt"],
            ),
            authorizer_configuration=self._inbound_auth(props),
            # The verified JWT reaches the agent, which takes the user (memory's actor id) from its sub claim rather
            # than from the request body. Authorization passes only with a JWT authorizer (AgentCore developer guide,
            # "Pass custom headers to Amazon Bedrock AgentCore Runtime").
            request_header_configuration=agentcore.RequestHeaderConfiguration(allowlisted_headers=["Authorization"]),
            environment_variables={
                # boto3 reads AWS_DEFAULT_REGION, the Identity SDK AWS_REGION (else it falls back to us-west-2).
                "AWS_REGION": cdk.Stack.of(self).region,
                "AWS_DEFAULT_REGION": cdk.Stack.of(self).region,
                "MODEL_ARN": props.model.invoke_arn,
                # Changes whenever serving's settings do: the Agent stack is then deployed again and reads the new
                # MODEL_ARN (a cross-stack value alone leaves this template unchanged, and cdk deploy skips it).
                "SERVED_MODEL_REVISION": props.model.revision,
                "BEDROCK_AGENTCORE_MEMORY_ID": self.memory.memory_id,
                "GATEWAY_URL": self.gateway.gateway_url or "",
                # The gateway's bearer token: the client-credentials grant through this credential provider.
                "GATEWAY_TOKEN_PROVIDER": self.gateway_identity.provider_name,
                "GATEWAY_TOKEN_SCOPE": self.gateway_identity.scope,
            },
            logging_configs=[
                agentcore.LoggingConfig(
                    destination=agentcore.LoggingDestination.cloud_watch_logs(
                        logs.LogGroup(self, f"{kind}Logs", retention=props.log_retention, encryption_key=props.key)
                    ),
                    log_type=log_type,
                )
                for kind, log_type in (
                    ("Application", agentcore.LogType.APPLICATION_LOGS),
                    ("Usage", agentcore.LogType.USAGE_LOGS),
                )
            ],
            tracing_enabled=True,
        )
        props.model.grant_invoke(self.runtime)
        self.memory.grant_read(self.runtime)
        self.memory.grant_write(self.runtime)
        # The strategies' namespaces (their ids are the service's), to retrieve this user's long-term records.
        self.memory.grant(self.runtime, "bedrock-agentcore:GetMemory")
        # The workload identity AgentCore makes for the runtime, named after it (<runtime name>-<suffix>; the AgentCore
        # developer guide's runtime execution role, "GetAgentAccessToken"): its workload access token is what the
        # agent trades for the gateway's token. (Its ARN attribute would make the role's policy wait for the runtime,
        # which waits for the policy.)
        own_identity = cdk.Stack.of(self).format_arn(
            service="bedrock-agentcore",
            resource="workload-identity-directory",
            resource_name=f"default/workload-identity/{props.name}-*",
        )
        self.gateway_identity.grant_token(self.runtime, own_identity)
        for name, arn in (("Memory", self.memory.memory_arn), ("Gateway", self.gateway.gateway_arn)):
            self._deliver_application_logs(name, arn, props)
        self._acknowledge(props.name)

    def _deliver_application_logs(self, name: str, resource_arn: str, props: AgentRuntimeProps) -> None:
        """The memory's and the gateway's application logs to a log group of their own (CloudWatch vended logs:
        delivery source, destination and delivery; AgentCore developer guide, "Enabling observability for AgentCore
        runtime, memory, gateway, built-in tools, and identity resources"). Names are unique per account."""
        prefix = f"{cdk.Stack.of(self).stack_name}-{name.lower()}"[:48]
        # Under /aws/vendedlogs/, CloudWatch Logs lets the delivery write without adding to the account's log resource
        # policy (CloudWatch Logs user guide, "Enabling logging from AWS services": its size limits are shared).
        group = logs.LogGroup(
            self,
            f"{name}Logs",
            log_group_name=f"/aws/vendedlogs/bedrock-agentcore/{prefix}",
            retention=props.log_retention,
            encryption_key=props.key,
            removal_policy=self._removal,
        )
        source = logs.CfnDeliverySource(
            self, f"{name}LogSource", name=f"{prefix}-source", log_type="APPLICATION_LOGS", resource_arn=resource_arn
        )
        destination = logs.CfnDeliveryDestination(
            self, f"{name}LogDestination", name=f"{prefix}-logs", destination_resource_arn=group.log_group_arn
        )
        delivery = logs.CfnDelivery(
            self,
            f"{name}LogDelivery",
            delivery_source_name=source.name,
            delivery_destination_arn=destination.attr_arn,
        )
        delivery.add_dependency(source)

    def _acknowledge(self, name: str) -> None:
        """The AgentCore L2s' own grants: what their service roles and the runtime role must hold."""
        key_grants = ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]")
        library_policy = "NIST.800.53.R5-IAMNoInlinePolicy"
        acknowledge(
            self.memory,
            "aws-cdk-lib's Memory grants its service role the platform key for encrypting memory records.",
            *key_grants,
            library_policy,
        )
        weather = cdk.Stack.of(self).get_logical_id(self.weather_tool.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            self.gateway,
            "aws-cdk-lib's Gateway grants its service role the platform key and invoke on the weather tool's "
            "versions and aliases (<function ARN>:*).",
            *key_grants,
            f"AwsSolutions-IAM5[Resource::<{weather}.Arn>:*]",
            library_policy,
        )
        runtimes = "log-group:/aws/bedrock-agentcore/runtimes/*"
        acknowledge(
            self.runtime,
            "aws-cdk-lib's Runtime grants its role what AgentCore observability needs (its runtime log groups, "
            "log-group discovery, X-Ray and CloudWatch metrics, which have no resource-level permissions) and "
            "workload access tokens for this account's workload identities.",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', runtimes)}]",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', 'log-group:*')}]",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', runtimes + ':log-stream:*')}]",
            "AwsSolutions-IAM5[Resource::*]",
            "AwsSolutions-IAM5[Resource::"
            f"{nag_arn(self, 'bedrock-agentcore', 'workload-identity-directory/default/workload-identity/*')}]",
            library_policy,
        )
        acknowledge(
            self.runtime,
            "The runtime's own workload identity, which AgentCore names <runtime name>-<suffix> when it makes the "
            "runtime: its ARN attribute cannot be used in the runtime's own role policy (a dependency cycle).",
            "AwsSolutions-IAM5[Resource::"
            f"{nag_arn(self, 'bedrock-agentcore', f'workload-identity-directory/default/workload-identity/{name}-*')}]",
        )

    def _inbound_auth(self, props: AgentRuntimeProps) -> agentcore.RuntimeAuthorizerConfiguration:
        if props.oidc is not None:
            return agentcore.RuntimeAuthorizerConfiguration.using_jwt(
                props.oidc.discovery_url, allowed_audience=list(props.oidc.allowed_audience)
            )
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_digits=True, require_lowercase=True, require_uppercase=True, require_symbols=True
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            removal_policy=self._removal,
        )
        # USER_PASSWORD_AUTH lets a script sign in (agent/invoke.py: the password over TLS to Cognito, then the TOTP
        # the pool requires); SRP stays for browsers. No client secret: a script could not keep one.
        # No OAuth flows: the pool has no domain, and aws-cdk-lib's defaults (implicit and code grants to a
        # placeholder callback URL) would be dead settings on the client users sign in with.
        self.user_pool_client = self.user_pool.add_client(
            "AgentClient",
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            generate_secret=False,
            disable_o_auth=True,
        )
        return agentcore.RuntimeAuthorizerConfiguration.using_cognito(self.user_pool, [self.user_pool_client])


def acknowledge_tool_function(function: lambda_.Function) -> None:
    acknowledge(
        function,
        "A stateless tool invoked synchronously by the AgentCore Gateway: failures return to the caller, so "
        "no dead-letter queue applies; it reaches no VPC resource; basic logging uses the AWS managed policy.",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "NIST.800.53.R5-LambdaDLQ",
        "NIST.800.53.R5-LambdaInsideVPC",
        "NIST.800.53.R5-LambdaConcurrency",
    )
