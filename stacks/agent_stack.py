"""The agent of one environment: AgentCore runtime, memory, identity, gateway and their alarms."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms

from config.model import EnvironmentConfig
from constructs import Construct
from constructs.agent_observability import AgentObservability, AgentObservabilityProps
from constructs.agent_runtime import AgentRuntime, AgentRuntimeProps, OidcInbound, acknowledge_tool_function
from constructs.served_model import ServedModel
from constructs.transaction_search import TransactionSearch
from stacks.platform_stack import PlatformStack


class AgentStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        model: ServedModel,
    ) -> None:
        super().__init__(scope, construct_id, config=config, description="Bedrock AgentCore agent")
        assert config.agent is not None  # the Stage adds this stack only when the section exists
        agent = config.agent
        self.agent = AgentRuntime(
            self,
            "Agent",
            AgentRuntimeProps(
                name=f"{config.name.replace('-', '_')}_platform_agent",
                model=model,
                key=key,
                log_retention=self.log_retention,
                memory_expiry=cdk.Duration.days(agent.memory_expiry_days),
                oidc=OidcInbound(agent.oidc_discovery_url, agent.allowed_audience)
                if agent.oidc_discovery_url
                else None,
                retain=not config.is_throwaway,
            ),
        )
        acknowledge_tool_function(self.agent.weather_tool)
        if agent.transaction_search_percent is not None:
            TransactionSearch(self, "TransactionSearch", indexing_percent=agent.transaction_search_percent)
        AgentObservability(
            self,
            "Observability",
            AgentObservabilityProps(
                runtime=self.agent.runtime,
                gateway=self.agent.gateway,
                model_invoke_arn=model.invoke_arn,
                key=key,
                alarm_email=agent.alarm_email,
                latency_p90_threshold=cdk.Duration.millis(agent.latency_p90_threshold_ms),
            ),
        )
        cdk.CfnOutput(self, "RuntimeArn", value=self.agent.runtime.agent_runtime_arn)
        if self.agent.user_pool is not None:
            cdk.CfnOutput(self, "UserPoolId", value=self.agent.user_pool.user_pool_id)
        if self.agent.user_pool_client is not None:
            # The runtime takes a JWT, which the AWS CLI's SigV4 call cannot carry: agent/invoke.py signs in and
            # calls it over HTTPS.
            cdk.CfnOutput(
                self,
                "InvokeCommand",
                value=f".venv/bin/python agent/invoke.py --runtime-arn {self.agent.runtime.agent_runtime_arn} "
                f"--client-id {self.agent.user_pool_client.user_pool_client_id} --region {self.region} "
                '--username <you> "What is the weather in Paris?"',
            )
