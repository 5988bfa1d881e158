"""One environment: its stacks and its tags."""

from __future__ import annotations

import aws_cdk as cdk

from config.model import SAFETY_METADATA, EnvironmentConfig
from constructs import Construct
from stacks.agent_stack import AgentStack
from stacks.data_stack import DataStack
from stacks.network_stack import NetworkStack
from stacks.retired_stack import RetiredStack
from stacks.serving_stack import ServingStack
from stacks.training_cluster_stack import TrainingClusterStack
from stacks.workflow_stack import WorkflowStack


class EnvironmentStage(cdk.Stage):
    """``cdk deploy '<name>/*'`` deploys this environment; its assembly is ``cdk.out/assembly-<name>``."""

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        env = cdk.Environment(account=config.account, region=config.region) if config.account else None
        super().__init__(scope, config.name, env=env)
        self.config = config
        self.network = NetworkStack(self, "Network", config=config)
        # The config's safety decisions, for the audit's risks page (the manifest, not the templates, carries them).
        self.network.node.add_metadata(SAFETY_METADATA, config.safety_record())
        self.data = DataStack(self, "Data", config=config, network=self.network.network)
        if config.cluster is not None:
            self.training = TrainingClusterStack(
                self,
                "Training",
                config=config,
                network=self.network.network,
                stores=self.data.stores,
                file_system=self.data.datasets_file_system,
                key=self.data.key,
            )
        if config.workflow is not None:
            self.workflow = WorkflowStack(
                self,
                "Workflow",
                config=config,
                network=self.network.network,
                stores=self.data.stores,
                key=self.data.key,
                # Nova runs on HyperPod need the cluster's restricted instance group (EKS only).
                nova_jobs=self.training.nova_jobs if config.cluster is not None else None,
            )
        for key, value in config.tags.as_aws_tags().items():
            cdk.Tags.of(self).add(key, value)
        if config.serving is not None:
            self.serving = ServingStack(
                self,
                "Serving",
                config=config,
                key=self.data.key,
                workflow=self.workflow.workflow if config.workflow is not None else None,
            )
            if config.agent is not None:
                self.agent = AgentStack(self, "Agent", config=config, key=self.data.key, model=self.serving.model)
        for retired in config.retired:
            RetiredStack(self, retired, config=config)
        if config.is_throwaway:
            self._delete_logs_with_the_key()

    def _delete_logs_with_the_key(self) -> None:
        """A throwaway environment's key is deleted with it (after its waiting period): log groups it encrypts are
        deleted too, rather than kept as groups nobody can read."""
        for construct in self.node.find_all():
            if isinstance(construct, cdk.aws_logs.CfnLogGroup):
                construct.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
