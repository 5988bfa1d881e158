"""Training compute of one environment: a HyperPod cluster on EKS or Slurm, and its Nova group."""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam

from config.cluster import NO_HEALTH_AGENT_IMAGE_REGIONS, RIG_REGIONS, ClusterConfig, InstanceGroupConfig
from config.model import EnvironmentConfig
from constructs import Construct
from constructs.data_stores import DataStores
from constructs.datasets_file_system import DatasetsFileSystem
from constructs.hyperpod_cluster import (
    HyperPodCluster,
    HyperPodClusterProps,
    InstanceGroup,
    KubernetesTaint,
    LustreMount,
    RestrictedInstanceGroup,
)
from constructs.hyperpod_eks_control_plane import HyperPodEksControlPlane, HyperPodEksControlPlaneProps
from constructs.hyperpod_execution_role import HyperPodExecutionRole, HyperPodExecutionRoleProps
from constructs.hyperpod_helm_chart import (
    WORKFLOW_GROUP,
    WORKFLOW_NAMESPACE,
    HyperPodHelmChart,
    HyperPodHelmChartProps,
    NovaJobTarget,
    hyperpod_chart_values,
)
from constructs.lifecycle_scripts import LifecycleScriptsBucket, LifecycleScriptsBucketProps
from constructs.training_network import TrainingNetwork
from stacks.platform_stack import PlatformStack


class TrainingClusterStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        network: TrainingNetwork,
        stores: DataStores,
        file_system: DatasetsFileSystem,
        key: cdk.aws_kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id, config=config, description="SageMaker HyperPod training cluster")
        assert config.cluster is not None  # the Stage adds this stack only when the section exists
        cluster = config.cluster
        eks_orchestrated = cluster.orchestrator == "eks"
        lustre = LustreMount(dns_name=file_system.file_system.dns_name, mount_name=file_system.file_system.mount_name)
        # EKS groups need an OnCreate script; Slurm groups use HyperPod's AMI-based setup and have none.
        lifecycle = (
            LifecycleScriptsBucket(
                self,
                "LifecycleScripts",
                LifecycleScriptsBucketProps(
                    environment=config.name,
                    flavour=cluster.orchestrator,
                    key=key,
                    access_logs_bucket=stores.access_logs_bucket,
                    retain=not config.is_throwaway,
                ),
            )
            if eks_orchestrated
            else None
        )

        # Training and FSx share one zone (network.training_subnet): EFA and Lustre traffic stays in it.
        training_subnets = [network.training_subnet]
        control_plane = None
        if eks_orchestrated:
            control_plane = HyperPodEksControlPlane(
                self,
                "Orchestrator",
                HyperPodEksControlPlaneProps(
                    vpc=network.vpc,
                    subnets=list(network.vpc.private_subnets),
                    security_group=network.cluster_security_group,
                    secrets_key=key,
                    kubernetes_version=cluster.kubernetes_version,
                    endpoint_public=cluster.endpoint_public,
                    endpoint_public_cidrs=cluster.endpoint_public_cidrs,
                    admin_role_arn=cluster.admin_role_arn,
                ),
            )

        rig = cluster.restricted_instance_group
        # The nodes' EBS volumes on the platform key unless config says aws-owned, and never in a cluster with a
        # restricted group, which takes no customer managed key (hyperpod_cluster's docstring).
        volume_key = key if cluster.volumes_on_platform_key else None

        def execution_role(construct_id: str, restricted: bool = False) -> iam.IRole:
            role = HyperPodExecutionRole(
                self,
                construct_id,
                HyperPodExecutionRoleProps(
                    vpc=network.vpc,
                    eks_cluster=cast(eks.ICluster, control_plane.cluster) if control_plane else None,
                    volume_key=None if restricted else volume_key,
                ),
            ).role
            stores.grant_read_datasets(role)
            stores.grant_read_write_artifacts(role)
            if lifecycle is not None:
                lifecycle.grant_read(role)
            return role

        orchestrator = cast(eks.ICluster, control_plane.cluster) if control_plane else None
        # Set when the cluster has a restricted instance group: the customization workflow trains there.
        self.nova_jobs: NovaJobTarget | None = None
        # Config refuses an unsupported pinned Region; a template that names none is checked by CloudFormation before
        # it creates anything, with these messages.
        if rig is not None:
            cdk.CfnRule(
                self,
                "RestrictedGroupRegion",
                assertions=[
                    cdk.CfnRuleAssertion(
                        assert_=cdk.Fn.condition_contains(list(RIG_REGIONS), cdk.Aws.REGION),
                        assert_description="cluster.restricted_instance_group: this Region is not allowed; expected "
                        "a Region with restricted instance groups: " + ", ".join(RIG_REGIONS),
                    )
                ],
            )
        if eks_orchestrated:
            cdk.CfnRule(
                self,
                "HealthAgentRegion",
                assertions=[
                    cdk.CfnRuleAssertion(
                        assert_=cdk.Fn.condition_not(
                            cdk.Fn.condition_contains(list(NO_HEALTH_AGENT_IMAGE_REGIONS), cdk.Aws.REGION)
                        ),
                        assert_description="cluster (eks): this Region is not allowed; the HyperPod chart's health "
                        "monitoring agent has no image in " + ", ".join(NO_HEALTH_AGENT_IMAGE_REGIONS),
                    )
                ],
            )
        groups = [_instance_group(group, execution_role(f"{group.name}Role")) for group in cluster.instance_groups]
        self.hyperpod = HyperPodCluster(
            self,
            "HyperPod",
            HyperPodClusterProps(
                cluster_name=_cluster_name(config),
                subnets=training_subnets,
                security_group=network.cluster_security_group,
                instance_groups=groups,
                restricted_instance_groups=[
                    RestrictedInstanceGroup(
                        name=rig.name,
                        instance_type=rig.instance_type,
                        count=rig.count,
                        execution_role=execution_role(f"{rig.name}RestrictedRole", restricted=True),
                        lustre_size_gib=rig.lustre_size_gib,
                        lustre_throughput_mbps_per_tib=rig.lustre_throughput_mbps_per_tib,
                        training_plan_arn=rig.training_plan_arn,
                    )
                ]
                if rig is not None
                else [],
                eks_cluster=orchestrator,
                lifecycle=lifecycle.scripts if lifecycle is not None else None,
                lustre=lustre,
                volume_key=volume_key,
            ),
        )
        if lifecycle is not None:
            self.hyperpod.node.add_dependency(lifecycle.deployment)
        if control_plane is not None:
            chart = HyperPodHelmChart(
                self,
                "HyperPodChart",
                HyperPodHelmChartProps(
                    cluster=control_plane.cluster,
                    vpc=network.vpc,
                    subnets=list(network.vpc.private_subnets),
                    security_group=network.cluster_security_group,
                    log_key=key,
                    log_retention=self.log_retention,
                    values=hyperpod_chart_values(
                        self.region, [taint for group in groups for taint in group.kubernetes_taints]
                    ),
                ),
            )
            chart.resource.node.add_dependency(*control_plane.addons)
            self.hyperpod.node.add_dependency(chart.resource)
            if rig is not None:
                self.hyperpod.node.add_dependency(chart.add_restricted_instance_group_dependencies(RIG_REGIONS))
                chart.add_workflow_access(WORKFLOW_NAMESPACE, WORKFLOW_GROUP)
                self.nova_jobs = NovaJobTarget(
                    cluster=cast(eks.ICluster, control_plane.cluster),
                    namespace=WORKFLOW_NAMESPACE,
                    group=WORKFLOW_GROUP,
                    instance_type=rig.instance_type,
                    max_nodes=rig.count,
                )
        self._outputs(cluster, control_plane)

    def _outputs(self, cluster: ClusterConfig, control_plane: HyperPodEksControlPlane | None) -> None:
        cdk.CfnOutput(self, "ClusterName", value=self.hyperpod.cluster_name)
        cdk.CfnOutput(self, "ClusterArn", value=self.hyperpod.cluster_arn)
        if control_plane is not None:
            cdk.CfnOutput(
                self,
                "UpdateKubeconfigCommand",
                value=f"aws eks update-kubeconfig --region {self.region} --name {control_plane.cluster.cluster_name}",
            )
            return
        login = next((g.name for g in cluster.instance_groups if g.slurm_node_type == "Login"), None)
        target_group = login or next(g.name for g in cluster.instance_groups if g.slurm_node_type == "Controller")
        cluster_id = cdk.Fn.select(1, cdk.Fn.split("cluster/", self.hyperpod.cluster_arn))
        cdk.CfnOutput(
            self,
            "SlurmLoginCommand",
            description="Replace INSTANCE_ID with one from: aws sagemaker list-cluster-nodes --cluster-name <name>",
            value=f"aws ssm start-session --region {self.region} "
            f"--target sagemaker-cluster:{cluster_id}_{target_group}-INSTANCE_ID",
        )


def _instance_group(group: InstanceGroupConfig, role: iam.IRole) -> InstanceGroup:
    return InstanceGroup(
        name=group.name,
        instance_type=group.instance_type,
        count=group.count,
        execution_role=role,
        threads_per_core=group.threads_per_core,
        ebs_volume_gib=group.ebs_volume_gib,
        deep_health_checks=group.deep_health_checks,
        kubernetes_labels=group.labels,
        kubernetes_taints=[KubernetesTaint(key=t.key, effect=t.effect, value=t.value) for t in group.taints],
        slurm_node_type=group.slurm_node_type,
        slurm_partitions=group.partitions,
        training_plan_arn=group.training_plan_arn,
    )


def _cluster_name(config: EnvironmentConfig) -> str:
    """``<env>-training``, with the training zone when config names one: moving the cluster to another subnet
    replaces it, and CloudFormation creates the replacement before deleting the old one, so the names must differ."""
    network = config.network
    place = network.training_availability_zone_id or network.training_subnet_id
    return f"{config.name}-training" + (f"-{place}" if place else "")
