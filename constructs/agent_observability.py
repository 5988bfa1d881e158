"""A dashboard and alarms for the agent: runtime, gateway and the served model it uses."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from constructs import Construct

FIVE_MINUTES = cdk.Duration.minutes(5)


@dataclass(frozen=True)
class AgentObservabilityProps:
    runtime: agentcore.Runtime
    gateway: agentcore.Gateway
    model_invoke_arn: str
    key: kms.IKey
    latency_p90_threshold: cdk.Duration
    alarm_email: str | None = None


class AgentObservability(Construct):
    """Attributes: ``topic`` (alarm notifications), ``dashboard``, ``alarms``."""

    def __init__(self, scope: Construct, construct_id: str, props: AgentObservabilityProps) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", master_key=props.key, enforce_ssl=True)
        if props.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(props.alarm_email))

        def bedrock(metric_name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Bedrock",
                metric_name=metric_name,
                dimensions_map={"ModelId": props.model_invoke_arn},
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        signals = {
            "RuntimeErrors": (props.runtime.metric_system_errors(period=FIVE_MINUTES, statistic="Sum"), 1),
            "RuntimeThrottles": (props.runtime.metric_throttles(period=FIVE_MINUTES, statistic="Sum"), 1),
            "RuntimeLatencyP90": (
                props.runtime.metric_latency(period=FIVE_MINUTES, statistic="p90"),
                props.latency_p90_threshold.to_milliseconds(),
            ),
            "GatewayErrors": (props.gateway.metric_system_errors(period=FIVE_MINUTES, statistic="Sum"), 1),
            "GatewayThrottles": (props.gateway.metric_throttles(period=FIVE_MINUTES, statistic="Sum"), 1),
            "GatewayLatencyP90": (
                props.gateway.metric_latency(period=FIVE_MINUTES, statistic="p90"),
                props.latency_p90_threshold.to_milliseconds(),
            ),
            "ModelErrors": (bedrock("InvocationServerErrors", "Sum"), 1),
            "ModelThrottles": (bedrock("InvocationThrottles", "Sum"), 1),
            "ModelLatencyP90": (bedrock("InvocationLatency", "p90"), props.latency_p90_threshold.to_milliseconds()),
        }
        self.alarms = []
        for name, (metric, threshold) in signals.items():
            alarm = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Agent platform: {name}",
            )
            alarm.add_alarm_action(actions.SnsAction(self.topic))
            self.alarms.append(alarm)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        for group in ("Runtime", "Gateway", "Model"):
            self.dashboard.add_widgets(
                *[
                    cloudwatch.GraphWidget(title=name, left=[metric], width=8)
                    for name, (metric, _) in signals.items()
                    if name.startswith(group)
                ]
            )
