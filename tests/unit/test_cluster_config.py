"""The cluster section: each rule rejects a bad value with the field, the value and what is allowed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config.cluster import hyperpod_instance_types
from config.loader import ConfigError, parse_environment

BASE: dict[str, Any] = {
    "name": "qa",
    "tags": {"environment": "qa", "owner": "ml-platform", "cost_center": "ml-1"},
}
SLURM: dict[str, Any] = {
    "orchestrator": "slurm",
    "instance_groups": [
        {"name": "controller", "instance_type": "ml.m5.xlarge", "slurm_node_type": "Controller"},
        {"name": "workers", "instance_type": "ml.g5.8xlarge", "count": 2, "slurm_node_type": "Compute",
         "partitions": ["gpu"]},
    ],
}  # fmt: skip
EKS: dict[str, Any] = {
    "orchestrator": "eks",
    "instance_groups": [{"name": "gpu", "instance_type": "ml.g5.12xlarge", "labels": {"team": "a"}}],
    "restricted_instance_group": {"instance_type": "ml.p5.48xlarge"},
}


def parse(cluster: dict[str, Any], region: str | None = None):
    pinned = {"account": "111111111111", "region": region} if region else {}
    return parse_environment({**BASE, **pinned, "cluster": cluster}, "qa", "environments/qa.yaml")


def error_for(cluster: dict[str, Any], region: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(cluster, region)
    return str(caught.value)


def changed(cluster: dict[str, Any], group: int, **values: Any) -> dict[str, Any]:
    result = copy.deepcopy(cluster)
    result["instance_groups"][group].update(values)
    return result


def test_valid_slurm_and_eks_clusters_parse():
    assert parse(SLURM).cluster.instance_groups[1].partitions == ("gpu",)
    config = parse(EKS).cluster
    assert config.restricted_instance_group.instance_type == "ml.p5.48xlarge"
    assert config.instance_groups[0].labels == {"team": "a"}


def test_instance_types_come_from_botocores_sagemaker_model():
    types = hyperpod_instance_types()
    assert {"ml.p5.48xlarge", "ml.g5.8xlarge", "ml.m5.xlarge"} <= types
    assert "ml.x99.huge" not in types


def test_unknown_instance_type_is_rejected():
    message = error_for(changed(SLURM, 1, instance_type="ml.x99.huge"))
    assert "cluster.instance_groups[1].instance_type: 'ml.x99.huge' is not allowed; expected a HyperPod" in message


@pytest.mark.parametrize("count", [0, 6759])
def test_a_count_outside_what_the_api_takes_is_rejected_naming_the_key(count: int):
    message = error_for(changed(EKS, 0, count=count))
    assert f"cluster.instance_groups[0].count: {count} is not allowed; expected from 1 to 6758" in message
    rig = {**EKS, "restricted_instance_group": {"instance_type": "ml.p5.48xlarge", "count": count}}
    assert f"cluster.restricted_instance_group.count: {count} is not allowed; expected from 1 to 6758" in (
        error_for(rig)
    )


def test_restricted_group_with_an_unsupported_instance_type_is_rejected():
    cluster = {**EKS, "restricted_instance_group": {"instance_type": "ml.g5.12xlarge"}}
    message = error_for(cluster)
    assert (
        "cluster.restricted_instance_group.instance_type: 'ml.g5.12xlarge' is not allowed; expected one of" in message
    )


def test_restricted_group_lustre_must_follow_the_fsx_steps():
    cluster = {**EKS, "restricted_instance_group": {"instance_type": "ml.p5.48xlarge", "lustre_size_gib": 2400}}
    assert "restricted_instance_group.lustre_size_gib: 2400 is not allowed; expected 1200 plus a multiple" in (
        error_for(cluster)
    )


def test_slurm_without_a_controller_group_is_rejected():
    cluster = copy.deepcopy(SLURM)
    cluster["instance_groups"][0]["slurm_node_type"] = "Login"
    message = error_for(cluster)
    assert "cluster.instance_groups[].slurm_node_type: [] is not allowed; expected exactly one Controller" in message


def test_eks_without_any_instance_group_is_rejected():
    message = error_for({"orchestrator": "eks"})
    assert "cluster.instance_groups: [] is not allowed; expected at least one instance group" in message


def test_slurm_group_without_a_node_type_is_rejected():
    message = error_for(changed(SLURM, 1, slurm_node_type=None))
    assert "cluster.instance_groups[1].slurm_node_type: null is not allowed; expected Controller, Login" in message


def test_compute_group_without_partitions_is_rejected():
    message = error_for(changed(SLURM, 1, partitions=[]))
    assert "cluster.instance_groups[1].partitions: [] is not allowed; expected one partition" in message


def test_a_group_in_two_partitions_is_rejected():
    message = error_for(changed(SLURM, 1, partitions=["gpu", "cpu"]))
    assert "cluster.instance_groups[1].partitions: ['gpu', 'cpu'] is not allowed; expected one partition" in message


@pytest.mark.parametrize("partition", ["big_gpus", "-dev", "dev-", "a.b"])
def test_a_partition_name_hyperpod_refuses_is_rejected(partition: str):
    message = error_for(changed(SLURM, 1, partitions=[partition]))
    assert f"cluster.instance_groups[1].partitions: {partition!r} is not allowed; expected letters, digits" in message


def test_two_login_groups_are_rejected():
    cluster = copy.deepcopy(SLURM)
    for name in ("login-a", "login-b"):
        cluster["instance_groups"].append({"name": name, "instance_type": "ml.m5.xlarge", "slurm_node_type": "Login"})
    message = error_for(cluster)
    assert "cluster.instance_groups[].slurm_node_type: ['login-a', 'login-b'] is not allowed; expected at most one" in (
        message
    )


def test_a_slurm_cluster_without_a_compute_group_is_rejected():
    cluster = copy.deepcopy(SLURM)
    cluster["instance_groups"][1] = {"name": "login", "instance_type": "ml.m5.xlarge", "slurm_node_type": "Login"}
    message = error_for(cluster)
    assert "slurm_node_type: ['Controller', 'Login'] is not allowed; expected at least one Compute group" in message


def test_a_restricted_group_named_like_an_instance_group_is_rejected():
    cluster = {**EKS, "restricted_instance_group": {"instance_type": "ml.p5.48xlarge", "name": "gpu"}}
    message = error_for(cluster)
    assert "cluster.restricted_instance_group.name: 'gpu' is not allowed; expected a name no instance group has" in (
        message
    )


def test_kubernetes_labels_are_rejected_with_slurm():
    message = error_for(changed(SLURM, 1, labels={"a": "b"}))
    assert "cluster.instance_groups[1].labels/taints: 'workers' is not allowed; expected absent with Slurm" in message


def test_restricted_group_is_rejected_with_slurm():
    message = error_for({**SLURM, "restricted_instance_group": {"instance_type": "ml.p5.48xlarge"}})
    assert "cluster.restricted_instance_group: 'ml.p5.48xlarge' is not allowed; expected absent with Slurm" in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("threads_per_core", 4, "threads_per_core: 4 is not allowed; expected 1 or 2"),
        ("name", "-bad", "name: '-bad' is not allowed; expected 1-63 letters"),
        ("deep_health_checks", ["Everything"], "deep_health_checks[0]: 'Everything' is not allowed; expected one of"),
        ("taints", [{"key": "k", "effect": "Sometimes"}], "taints[0].effect: 'Sometimes' is not allowed"),
        ("ebs_volume_gib", 0, "ebs_volume_gib: 0 is not allowed; expected from 1 to 16384"),
    ],
)
def test_bad_eks_group_fields_are_rejected(field: str, value: object, expected: str):
    assert f"cluster.instance_groups[0].{expected}" in error_for(changed(EKS, 0, **{field: value}))


def test_unsupported_kubernetes_version_is_rejected():
    message = error_for({**EKS, "kubernetes_version": "1.20"})
    assert "cluster.kubernetes_version: '1.20' is not allowed; expected one of" in message


def test_duplicate_group_names_are_rejected():
    cluster = copy.deepcopy(EKS)
    cluster["instance_groups"].append(dict(cluster["instance_groups"][0]))
    assert "cluster.instance_groups[].name: ['gpu'] is not allowed; expected unique names" in error_for(cluster)


def test_restricted_group_in_a_region_without_rig_support_is_rejected():
    message = error_for(EKS, region="eu-west-1")
    assert "region: 'eu-west-1' is not allowed; expected a region with restricted instance groups: us-east-1" in message


def test_restricted_group_in_a_supported_region_is_accepted():
    config = parse(EKS, region="us-east-1").cluster
    assert config.restricted_instance_group is not None


def test_the_partition_hyperpod_gives_every_node_is_refused():
    message = error_for(changed(SLURM, 1, partitions=["dev"]))
    assert "cluster.instance_groups[1].partitions: 'dev' is not allowed; expected a name other than 'dev'" in message


def test_deep_health_checks_on_an_instance_without_accelerators_are_refused():
    message = error_for(changed(EKS, 0, instance_type="ml.m5.xlarge", deep_health_checks=["InstanceStress"]))
    assert (
        "cluster.instance_groups[0].deep_health_checks: ['InstanceStress'] is not allowed; expected absent on "
        "ml.m5.xlarge: deep health checks run on accelerated instances (ml.g*, ml.p*, ml.trn*)"
    ) in message
    trainium_on_slurm = changed(SLURM, 1, instance_type="ml.trn1.32xlarge", deep_health_checks=["InstanceStress"])
    assert "deep health checks run on accelerated instances (ml.g*, ml.p*)" in error_for(trainium_on_slurm)


def test_taints_on_a_group_with_deep_health_checks_are_refused():
    cluster = copy.deepcopy(EKS)
    cluster["instance_groups"].append({"name": "cpu", "instance_type": "ml.m5.xlarge"})
    tainted = changed(
        cluster,
        0,
        deep_health_checks=["InstanceStress"],
        taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
    )
    message = error_for(tainted)
    assert "cluster.instance_groups[0].taints: ['nvidia.com/gpu'] is not allowed; expected absent on a group with" in (
        message
    )


def test_a_cluster_whose_every_group_is_tainted_is_refused_and_one_untainted_group_is_enough():
    tainted = changed(EKS, 0, taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}])
    assert (
        "cluster.instance_groups[].taints: ['gpu'] is not allowed; expected at least one instance group without "
        "NoSchedule or NoExecute taints"
    ) in error_for(tainted)
    tainted["instance_groups"].append({"name": "system", "instance_type": "ml.m5.xlarge"})
    assert parse(tainted).cluster is not None
    preferring = changed(EKS, 0, taints=[{"key": "team", "effect": "PreferNoSchedule"}])
    assert parse(preferring).cluster is not None


def test_partitions_on_a_controller_or_login_group_are_refused():
    message = error_for(changed(SLURM, 0, partitions=["gpu"]))
    assert (
        "cluster.instance_groups[0].partitions: ['gpu'] is not allowed; expected absent on a Controller or Login"
        in (message)
    )


def test_an_eks_cluster_where_the_health_agent_has_no_image_is_refused():
    message = error_for({"orchestrator": "eks", "instance_groups": EKS["instance_groups"]}, region="ca-central-1")
    assert "region: 'ca-central-1' is not allowed; expected a Region where the HyperPod chart's health monitoring" in (
        message
    )


def test_volume_keys_are_the_platform_key_or_aws_owned():
    assert parse(SLURM).cluster.volumes_on_platform_key
    assert not parse({**SLURM, "volume_key": "aws-owned"}).cluster.volumes_on_platform_key
    assert not parse(EKS).cluster.volumes_on_platform_key  # a restricted group takes no customer managed key
    assert "cluster.volume_key: 'mine' is not allowed; expected one of platform, aws-owned" in error_for(
        {**SLURM, "volume_key": "mine"}
    )


def test_a_public_eks_endpoint_needs_its_allowed_networks():
    public = {**EKS, "endpoint_public": True}
    assert "cluster.endpoint_public_cidrs: [] is not allowed; expected the networks that may reach the public" in (
        error_for(public)
    )
    assert "cluster.endpoint_public_cidrs: '0.0.0.0/0' is not allowed; expected a network narrower" in error_for(
        {**public, "endpoint_public_cidrs": ["0.0.0.0/0"]}
    )
    assert parse({**public, "endpoint_public_cidrs": ["203.0.113.0/24"]}).cluster.endpoint_public_cidrs == (
        "203.0.113.0/24",
    )
