"""A SageMaker HyperPod cluster (``AWS::SageMaker::Cluster``) from typed props.

There is no L2 for HyperPod; this construct is the only place that builds ``CfnCluster``
property objects, so callers pass roles, subnets and file systems, never raw dictionaries.

Slurm is configured the way HyperPod does it today (SageMaker developer guide, "Getting started with
SageMaker HyperPod using the AWS CLI" for Slurm, and "Migrating to API-driven Slurm configuration"): each
group's ``SlurmConfig`` names its node type and partition, the groups carry no lifecycle configuration, and
HyperPod's AMI-based setup starts the Slurm daemons, Docker, Enroot and Pyxis, Slurm accounting on the
controller, and mounts FSx for Lustre from ``InstanceStorageConfigs``; nothing is fetched from the internet.
No ``provisioning_parameters.json`` exists (HyperPod refuses it next to ``SlurmConfig``). EKS groups still run
an ``OnCreate`` script (required for EKS).

Customer managed keys on the nodes' EBS volumes need the continuous provisioning mode, which clusters with a
restricted instance group are not given (restricted groups do not take customer managed keys; SageMaker
developer guide, "Customer managed AWS KMS key encryption for SageMaker HyperPod"). In continuous mode a Slurm
cluster takes no ``SlurmConfigStrategy`` (it merges).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker

from constructs import Construct

DeepHealthCheck = Literal["InstanceStress", "InstanceConnectivity"]


@dataclass(frozen=True)
class KubernetesTaint:
    key: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    value: str | None = None


@dataclass(frozen=True)
class LifecycleScripts:
    """Where nodes fetch their lifecycle scripts from, and the entry script to run on create."""

    bucket: s3.IBucket
    prefix: str
    on_create: str = "on_create.sh"

    @property
    def source_s3_uri(self) -> str:
        return self.bucket.s3_url_for_object(self.prefix)


@dataclass(frozen=True)
class LustreMount:
    """An FSx for Lustre file system every node of a group mounts."""

    dns_name: str
    mount_name: str
    mount_path: str = "/fsx"


@dataclass(frozen=True)
class InstanceGroup:
    name: str
    instance_type: str
    count: int
    execution_role: iam.IRole
    threads_per_core: int = 1
    ebs_volume_gib: int = 500
    deep_health_checks: Sequence[DeepHealthCheck] = ()
    kubernetes_labels: Mapping[str, str] = field(default_factory=dict)
    kubernetes_taints: Sequence[KubernetesTaint] = ()
    slurm_node_type: Literal["Controller", "Login", "Compute"] | None = None
    slurm_partitions: Sequence[str] = ()
    training_plan_arn: str | None = None


@dataclass(frozen=True)
class RestrictedInstanceGroup:
    """A restricted instance group (Amazon Nova customization); HyperPod creates its own FSx for Lustre."""

    name: str
    instance_type: str
    count: int
    execution_role: iam.IRole
    lustre_size_gib: int
    lustre_throughput_mbps_per_tib: int
    training_plan_arn: str | None = None


@dataclass(frozen=True)
class HyperPodClusterProps:
    cluster_name: str
    subnets: Sequence[ec2.ISubnet]
    security_group: ec2.ISecurityGroup
    instance_groups: Sequence[InstanceGroup] = ()
    restricted_instance_groups: Sequence[RestrictedInstanceGroup] = ()
    eks_cluster: eks.ICluster | None = None
    lifecycle: LifecycleScripts | None = None  # EKS only: Slurm groups use HyperPod's AMI-based setup
    lustre: LustreMount | None = None
    volume_key: kms.IKey | None = None  # root and secondary EBS volumes; not with restricted instance groups


class HyperPodCluster(Construct):
    """Attributes: ``cluster_name``, ``cluster_arn``, ``continuous_provisioning`` and ``resource`` (the
    ``CfnCluster``, for dependencies)."""

    def __init__(self, scope: Construct, construct_id: str, props: HyperPodClusterProps) -> None:
        super().__init__(scope, construct_id)
        _validate(props)
        # Customer managed volume keys need continuous provisioning (see the module docstring).
        self.continuous_provisioning = props.volume_key is not None
        orchestrator = (
            sagemaker.CfnCluster.OrchestratorProperty(
                eks=sagemaker.CfnCluster.ClusterOrchestratorEksConfigProperty(cluster_arn=props.eks_cluster.cluster_arn)
            )
            if props.eks_cluster is not None
            else sagemaker.CfnCluster.OrchestratorProperty(
                slurm=sagemaker.CfnCluster.ClusterOrchestratorSlurmConfigProperty(
                    slurm_config_strategy=None if self.continuous_provisioning else "Managed"
                )
            )
        )
        self.resource = sagemaker.CfnCluster(
            self,
            "Resource",
            cluster_name=props.cluster_name,
            orchestrator=orchestrator,
            node_recovery="Automatic",
            node_provisioning_mode="Continuous" if self.continuous_provisioning else None,
            vpc_config=sagemaker.CfnCluster.VpcConfigProperty(
                security_group_ids=[props.security_group.security_group_id],
                subnets=[subnet.subnet_id for subnet in props.subnets],
            ),
            instance_groups=[_instance_group(group, props) for group in props.instance_groups] or None,
            restricted_instance_groups=[_restricted_group(group) for group in props.restricted_instance_groups] or None,
        )
        self.cluster_name = props.cluster_name
        self.cluster_arn = self.resource.attr_cluster_arn


def _validate(props: HyperPodClusterProps) -> None:
    if not props.instance_groups and not props.restricted_instance_groups:
        raise ValueError("HyperPodCluster: instance_groups is empty; a cluster needs at least one instance group")
    if props.instance_groups and props.eks_cluster is not None and props.lifecycle is None:
        raise ValueError("HyperPodCluster: lifecycle is None; EKS instance groups need an OnCreate lifecycle script")
    if props.eks_cluster is None and props.lifecycle is not None:
        raise ValueError("HyperPodCluster: lifecycle is set for Slurm; Slurm groups use HyperPod's AMI-based setup")
    if props.restricted_instance_groups and props.eks_cluster is None:
        raise ValueError("HyperPodCluster: restricted_instance_groups need eks_cluster (Nova runs on HyperPod EKS)")
    if props.restricted_instance_groups and props.volume_key is not None:
        raise ValueError(
            "HyperPodCluster: volume_key is set with restricted_instance_groups; restricted groups take no customer "
            "managed key and their clusters are not in continuous provisioning mode"
        )
    for group in props.instance_groups:
        if props.eks_cluster is None and group.slurm_node_type is None:
            raise ValueError(f"HyperPodCluster: instance group {group.name!r} has no slurm_node_type (Slurm)")
        if group.count < 1:
            raise ValueError(f"HyperPodCluster: instance group {group.name!r} count {group.count}; allowed: 1 or more")


def _instance_group(
    group: InstanceGroup, props: HyperPodClusterProps
) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
    key_id = props.volume_key.key_arn if props.volume_key is not None else None
    storage = [
        sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
            ebs_volume_config=sagemaker.CfnCluster.ClusterEbsVolumeConfigProperty(
                volume_size_in_gb=group.ebs_volume_gib, volume_kms_key_id=key_id
            )
        )
    ]
    if key_id is not None:
        storage.append(
            sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                ebs_volume_config=sagemaker.CfnCluster.ClusterEbsVolumeConfigProperty(
                    root_volume=True, volume_kms_key_id=key_id
                )
            )
        )
    if props.lustre is not None:
        storage.append(
            sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                fsx_lustre_config=sagemaker.CfnCluster.ClusterFsxLustreConfigProperty(
                    dns_name=props.lustre.dns_name,
                    mount_name=props.lustre.mount_name,
                    mount_path=props.lustre.mount_path,
                )
            )
        )
    kubernetes = None
    if group.kubernetes_labels or group.kubernetes_taints:
        kubernetes = sagemaker.CfnCluster.ClusterKubernetesConfigProperty(
            labels=dict(group.kubernetes_labels) or None,
            taints=[
                sagemaker.CfnCluster.ClusterKubernetesTaintProperty(key=t.key, effect=t.effect, value=t.value)
                for t in group.kubernetes_taints
            ]
            or None,
        )
    slurm = None
    if group.slurm_node_type is not None:
        slurm = sagemaker.CfnCluster.ClusterSlurmConfigProperty(
            node_type=group.slurm_node_type, partition_names=list(group.slurm_partitions) or None
        )
    return sagemaker.CfnCluster.ClusterInstanceGroupProperty(
        instance_group_name=group.name,
        instance_type=group.instance_type,
        instance_count=group.count,
        execution_role=group.execution_role.role_arn,
        threads_per_core=group.threads_per_core,
        life_cycle_config=sagemaker.CfnCluster.ClusterLifeCycleConfigProperty(
            source_s3_uri=props.lifecycle.source_s3_uri, on_create=props.lifecycle.on_create
        )
        if props.lifecycle is not None
        else None,
        instance_storage_configs=storage,
        training_plan_arn=group.training_plan_arn,
        on_start_deep_health_checks=list(group.deep_health_checks) or None,
        kubernetes_config=kubernetes,
        slurm_config=slurm,
    )


def _restricted_group(group: RestrictedInstanceGroup) -> sagemaker.CfnCluster.ClusterRestrictedInstanceGroupProperty:
    return sagemaker.CfnCluster.ClusterRestrictedInstanceGroupProperty(
        instance_group_name=group.name,
        instance_type=group.instance_type,
        instance_count=group.count,
        execution_role=group.execution_role.role_arn,
        training_plan_arn=group.training_plan_arn,
        environment_config=sagemaker.CfnCluster.EnvironmentConfigProperty(
            f_sx_lustre_config=sagemaker.CfnCluster.FSxLustreConfigProperty(
                size_in_gib=group.lustre_size_gib,
                per_unit_storage_throughput=group.lustre_throughput_mbps_per_tib,
            )
        ),
    )
