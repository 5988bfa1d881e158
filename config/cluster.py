"""The ``cluster`` section: a SageMaker HyperPod cluster on EKS or Slurm, and its Nova group.

Instance types are checked against the ``ClusterInstanceType`` enum of botocore's SageMaker
model (the pinned botocore is the source of truth, so the list never goes stale by hand).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from config.sagemaker_model import sagemaker_enum
from customization.problems import Problem

GROUP_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
# botocore's SageMaker model: ClusterPartitionNames (at most 1) of ClusterPartitionName, and ClusterInstanceCount.
PARTITION_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
MAX_PARTITIONS_PER_GROUP = 1
MAX_INSTANCE_COUNT = 6758
# HyperPod puts every Slurm node in a partition of this name itself (SageMaker developer guide, HyperPod reference,
# "Slurm configuration": "All nodes are automatically added to the universal dev partition").
RESERVED_PARTITIONS = ("dev",)
# Deep health checks test GPUs (DCGM, NCCL, EFA) and, on EKS, Trainium; other instances are skipped (SageMaker
# developer guide, "Deep health checks" for Slurm and for EKS: "Supported instance families include g5, p4, and p5").
DEEP_HEALTH_CHECK_FAMILIES = {"slurm": ("ml.g", "ml.p"), "eks": ("ml.g", "ml.p", "ml.trn")}
BLOCKING_TAINT_EFFECTS = ("NoSchedule", "NoExecute")
# HyperPod Regions where the pinned chart's health monitoring agent has no image: its helper keeps the Region and
# falls back to account 767398015722, whose registry does not exist there (aws/sagemaker-hyperpod-cli 9774c58,
# helm_chart/HyperPodHelmChart/charts/health-monitoring-agent/templates/_helpers.tpl).
NO_HEALTH_AGENT_IMAGE_REGIONS = ("ca-central-1", "eu-south-2", "ap-southeast-3", "ap-southeast-4")
VOLUME_KEYS = ("platform", "aws-owned")
# botocore's TrainingPlanArn shape.
TRAINING_PLAN_ARN_PATTERN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:training-plan/.+$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/\-]+$")
KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33")
DEEP_HEALTH_CHECKS = ("InstanceStress", "InstanceConnectivity")

# Instance types the Nova-on-HyperPod documentation lists for restricted instance groups.
RIG_INSTANCE_TYPES = ("ml.p5.48xlarge", "ml.p5en.48xlarge")
# FSx for Lustre that HyperPod creates for a restricted instance group (MB/s/TiB, GiB).
RIG_LUSTRE_THROUGHPUTS = (125, 250, 500, 1000)
RIG_LUSTRE_MIN_GIB = 1200
RIG_LUSTRE_STEP_GIB = 2400
# Regions the HyperPod team's RIG dependency installer supports (aws/sagemaker-hyperpod-cli v2.2.0,
# install_rig_dependencies.sh): its image registries are known there.
RIG_REGIONS = ("us-east-1", "us-west-2", "eu-north-1", "eu-west-2", "ap-northeast-1")


def _training_plan_problems(key: str, arn: str | None) -> list[Problem]:
    if arn is None or TRAINING_PLAN_ARN_PATTERN.match(arn):
        return []
    return [
        Problem(
            f"{key}.training_plan_arn", arn, "a SageMaker training plan ARN (arn:aws:sagemaker:...:training-plan/...)"
        )
    ]


def hyperpod_instance_types() -> frozenset[str]:
    """``ClusterInstanceType`` from botocore's SageMaker service model."""
    return sagemaker_enum("ClusterInstanceType")


@dataclass(frozen=True)
class Taint:
    key: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    value: str | None = None


@dataclass(frozen=True)
class InstanceGroupConfig:
    """One HyperPod instance group. ``slurm_node_type`` and ``partitions`` apply to Slurm only,
    ``labels`` and ``taints`` to EKS only."""

    name: str
    instance_type: str
    count: int = 1
    threads_per_core: int = 1
    ebs_volume_gib: int = 500
    deep_health_checks: tuple[Literal["InstanceStress", "InstanceConnectivity"], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    slurm_node_type: Literal["Controller", "Login", "Compute"] | None = None
    partitions: tuple[str, ...] = ()
    training_plan_arn: str | None = None

    def problems(self, key: str, orchestrator: str) -> list[Problem]:
        found: list[Problem] = _training_plan_problems(key, self.training_plan_arn)
        if not GROUP_NAME_PATTERN.match(self.name) or len(self.name) > 63:
            found.append(Problem(f"{key}.name", self.name, "1-63 letters, digits or '-', not starting with '-'"))
        if self.instance_type not in hyperpod_instance_types():
            found.append(
                Problem(f"{key}.instance_type", self.instance_type, "a HyperPod instance type such as ml.g5.8xlarge")
            )
        if not 1 <= self.count <= MAX_INSTANCE_COUNT:
            found.append(
                Problem(f"{key}.count", self.count, f"from 1 to {MAX_INSTANCE_COUNT} (the HyperPod API's limit)")
            )
        if self.threads_per_core not in (1, 2):
            found.append(Problem(f"{key}.threads_per_core", self.threads_per_core, "1 or 2"))
        if not 1 <= self.ebs_volume_gib <= 16384:
            found.append(Problem(f"{key}.ebs_volume_gib", self.ebs_volume_gib, "from 1 to 16384"))
        families = DEEP_HEALTH_CHECK_FAMILIES.get(orchestrator, ())
        if self.deep_health_checks and not self.instance_type.startswith(families):
            found.append(
                Problem(
                    f"{key}.deep_health_checks",
                    list(self.deep_health_checks),
                    f"absent on {self.instance_type}: deep health checks run on accelerated instances ("
                    + ", ".join(f"{f}*" for f in families)
                    + ")",
                )
            )
        if self.deep_health_checks and self.taints:
            # "You cannot add custom taints to nodes in instance groups with DeepHealthChecks turned on" (SageMaker
            # developer guide, HyperPod EKS prerequisites): the checks taint the nodes themselves.
            found.append(
                Problem(f"{key}.taints", [t.key for t in self.taints], "absent on a group with deep_health_checks")
            )
        if orchestrator == "slurm":
            if self.slurm_node_type is None:
                found.append(Problem(f"{key}.slurm_node_type", None, "Controller, Login or Compute (Slurm)"))
            if self.labels or self.taints:
                found.append(Problem(f"{key}.labels/taints", self.name, "absent with Slurm (EKS only)"))
            if self.slurm_node_type == "Compute" and not self.partitions:
                found.append(Problem(f"{key}.partitions", [], "one partition for a Compute group"))
            if self.partitions and self.slurm_node_type in ("Controller", "Login"):
                found.append(
                    Problem(f"{key}.partitions", list(self.partitions), "absent on a Controller or Login group")
                )
            if len(self.partitions) > MAX_PARTITIONS_PER_GROUP:
                found.append(
                    Problem(f"{key}.partitions", list(self.partitions), "one partition (HyperPod takes one per group)")
                )
            for partition in self.partitions:
                if partition in RESERVED_PARTITIONS:
                    found.append(
                        Problem(
                            f"{key}.partitions", partition, "a name other than 'dev', which HyperPod gives every node"
                        )
                    )
                elif not PARTITION_NAME_PATTERN.match(partition) or len(partition) > 1024:
                    found.append(
                        Problem(
                            f"{key}.partitions", partition, "letters, digits or '-', not starting or ending with '-'"
                        )
                    )
        elif self.slurm_node_type is not None or self.partitions:
            found.append(Problem(f"{key}.slurm_node_type/partitions", self.name, "absent with EKS (Slurm only)"))
        return found


@dataclass(frozen=True)
class RestrictedInstanceGroupConfig:
    """The restricted instance group Amazon Nova customization runs on (EKS only)."""

    instance_type: str
    count: int = 1
    name: str = "nova"
    lustre_size_gib: int = RIG_LUSTRE_MIN_GIB
    lustre_throughput_mbps_per_tib: int = 250
    training_plan_arn: str | None = None

    def problems(self) -> list[Problem]:
        key = "cluster.restricted_instance_group"
        found: list[Problem] = _training_plan_problems(key, self.training_plan_arn)
        if self.instance_type not in RIG_INSTANCE_TYPES:
            found.append(Problem(f"{key}.instance_type", self.instance_type, "one of " + ", ".join(RIG_INSTANCE_TYPES)))
        if not 1 <= self.count <= MAX_INSTANCE_COUNT:
            found.append(
                Problem(f"{key}.count", self.count, f"from 1 to {MAX_INSTANCE_COUNT} (the HyperPod API's limit)")
            )
        if not GROUP_NAME_PATTERN.match(self.name) or len(self.name) > 63:
            found.append(Problem(f"{key}.name", self.name, "letters, digits or '-', not starting with '-'"))
        size = self.lustre_size_gib
        if size < RIG_LUSTRE_MIN_GIB or (size - RIG_LUSTRE_MIN_GIB) % RIG_LUSTRE_STEP_GIB:
            found.append(
                Problem(
                    f"{key}.lustre_size_gib", size, f"{RIG_LUSTRE_MIN_GIB} plus a multiple of {RIG_LUSTRE_STEP_GIB}"
                )
            )
        if self.lustre_throughput_mbps_per_tib not in RIG_LUSTRE_THROUGHPUTS:
            found.append(
                Problem(
                    f"{key}.lustre_throughput_mbps_per_tib",
                    self.lustre_throughput_mbps_per_tib,
                    "one of " + ", ".join(map(str, RIG_LUSTRE_THROUGHPUTS)),
                )
            )
        return found


@dataclass(frozen=True)
class ClusterConfig:
    orchestrator: Literal["eks", "slurm"]
    instance_groups: tuple[InstanceGroupConfig, ...] = ()
    restricted_instance_group: RestrictedInstanceGroupConfig | None = None
    kubernetes_version: str = "1.32"
    endpoint_public: bool = False
    # With endpoint_public: the networks that may reach the public endpoint (EKS's default is 0.0.0.0/0).
    endpoint_public_cidrs: tuple[str, ...] = ()
    admin_role_arn: str | None = None
    # The nodes' EBS volumes: on the platform key (continuous provisioning; not with a restricted group), or on
    # AWS-owned keys. A deployed instance group cannot change keys (HyperPod refuses it).
    volume_key: str = "platform"

    @property
    def volumes_on_platform_key(self) -> bool:
        return self.volume_key == "platform" and self.restricted_instance_group is None

    def problems(self, region: str | None = None) -> list[Problem]:
        found: list[Problem] = []
        if self.volume_key not in VOLUME_KEYS:
            found.append(Problem("cluster.volume_key", self.volume_key, "one of " + ", ".join(VOLUME_KEYS)))
        if self.orchestrator == "eks" and region in NO_HEALTH_AGENT_IMAGE_REGIONS:
            found.append(
                Problem("region", region, "a Region where the HyperPod chart's health monitoring agent has an image")
            )
        if self.restricted_instance_group is not None and region is not None and region not in RIG_REGIONS:
            allowed = "a region with restricted instance groups: " + ", ".join(RIG_REGIONS)
            found.append(Problem("region", region, allowed))
        for index, group in enumerate(self.instance_groups):
            found += group.problems(f"cluster.instance_groups[{index}]", self.orchestrator)
        names = [group.name for group in self.instance_groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            found.append(Problem("cluster.instance_groups[].name", duplicates, "unique names"))
        if self.restricted_instance_group is not None and self.restricted_instance_group.name in names:
            found.append(
                Problem(
                    "cluster.restricted_instance_group.name",
                    self.restricted_instance_group.name,
                    "a name no instance group has (a cluster's group names are unique)",
                )
            )
        if self.admin_role_arn is not None and not ROLE_ARN_PATTERN.match(self.admin_role_arn):
            found.append(Problem("cluster.admin_role_arn", self.admin_role_arn, "an IAM role ARN"))
        if self.restricted_instance_group is not None:
            found += self.restricted_instance_group.problems()
        return found + (self._eks_problems() if self.orchestrator == "eks" else self._slurm_problems())

    def training_plan_keys(self) -> list[str]:
        """The config keys of the training plans this cluster names."""
        keys = [
            f"cluster.instance_groups[{i}].training_plan_arn"
            for i, group in enumerate(self.instance_groups)
            if group.training_plan_arn is not None
        ]
        if self.restricted_instance_group is not None and self.restricted_instance_group.training_plan_arn is not None:
            keys.append("cluster.restricted_instance_group.training_plan_arn")
        return keys

    def _eks_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.endpoint_public and not self.endpoint_public_cidrs:
            found.append(
                Problem(
                    "cluster.endpoint_public_cidrs",
                    [],
                    "the networks that may reach the public endpoint when endpoint_public is true (203.0.113.0/24)",
                )
            )
        for cidr in self.endpoint_public_cidrs:
            try:
                network = ipaddress.IPv4Network(cidr, strict=True)
                if network.prefixlen == 0:
                    found.append(Problem("cluster.endpoint_public_cidrs", cidr, "a network narrower than 0.0.0.0/0"))
            except ValueError:
                found.append(Problem("cluster.endpoint_public_cidrs", cidr, "an IPv4 network such as 203.0.113.0/24"))
        if self.endpoint_public_cidrs and not self.endpoint_public:
            found.append(
                Problem(
                    "cluster.endpoint_public_cidrs",
                    list(self.endpoint_public_cidrs),
                    "absent when endpoint_public is false",
                )
            )
        blocked = [g.name for g in self.instance_groups if any(t.effect in BLOCKING_TAINT_EFFECTS for t in g.taints)]
        if self.instance_groups and len(blocked) == len(self.instance_groups):
            # CoreDNS, the training operator and the MPI operator tolerate no such taint (the training operator's chart
            # takes no tolerations), and restricted nodes are for Nova jobs: they need an untainted group.
            found.append(
                Problem(
                    "cluster.instance_groups[].taints",
                    blocked,
                    "at least one instance group without NoSchedule or NoExecute taints, for CoreDNS and the operators",
                )
            )
        if not self.instance_groups and self.restricted_instance_group is None:
            found.append(
                Problem("cluster.instance_groups", [], "at least one instance group (or a restricted_instance_group)")
            )
        if self.kubernetes_version not in KUBERNETES_VERSIONS:
            found.append(
                Problem(
                    "cluster.kubernetes_version", self.kubernetes_version, "one of " + ", ".join(KUBERNETES_VERSIONS)
                )
            )
        return found

    def _slurm_problems(self) -> list[Problem]:
        found: list[Problem] = []
        controllers = [g.name for g in self.instance_groups if g.slurm_node_type == "Controller"]
        if len(controllers) != 1:
            found.append(
                Problem("cluster.instance_groups[].slurm_node_type", controllers, "exactly one Controller group")
            )
        logins = [g.name for g in self.instance_groups if g.slurm_node_type == "Login"]
        if len(logins) > 1:
            found.append(Problem("cluster.instance_groups[].slurm_node_type", logins, "at most one Login group"))
        if not any(g.slurm_node_type == "Compute" for g in self.instance_groups):
            found.append(
                Problem(
                    "cluster.instance_groups[].slurm_node_type",
                    sorted({str(g.slurm_node_type) for g in self.instance_groups}),
                    "at least one Compute group (where jobs run)",
                )
            )
        if self.restricted_instance_group is not None:
            found.append(
                Problem(
                    "cluster.restricted_instance_group",
                    self.restricted_instance_group.instance_type,
                    "absent with Slurm: Nova customization runs on HyperPod EKS only",
                )
            )
        for key in ("endpoint_public", "endpoint_public_cidrs", "admin_role_arn"):
            if getattr(self, key):
                found.append(Problem(f"cluster.{key}", getattr(self, key), "absent with Slurm (EKS only)"))
        return found
