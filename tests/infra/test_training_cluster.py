"""Training stack, per environment: the HyperPod cluster matches config, on EKS (staging, prod) or Slurm (dev)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from config.cluster import RIG_REGIONS
from config.loader import load_environments

ENVIRONMENTS = {env.name: env for env in load_environments()}
REPO = Path(__file__).resolve().parents[2]
LIFECYCLE_SCRIPTS = sorted((REPO / "lifecycle").glob("*/*.sh"))


def training(committed, env):
    return committed.template(env.name, "Training")


def hyperpod(committed, env) -> dict:
    [cluster] = training(committed, env).find_resources("AWS::SageMaker::Cluster").values()
    return cluster["Properties"]


def test_cluster_has_one_group_per_configured_group_with_its_settings(committed, env):
    groups = {g["InstanceGroupName"]: g for g in hyperpod(committed, env)["InstanceGroups"]}
    assert list(groups) == [g.name for g in env.cluster.instance_groups]
    for wanted in env.cluster.instance_groups:
        group = groups[wanted.name]
        assert group["InstanceType"] == wanted.instance_type
        assert group["InstanceCount"] == wanted.count
        assert group["ThreadsPerCore"] == wanted.threads_per_core
        assert group["InstanceStorageConfigs"][0]["EbsVolumeConfig"]["VolumeSizeInGB"] == wanted.ebs_volume_gib
        # FSx for Lustre through HyperPod, on both orchestrators (no mount script).
        [lustre] = [c["FsxLustreConfig"] for c in group["InstanceStorageConfigs"] if "FsxLustreConfig" in c]
        assert lustre["MountPath"] == "/fsx" and "DnsName" in lustre and "MountName" in lustre
        assert group.get("OnStartDeepHealthChecks", []) == list(wanted.deep_health_checks)
        if env.cluster.orchestrator == "eks":
            assert group["LifeCycleConfig"]["OnCreate"] == "on_create.sh"
        else:  # HyperPod's AMI-based Slurm setup: no lifecycle configuration at all
            assert "LifeCycleConfig" not in group


def test_node_volumes_use_the_platform_key_unless_the_cluster_has_a_restricted_group(committed, env):
    """Customer managed volume keys need continuous provisioning, and restricted groups take none (SageMaker
    developer guide, "Customer managed AWS KMS key encryption for SageMaker HyperPod")."""
    props = hyperpod(committed, env)
    keyed = env.cluster.restricted_instance_group is None
    for group in props["InstanceGroups"]:
        volumes = [c["EbsVolumeConfig"] for c in group["InstanceStorageConfigs"] if "EbsVolumeConfig" in c]
        if keyed:
            [secondary, root] = volumes
            assert "PlatformKey" in json.dumps(secondary["VolumeKmsKeyId"])
            assert root["RootVolume"] is True and root["VolumeKmsKeyId"] == secondary["VolumeKmsKeyId"]
        else:
            assert all("VolumeKmsKeyId" not in volume for volume in volumes)
    assert props.get("NodeProvisioningMode") == ("Continuous" if keyed else None)


def test_cluster_recovers_nodes_automatically_in_private_subnets(committed, env):
    props = hyperpod(committed, env)
    assert props["NodeRecovery"] == "Automatic"
    assert props["ClusterName"] == f"{env.name}-training"
    [subnet] = props["VpcConfig"]["Subnets"]
    assert "trainingSubnet1" in json.dumps(subnet)
    [group] = props["VpcConfig"]["SecurityGroupIds"]
    assert "ClusterSecurityGroup" in json.dumps(group)


def test_each_group_runs_as_its_own_role(committed, env):
    roles = {json.dumps(g["ExecutionRole"]) for g in hyperpod(committed, env)["InstanceGroups"]}
    assert len(roles) == len(env.cluster.instance_groups)


def test_lifecycle_scripts_live_in_a_sagemaker_prefixed_encrypted_bucket(committed, env):
    template = training(committed, env)
    if env.cluster.orchestrator == "slurm":
        template.resource_count_is("Custom::CDKBucketDeployment", 0)  # no scripts to ship
        return
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": {"Fn::Join": ["", Match.array_with([f"sagemaker-lc-{env.name}-"])]},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like({"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})
                ]
            },
        },
    )
    template.has_resource_properties("Custom::CDKBucketDeployment", {"DestinationBucketKeyPrefix": "lifecycle/"})


def test_execution_roles_carry_the_hyperpod_managed_policy(committed, env):
    roles = training(committed, env).find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
                }
            }
        },
    )
    expected = len(env.cluster.instance_groups) + (1 if env.cluster.restricted_instance_group else 0)
    assert len(roles) == expected
    for role in roles.values():
        assert "AmazonSageMakerClusterInstanceRolePolicy" in json.dumps(role["Properties"]["ManagedPolicyArns"])


def test_no_iam_statement_allows_every_action(committed, env):
    template = training(committed, env)
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in template.find_resources(kind).values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement


# --- EKS (staging, prod) ---------------------------------------------------------------------------------------

EKS_ENVS = [name for name, env in ENVIRONMENTS.items() if env.cluster and env.cluster.orchestrator == "eks"]
SLURM_ENVS = [name for name, env in ENVIRONMENTS.items() if env.cluster and env.cluster.orchestrator == "slurm"]


@pytest.mark.parametrize("name", EKS_ENVS)
def test_eks_cluster_is_private_logged_and_encrypted(committed, name):
    config = ENVIRONMENTS[name].cluster
    template = committed.template(name, "Training")
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        {
            "Version": config.kubernetes_version,
            "ResourcesVpcConfig": Match.object_like({"EndpointPublicAccess": False, "EndpointPrivateAccess": True}),
            "Logging": {
                "ClusterLogging": {
                    "EnabledTypes": [
                        {"Type": t} for t in ("api", "audit", "authenticator", "controllerManager", "scheduler")
                    ]
                }
            },
            "EncryptionConfig": [Match.object_like({"Resources": ["secrets"]})],
        },
    )


@pytest.mark.parametrize("name", EKS_ENVS)
def test_eks_cluster_has_the_addons_hyperpod_needs_before_the_cluster(committed, name):
    template = committed.template(name, "Training")
    addons = template.find_resources("AWS::EKS::Addon")
    assert sorted(a["Properties"]["AddonName"] for a in addons.values()) == [
        "coredns",
        "eks-pod-identity-agent",
        "kube-proxy",
        "vpc-cni",
    ]
    [(chart_id, chart)] = template.find_resources("Custom::HyperPodHelmChart").items()
    assert set(addons) <= set(chart["DependsOn"])
    [cluster] = template.find_resources("AWS::SageMaker::Cluster").values()
    assert chart_id in cluster["DependsOn"]


@pytest.mark.parametrize("name", EKS_ENVS)
def test_hyperpod_chart_is_installed_from_a_pinned_commit_before_the_cluster(committed, name):
    template = committed.template(name, "Training")
    template.has_resource_properties(
        "Custom::HyperPodHelmChart",
        {
            "ChartRepository": "https://github.com/aws/sagemaker-hyperpod-cli",
            "ChartCommit": Match.string_like_regexp("^[0-9a-f]{40}$"),
            "ChartPath": "helm_chart/HyperPodHelmChart",
            "Release": "hyperpod-dependencies",
            "Namespace": "kube-system",
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "hyperpod_dependencies.handler.on_event",
            "VpcConfig": {"SubnetIds": Match.any_value(), "SecurityGroupIds": Match.any_value()},
            "Layers": Match.any_value(),
        },
    )
    [entry] = template.find_resources("AWS::EKS::AccessEntry").values()
    assert "Installer" in entry["Properties"]["PrincipalArn"]["Fn::GetAtt"][0]
    assert ":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" in json.dumps(entry["Properties"])


@pytest.mark.parametrize("name", EKS_ENVS)
def test_the_chart_gets_the_clusters_region_and_tolerations_for_every_configured_taint(committed, name):
    """Without a Region the health agent's image comes from us-east-1 (no nodes to read it from at install); the
    device plugins are DaemonSets every GPU node needs, so they tolerate the groups' taints, their own defaults kept."""
    [chart] = committed.template(name, "Training").find_resources("Custom::HyperPodHelmChart").values()
    # One JSON string (CloudFormation would stringify a boolean inside an object); the Region joined in at deploy.
    [parts] = chart["Properties"]["Values"]["Fn::Join"][1:]
    rendered = "".join(part if isinstance(part, str) else "REGION" for part in parts)
    assert {"Ref": "AWS::Region"} in parts
    values = json.loads(rendered)
    assert values["health-monitoring-agent"] == {"region": "REGION"}
    assert values["namespaced-role-and-bindings"] == {"enabled": False}
    taints = [t for g in ENVIRONMENTS[name].cluster.instance_groups for t in g.taints]
    for plugin in ("nvidia-device-plugin", "aws-efa-k8s-device-plugin"):
        tolerations = values[plugin]["tolerations"]
        assert any(t["key"] == "sagemaker.amazonaws.com/node-health-status" for t in tolerations)
        for taint in taints:
            assert any(t["key"] == taint.key and t["effect"] == taint.effect for t in tolerations), (plugin, taint)


def test_chart_values_add_each_taint_once_and_keep_the_plugins_defaults():
    from constructs.hyperpod_cluster import KubernetesTaint
    from constructs.hyperpod_helm_chart import DEVICE_PLUGIN_TOLERATIONS, hyperpod_chart_values

    taint = KubernetesTaint(key="team", effect="NoSchedule", value="vision")
    values = hyperpod_chart_values("eu-west-1", [taint, taint])
    expected = {"key": "team", "operator": "Equal", "value": "vision", "effect": "NoSchedule"}
    for plugin, defaults in DEVICE_PLUGIN_TOLERATIONS.items():
        assert values[plugin]["tolerations"] == [*map(dict, defaults), expected]


@pytest.mark.parametrize("name", EKS_ENVS)
def test_eks_orchestrator_labels_taints_and_lustre_mount(committed, name):
    config = ENVIRONMENTS[name].cluster
    props = committed.template(name, "Training").find_resources("AWS::SageMaker::Cluster")
    [cluster] = props.values()
    assert "Eks" in cluster["Properties"]["Orchestrator"]
    group = cluster["Properties"]["InstanceGroups"][0]
    wanted = config.instance_groups[0]
    assert group["KubernetesConfig"]["Labels"] == wanted.labels
    assert len(group["KubernetesConfig"].get("Taints", [])) == len(wanted.taints)
    lustre = group["InstanceStorageConfigs"][1]["FsxLustreConfig"]
    assert set(lustre) == {"DnsName", "MountName", "MountPath"}


@pytest.mark.parametrize("name", EKS_ENVS)
def test_restricted_instance_group_for_nova_is_present_with_its_lustre(committed, name):
    rig = ENVIRONMENTS[name].cluster.restricted_instance_group
    [cluster] = committed.template(name, "Training").find_resources("AWS::SageMaker::Cluster").values()
    [group] = cluster["Properties"]["RestrictedInstanceGroups"]
    assert group["InstanceType"] == rig.instance_type
    assert group["InstanceCount"] == rig.count
    assert group["EnvironmentConfig"] == {
        "FSxLustreConfig": {
            "SizeInGiB": rig.lustre_size_gib,
            "PerUnitStorageThroughput": rig.lustre_throughput_mbps_per_tib,
        }
    }


@pytest.mark.parametrize("name", EKS_ENVS)
def test_rig_dependencies_follow_the_standard_chart_and_precede_the_cluster(committed, name):
    template = committed.template(name, "Training")
    [(chart_id, _)] = template.find_resources("Custom::HyperPodHelmChart").items()
    [(rig_id, rig)] = template.find_resources("Custom::HyperPodRigDependencies").items()
    assert (
        rig["Properties"]["ServiceToken"]
        == template.find_resources("Custom::HyperPodHelmChart")[chart_id]["Properties"]["ServiceToken"]
    ), "one installer serves both releases"
    standard = template.find_resources("Custom::HyperPodHelmChart")[chart_id]["Properties"]
    assert {k: v for k, v in rig["Properties"].items() if k not in ("ServiceToken", "ClusterName")} == {
        "ChartRepository": "https://github.com/aws/sagemaker-hyperpod-cli",
        "ChartCommit": standard["ChartCommit"],  # one commit for both charts, as the official installers pin
        # whatever upgrades the standard chart (and so drops the RIG patches of its objects) updates this one after it
        "StandardChart": {"ChartCommit": standard["ChartCommit"], "Values": standard["Values"]},
        "ChartPath": "helm_chart/HyperPodHelmChartForRIG",
        "Release": "rig-dependencies",
        "Namespace": "kube-system",
        "StandardRelease": "hyperpod-dependencies",
        "SupportedRegions": list(RIG_REGIONS),
    }
    assert chart_id in rig["DependsOn"]
    [cluster] = template.find_resources("AWS::SageMaker::Cluster").values()
    assert {chart_id, rig_id} <= set(cluster["DependsOn"])


def test_slurm_cluster_has_no_helm_releases(committed):
    template = committed.template("dev", "Training")
    assert template.find_resources("Custom::HyperPodHelmChart") == {}
    assert template.find_resources("Custom::HyperPodRigDependencies") == {}


@pytest.mark.parametrize("name", EKS_ENVS)
def test_operator_gets_the_kubeconfig_command(committed, name):
    outputs = committed.template(name, "Training").find_outputs("UpdateKubeconfigCommand")
    assert "aws eks update-kubeconfig" in json.dumps(outputs)


# --- Slurm (dev) -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SLURM_ENVS)
def test_slurm_groups_carry_node_types_and_partitions(committed, name):
    config = ENVIRONMENTS[name].cluster
    [cluster] = committed.template(name, "Training").find_resources("AWS::SageMaker::Cluster").values()
    # Continuous provisioning (for the volume key) takes no SlurmConfigStrategy: it merges.
    continuous = cluster["Properties"].get("NodeProvisioningMode") == "Continuous"
    assert cluster["Properties"]["Orchestrator"] == {"Slurm": {} if continuous else {"SlurmConfigStrategy": "Managed"}}
    assert "RestrictedInstanceGroups" not in cluster["Properties"]
    for group, wanted in zip(cluster["Properties"]["InstanceGroups"], config.instance_groups, strict=True):
        expected = {"NodeType": wanted.slurm_node_type}
        if wanted.partitions:
            expected["PartitionNames"] = list(wanted.partitions)
        assert group["SlurmConfig"] == expected


@pytest.mark.parametrize("name", SLURM_ENVS)
def test_slurm_ships_no_provisioning_parameters_which_hyperpod_refuses_next_to_slurm_config(committed, name):
    """HyperPod rejects a cluster with both provisioning_parameters.json and SlurmConfig (SageMaker developer guide,
    "Migrating to API-driven Slurm configuration")."""
    assert not list(committed.outdir.rglob("provisioning_parameters.json"))
    assert not (REPO / "lifecycle" / "slurm").exists()


@pytest.mark.parametrize("name", SLURM_ENVS)
def test_operator_gets_the_ssm_command_for_the_login_node(committed, name):
    outputs = json.dumps(committed.template(name, "Training").find_outputs("SlurmLoginCommand"))
    assert "aws ssm start-session" in outputs and "sagemaker-cluster:" in outputs and "_login-" in outputs


# --- Lifecycle scripts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", LIFECYCLE_SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lifecycle_script_parses_with_bash(script):
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("script", LIFECYCLE_SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lifecycle_script_passes_shellcheck(script):
    shellcheck = shutil.which("shellcheck") or str(Path(__file__).resolve().parents[2] / ".venv/bin/shellcheck")
    result = subprocess.run([shellcheck, "-x", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- Options only a config asks for (test fixture) --------------------------------------------------------------


def test_public_endpoint_only_when_config_asks(fixture_envs):
    template = fixture_envs["pinned"].template("pinned", "Training")
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        {
            "Version": "1.33",
            "ResourcesVpcConfig": Match.object_like(
                {
                    "EndpointPublicAccess": True,
                    "EndpointPrivateAccess": True,
                    # only the networks config names, not EKS's default 0.0.0.0/0
                    "PublicAccessCidrs": ["203.0.113.0/24"],
                }
            ),
        },
    )


def test_admin_role_from_config_gets_a_cluster_admin_access_entry(fixture_envs):
    template = fixture_envs["pinned"].template("pinned", "Training")
    template.has_resource_properties(
        "AWS::EKS::AccessEntry", {"PrincipalArn": "arn:aws:iam::111111111111:role/platform-admins"}
    )


def test_no_restricted_group_unless_config_asks(fixture_envs):
    template = fixture_envs["pinned"].template("pinned", "Training")
    [cluster] = template.find_resources("AWS::SageMaker::Cluster").values()
    assert "RestrictedInstanceGroups" not in cluster["Properties"]
    assert template.find_resources("Custom::HyperPodRigDependencies") == {}


@pytest.mark.parametrize("name", EKS_ENVS)
def test_a_template_naming_no_region_checks_the_restricted_groups_region_before_creating_anything(committed, name):
    """staging and prod name no Region, so config cannot check it: CloudFormation's Rules do, with the config key."""
    rules = committed.template(name, "Training").to_json()["Rules"]
    [assertion] = rules["RestrictedGroupRegion"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [list(RIG_REGIONS), {"Ref": "AWS::Region"}]}
    assert assertion["AssertDescription"].startswith("cluster.restricted_instance_group: this Region is not allowed")
    [agent_region] = rules["HealthAgentRegion"]["Assertions"]
    assert agent_region["Assert"] == {
        "Fn::Not": [
            {
                "Fn::Contains": [
                    ["ca-central-1", "eu-south-2", "ap-southeast-3", "ap-southeast-4"],
                    {"Ref": "AWS::Region"},
                ]
            }
        ]
    }


def node_policy_statements(committed, env) -> list[dict]:
    policies = training(committed, env).find_resources("AWS::IAM::ManagedPolicy")
    return [
        statement
        for policy in policies.values()
        if policy["Properties"].get("Description", "").startswith("HyperPod nodes")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_node_statement_names_its_source_and_eks_nodes_get_what_the_official_role_grants(committed, env):
    """The statements the official HyperPod EKS role grants beyond the managed policy: the VPC CNI's EC2 actions,
    pulls of AWS-owned images (health agent, EFA plugin), alarms, pod identity; on Slurm nodes only what HyperPod's
    interfaces need."""
    from constructs import hyperpod_perms as perms

    sources = {value.sid: value.source for value in vars(perms).values() if isinstance(value, perms.Statement)}
    statements = node_policy_statements(committed, env)
    assert statements
    for statement in statements:
        assert sources.get(statement["Sid"]), statement  # each statement is one of hyperpod_perms', with its source
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    eks_only = {
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "cloudwatch:DescribeAlarms",
        "eks-auth:AssumeRoleForPodIdentity",
    }
    always = {
        "ec2:AttachNetworkInterface",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:CreateTags",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceTypes",
    }
    assert always <= actions
    if env.cluster.orchestrator == "eks":
        assert eks_only <= actions
        tags = [s for s in statements if s["Sid"] == perms.VPC_TAGS.sid]
        assert tags and "ec2:CreateAction" not in json.dumps(tags)  # the CNI tags interfaces it did not just create
    else:
        assert not (eks_only & actions)


def test_node_roles_may_grant_the_volume_key_only_through_sagemaker_for_aws_resources(committed, env):
    statements = node_policy_statements(committed, env)
    grants = [s for s in statements if s["Action"] == "kms:CreateGrant"]
    if env.cluster.restricted_instance_group is not None:
        assert grants == []
        return
    assert grants
    for grant in grants:
        assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
        assert "sagemaker." in json.dumps(grant["Condition"]["StringEquals"]["kms:ViaService"])
        assert "PlatformKey" in json.dumps(grant["Resource"])
