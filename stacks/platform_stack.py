"""Base class for every stack of an environment: hermetic zones, no version reporting."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from config.model import DEFAULT_QUALIFIER, LOG_RETENTION_NAMES, EnvironmentConfig
from constructs import Construct
from stacks.template_hygiene import CleanTemplateSynthesizer


def bootstrap_synthesizer(config: EnvironmentConfig) -> cdk.IStackSynthesizer:
    """The environment's own bootstrap (``cdk bootstrap --qualifier``) when config names one: its deploy roles then
    serve no other environment of the account. Either way the templates are written without redundant DependsOn."""
    if config.bootstrap_qualifier == DEFAULT_QUALIFIER:
        return CleanTemplateSynthesizer()
    return CleanTemplateSynthesizer(qualifier=config.bootstrap_qualifier)


class PlatformStack(cdk.Stack):
    """A stack whose availability zones never come from a context lookup.

    With an explicit account and region, CDK asks the CLI to look zones up even when a VPC
    is given them; overriding ``availability_zones`` keeps synth free of credentials. A new
    VPC gets ``Fn::GetAZs`` selections, resolved at deploy time (no zone names hard-coded in
    templates); an existing VPC's zones are the ones its config names.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, description: str) -> None:
        super().__init__(
            scope,
            construct_id,
            description=description,
            analytics_reporting=False,
            termination_protection=not config.is_throwaway,
            synthesizer=bootstrap_synthesizer(config),
        )
        self.config = config

    @property
    def log_retention(self) -> logs.RetentionDays:
        """How long this environment keeps logs (``network.flow_log_retention_days``)."""
        return logs.RetentionDays[LOG_RETENTION_NAMES[self.config.network.flow_log_retention_days]]

    @property
    def availability_zones(self) -> list[str]:
        network = self.config.network
        if network.mode == "existing":
            return list(network.availability_zones)
        return [cdk.Fn.select(index, cdk.Fn.get_azs()) for index in range(network.az_count)]
