"""A stack whose config section was removed: deployed empty, so CloudFormation deletes what it held.

``cdk deploy`` never deletes a stack that left the app, so removing the ``cluster`` section alone would leave the
HyperPod and EKS clusters billing. Listed under ``retired:``, the stack stays in the app with one placeholder resource
(CloudFormation needs one): deploying it deletes everything else (resources kept by their deletion policy stay, as on
any delete). Then ``cdk destroy '<env>/<stack>'`` removes it and the entry can go.
"""

from __future__ import annotations

import aws_cdk as cdk

from config.model import EnvironmentConfig
from constructs import Construct
from stacks.platform_stack import bootstrap_synthesizer


class RetiredStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Retired ({construct_id}): deploy to delete its resources, then cdk destroy it",
            analytics_reporting=False,
            # The follow-up cdk destroy must work.
            termination_protection=False,
            synthesizer=bootstrap_synthesizer(config),
        )
        cdk.CfnWaitConditionHandle(self, "Retired")
        cdk.CfnOutput(self, "Next", value=f"npx cdk destroy '{config.name}/{construct_id}'")
