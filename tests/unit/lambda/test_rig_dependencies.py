"""RIG dependencies: the objects derived from the live cluster, and the install and delete steps (stubbed)."""

from __future__ import annotations

import copy
import io
import json
import tarfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from hyperpod_dependencies import helm, rig_objects
from hyperpod_dependencies.handler import ChartInstaller, InvalidRequestError, RigRelease, handle
from hyperpod_dependencies.rig import RigDependencyError

RIG_COMMIT = "9774c58375f8ccaf389035d77c43133f7e13adc1"
STANDARD = "hyperpod-dependencies"
NOT_RIG = {"key": rig_objects.RIG_LABEL, "operator": "NotIn", "values": ["Restricted"]}
ONLY_RIG = {"key": rig_objects.RIG_LABEL, "operator": "In", "values": ["Restricted"]}
RIG_TOLERATION = {
    "key": "sagemaker.amazonaws.com/RestrictedNode",
    "operator": "Equal",
    "value": "Worker",
    "effect": "NoSchedule",
}


def aws_node(cni: str = "v1.19.2-eksbuild.1", annotations: dict | None = None) -> dict:
    registry = "602401143452.dkr.ecr.eu-north-1.amazonaws.com/amazon-k8s-cni"
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "aws-node",
            "namespace": "kube-system",
            "resourceVersion": "1234",
            "uid": "abc",
            "generation": 3,
            "managedFields": [{"manager": "eks"}],
            "annotations": {"deprecated.daemonset.template.generation": "3", **(annotations or {})},
        },
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "aws-node"}},
            "template": {
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
                                        ]
                                    },
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "eks.amazonaws.com/compute-type",
                                                "operator": "NotIn",
                                                "values": ["fargate"],
                                            }
                                        ]
                                    },
                                ]
                            }
                        }
                    },
                    "initContainers": [{"name": "aws-vpc-cni-init", "image": f"{registry}-init:{cni}"}],
                    "containers": [
                        {
                            "name": "aws-node",
                            "image": f"{registry}:{cni}",
                            "env": [
                                {"name": "ENABLE_PREFIX_DELEGATION", "value": "false"},
                                {"name": "WARM_ENI_TARGET", "value": "1"},
                            ],
                        },
                        {
                            "name": "aws-eks-nodeagent",
                            "image": "602401143452.dkr.ecr.eu-north-1.amazonaws.com/amazon/aws-network-policy-agent"
                            ":v1.3.0-eksbuild.1",
                        },
                    ],
                }
            },
        },
        "status": {"numberReady": 2},
    }


def coredns() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "coredns",
            "namespace": "kube-system",
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "spec": {
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    "topologySpreadConstraints": [{"maxSkew": 1}],
                    "containers": [{"name": "coredns", "image": "coredns:v1.11.4"}],
                }
            },
        },
        "status": {"replicas": 2},
    }


def controller(name: str, namespace: str, tolerations: list | None = None, annotations: dict | None = None) -> dict:
    pod_spec: dict = {"containers": [{"name": "operator", "image": "operator:1"}]}
    if tolerations is not None:
        pod_spec["tolerations"] = tolerations
    metadata: dict = {"name": name, "namespace": namespace}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"template": {"spec": pod_spec}},
    }


def efa(annotations: dict | None = None) -> dict:
    obj = controller(
        f"{STANDARD}-aws-efa-k8s-device-plugin",
        "kube-system",
        [{"key": "aws.amazon.com/efa", "operator": "Exists"}],
        annotations,
    )
    obj["kind"] = "DaemonSet"
    obj["spec"]["template"]["spec"]["containers"] = [
        {"name": "sidecar", "image": "busybox:1"},
        {
            "name": "aws-efa-k8s-device-plugin",
            "image": "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.6",
        },
    ]
    return obj


def apply_patch(obj: dict, patch: list[dict]) -> dict:
    """Enough of RFC 6902 (add, replace) to check what kubectl would make of a patch."""
    result = copy.deepcopy(obj)
    for operation in patch:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].lstrip("/").split("/")]
        target = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if operation["op"] == "add":
                target.insert(index, operation["value"])
            else:
                target[index] = operation["value"]
        else:
            assert operation["op"] == "add" or last in target, operation
            target[last] = operation["value"]
    return result


def terms(obj: dict) -> list[list[dict]]:
    required = obj["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    return [term["matchExpressions"] for term in required["nodeSelectorTerms"]]


# --- objects ------------------------------------------------------------------------------------------------------


def test_the_cluster_cni_is_kept_off_rig_nodes_in_every_selector_term():
    original = aws_node()
    result = rig_objects.non_rig_aws_node(original, RIG_COMMIT)
    assert all(term[-1] == NOT_RIG for term in terms(result)) and len(terms(result)) == 2
    assert result["metadata"]["name"] == "aws-node"
    assert result["metadata"]["annotations"] == {"rig.hyperpod.patch/aws-node": json.dumps({"source": RIG_COMMIT})}
    assert "status" not in result and not {"resourceVersion", "uid", "managedFields"} & set(result["metadata"])
    assert original == aws_node(), "the input is not changed"


def test_the_rig_cni_copy_runs_only_on_rig_nodes_in_imds_only_mode():
    result = rig_objects.rig_aws_node(aws_node(), RIG_COMMIT)
    assert result["metadata"]["name"] == "rig-aws-node"
    assert all(term[-1] == ONLY_RIG and NOT_RIG not in term for term in terms(result))
    cni = result["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in cni["env"]} == {
        "ENABLE_PREFIX_DELEGATION": "true",
        "WARM_ENI_TARGET": "1",
        "ENABLE_IMDS_ONLY_MODE": "true",
    }


def test_the_rig_cni_copy_replaces_an_earlier_not_in_rule():
    patched = rig_objects.non_rig_aws_node(aws_node(), RIG_COMMIT)
    result = rig_objects.rig_aws_node(patched, RIG_COMMIT)
    assert [term.count(ONLY_RIG) for term in terms(result)] == [1, 1]
    assert all(NOT_RIG not in term for term in terms(result))


def test_the_rig_cni_copy_raises_images_older_than_the_minimum_and_keeps_newer_ones():
    older = rig_objects.rig_aws_node(aws_node("v1.18.3-eksbuild.2"), RIG_COMMIT)["spec"]["template"]["spec"]
    assert older["containers"][0]["image"].endswith("/amazon-k8s-cni:v1.19.6-eksbuild.1")
    assert older["initContainers"][0]["image"].endswith("/amazon-k8s-cni-init:v1.19.6-eksbuild.1")
    assert older["containers"][1]["image"].endswith(":v1.3.0-eksbuild.1"), "1.3.0 is above the 1.2.2 minimum"
    newer = rig_objects.rig_aws_node(aws_node("v1.20.1-eksbuild.1"), RIG_COMMIT)["spec"]["template"]["spec"]
    assert newer["containers"][0]["image"].endswith(":v1.20.1-eksbuild.1")


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("repo/amazon-k8s-cni:v1.19.2-eksbuild.1", (1, 19, 2)),
        ("host:5000/repo/image:1.2", (1, 2)),
        ("host:5000/repo/image", ()),
        ("repo/image:latest", ()),
    ],
)
def test_image_version_reads_the_tag_not_a_registry_port(uri, version):
    assert rig_objects.image_version(uri) == version


def test_an_image_without_a_version_is_replaced_by_the_minimum():
    assert rig_objects.at_least("host:5000/cni", "1.19.6", "v1.19.6-eksbuild.1") == "host:5000/cni:v1.19.6-eksbuild.1"


def test_regional_image_swaps_the_registry_region_only():
    uri = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.6"
    assert rig_objects.regional_image(uri, "eu-north-1") == (
        "602401143452.dkr.ecr.eu-north-1.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.6"
    )


def test_coredns_becomes_a_daemonset_on_rig_nodes():
    result = rig_objects.rig_coredns(coredns(), RIG_COMMIT)
    assert result["kind"] == "DaemonSet" and result["metadata"]["name"] == "rig-coredns"
    spec = result["spec"]
    assert not {"replicas", "strategy", "progressDeadlineSeconds", "revisionHistoryLimit"} & set(spec)
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {rig_objects.RIG_LABEL: "Restricted"}
    assert pod["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}, RIG_TOLERATION]
    assert "topologySpreadConstraints" not in pod
    assert (
        rig_objects.rig_coredns(result, RIG_COMMIT)["spec"]["template"]["spec"]["tolerations"].count(RIG_TOLERATION)
        == 1
    )


def test_controller_patch_adds_the_toleration_and_a_preference_for_standard_nodes():
    original = controller(
        f"{STANDARD}-mpi-operator", "kube-system", [{"key": "existing", "operator": "Exists"}], {"a": "b"}
    )
    patch = rig_objects.tolerate_rig_patch(original, "mpi-operator", RIG_COMMIT, prefer_other_nodes=True)
    patched = apply_patch(original, patch)
    pod = patched["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "existing", "operator": "Exists"}, RIG_TOLERATION]
    preferred = pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred == [{"weight": 100, "preference": {"matchExpressions": [NOT_RIG]}}]
    assert rig_objects.is_patched(patched, "mpi-operator") and patched["metadata"]["annotations"]["a"] == "b"


def test_controller_patch_creates_annotations_when_the_object_has_none():
    original = controller(f"{STANDARD}-training-operators", "kubeflow")
    patched = apply_patch(
        original, rig_objects.tolerate_rig_patch(original, "training-operators", RIG_COMMIT, prefer_other_nodes=True)
    )
    assert patched["spec"]["template"]["spec"]["tolerations"] == [RIG_TOLERATION]
    assert rig_objects.is_patched(patched, "training-operators")


def test_efa_patch_tolerates_rig_nodes_and_pulls_from_the_cluster_region():
    original = efa()
    patched = apply_patch(original, rig_objects.efa_patch(original, RIG_COMMIT, "eu-north-1"))
    pod = patched["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "busybox:1"
    assert pod["containers"][1]["image"].startswith("602401143452.dkr.ecr.eu-north-1.amazonaws.com/")
    assert RIG_TOLERATION in pod["tolerations"] and "affinity" not in pod
    assert rig_objects.is_patched(patched, "aws-efa-k8s-device-plugin")


def test_chart_template_keeps_literal_braces_out_of_helm_actions():
    text = rig_objects.chart_template({"data": {"Corefile": "template {{ .Name }}"}})
    assert '{{ "{{" }} .Name }}' in text and "{{ .Name" not in text


# --- installer through the handler ----------------------------------------------------------------------------------

PROPERTIES = {
    "ClusterName": "staging-orchestrator",
    "ChartRepository": "https://github.com/aws/sagemaker-hyperpod-cli",
    "ChartCommit": RIG_COMMIT,
    "ChartPath": "helm_chart/HyperPodHelmChartForRIG",
    "Release": "rig-dependencies",
    "Namespace": "kube-system",
    "StandardRelease": STANDARD,
    "SupportedRegions": ["us-east-1", "eu-north-1"],
}


def described(region: str) -> dict:
    return {
        "cluster": {
            "name": "staging-orchestrator",
            "arn": f"arn:aws:eks:{region}:111111111111:cluster/staging-orchestrator",
            "endpoint": f"https://ABC.gr7.{region}.eks.amazonaws.com",
            "certificateAuthority": {"data": "Q0VSVA=="},
        }
    }


def rig_chart_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in {
            "helm_chart/HyperPodHelmChartForRIG/Chart.yaml": b"name: hyperpod-helm-chart-for-rig\n",
            "helm_chart/HyperPodHelmChartForRIG/values.yaml": b"coredns: {}\n",
        }.items():
            info = tarfile.TarInfo(f"sagemaker-hyperpod-cli-{RIG_COMMIT}/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class FakeCluster:
    """Answers ``kubectl get`` from a dict of objects and records every command."""

    def __init__(self, objects: dict[tuple[str, str], dict], fail_on: str | None = None) -> None:
        self.objects = objects
        self.commands: list[list[str]] = []
        self.fail_on = fail_on
        self.applied: list[dict] = []
        self.chart_files: dict[str, str] = {}

    def __call__(self, command, env):
        command = list(command)
        self.commands.append(command)
        verb = command[1]
        if self.fail_on and self.fail_on == verb:
            raise helm.HelmError(f"{verb} failed (1): Error: timed out")
        if verb == "get":
            key = (command[3], command[5])
            if key not in self.objects:
                raise helm.HelmError(
                    f'get {command[2]} failed (1): Error from server (NotFound): "{command[3]}" not found'
                )
            return json.dumps(self.objects[key])
        if verb == "apply":
            self.applied.append(json.loads(Path(command[3]).read_text()))
        if verb == "dependency":
            chart = Path(command[3])
            self.chart_files = {str(p.relative_to(chart)): p.read_text() for p in chart.rglob("*") if p.is_file()}
        return ""

    def verbs(self) -> list[str]:
        return [" ".join(c[1:3]) if c[1] in ("get", "patch") else c[1] for c in self.commands]


def cluster_objects(**overrides: dict) -> dict[tuple[str, str], dict]:
    objects = {
        ("aws-node", "kube-system"): aws_node(),
        ("coredns", "kube-system"): coredns(),
        (f"{STANDARD}-training-operators", "kubeflow"): controller(f"{STANDARD}-training-operators", "kubeflow"),
        (f"{STANDARD}-mpi-operator", "kube-system"): controller(f"{STANDARD}-mpi-operator", "kube-system", []),
        (f"{STANDARD}-aws-efa-k8s-device-plugin", "kube-system"): efa(),
    }
    objects.update({(k.replace("_", "-"), v["metadata"]["namespace"]): v for k, v in overrides.items()})
    return objects


def clients():
    eks = boto3.client("eks", region_name="eu-north-1", aws_access_key_id="AKIATEST", aws_secret_access_key="x")
    sts = boto3.client(
        "sts",
        region_name="eu-north-1",
        endpoint_url="https://sts.eu-north-1.amazonaws.com",
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="x",
    )
    return eks, sts


def rig_event(request_type: str, **properties: object) -> dict:
    return {
        "RequestType": request_type,
        "ResourceType": "Custom::HyperPodRigDependencies",
        "LogicalResourceId": "RigDependencies",
        "ResourceProperties": {**PROPERTIES, **properties},
    }


def run(event: dict, cluster: FakeCluster, region: str = "eu-north-1") -> dict:
    eks, sts = clients()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", described(region), {"name": "staging-orchestrator"})
        result = handle(event, ChartInstaller(eks, sts, cluster, lambda _: rig_chart_archive()))
        stub.assert_no_pending_responses()
    return result


def test_create_builds_the_rig_chart_from_the_live_add_ons_then_patches_the_standard_objects():
    cluster = FakeCluster(cluster_objects())
    result = run(rig_event("Create"), cluster)
    assert result == {"PhysicalResourceId": "staging-orchestrator/kube-system/rig-dependencies"}
    assert cluster.verbs() == [
        "get daemonset",
        "get deployment",
        "get deployment",
        "get deployment",
        "get daemonset",
        "dependency",
        "upgrade",
        "apply",
        "patch deployment",
        "patch deployment",
        "patch daemonset",
    ]
    upgrade = next(c for c in cluster.commands if c[1] == "upgrade")
    assert upgrade[2:4] == ["--install", "rig-dependencies"] and upgrade[5:7] == ["--namespace", "kube-system"]
    files = cluster.chart_files
    assert sorted(files) == [
        "Chart.yaml",
        "charts/aws-node/Chart.yaml",
        "charts/aws-node/templates/daemonset.rig.yaml",
        "charts/coredns/Chart.yaml",
        "charts/coredns/templates/daemonset.rig.yaml",
        "values.yaml",
    ]
    assert json.loads(files["charts/coredns/templates/daemonset.rig.yaml"])["metadata"]["name"] == "rig-coredns"
    assert "name: coredns\nversion: 0.1.0" in files["charts/coredns/Chart.yaml"]
    [non_rig] = cluster.applied
    assert non_rig["metadata"]["name"] == "aws-node" and all(term[-1] == NOT_RIG for term in terms(non_rig))
    patched = {c[3]: json.loads(c[-1]) for c in cluster.commands if c[1] == "patch"}
    efa_images = [op["value"] for op in patched[f"{STANDARD}-aws-efa-k8s-device-plugin"] if op["op"] == "replace"]
    assert efa_images == ["602401143452.dkr.ecr.eu-north-1.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.6"]


RIG_TOLERATION = dict(rig_objects.RIG_TAINT)


def patched_standard_objects(*, with_toleration: bool) -> dict:
    tolerations = [RIG_TOLERATION] if with_toleration else []
    return {
        f"{STANDARD}_training_operators": controller(
            f"{STANDARD}-training-operators",
            "kubeflow",
            tolerations,
            annotations={"rig.hyperpod.patch/training-operators": "{}"},
        ),
        f"{STANDARD}_mpi_operator": controller(
            f"{STANDARD}-mpi-operator",
            "kube-system",
            tolerations,
            annotations={"rig.hyperpod.patch/mpi-operator": "{}"},
        ),
    }


def test_a_retry_reinstalls_the_chart_and_skips_what_is_already_patched():
    marker = {"rig.hyperpod.patch/aws-node": "{}"}
    efa_done = efa({"rig.hyperpod.patch/aws-efa-k8s-device-plugin": "{}"})
    efa_done["spec"]["template"]["spec"]["tolerations"].append(RIG_TOLERATION)
    done = cluster_objects(
        aws_node=aws_node(annotations=marker),
        **patched_standard_objects(with_toleration=True),
        **{f"{STANDARD}_aws_efa_k8s_device_plugin": efa_done},
    )
    cluster = FakeCluster(done)
    run(rig_event("Update"), cluster)
    assert [v for v in cluster.verbs() if not v.startswith("get")] == ["dependency", "upgrade"]


def test_after_an_upgrade_of_the_standard_chart_dropped_the_toleration_the_objects_are_patched_again():
    """helm upgrade of the standard chart (new values or commit) restores its tolerations and keeps the annotation:
    the RIG's update, which follows it, must patch again, or RIG nodes lose EFA and the operators."""
    upgraded = cluster_objects(
        aws_node=aws_node(annotations={"rig.hyperpod.patch/aws-node": "{}"}),
        **patched_standard_objects(with_toleration=False),
        **{f"{STANDARD}_aws_efa_k8s_device_plugin": efa({"rig.hyperpod.patch/aws-efa-k8s-device-plugin": "{}"})},
    )
    cluster = FakeCluster(upgraded)
    run(rig_event("Update"), cluster)
    patches = ["patch deployment", "patch deployment", "patch daemonset"]
    assert [v for v in cluster.verbs() if not v.startswith("get")] == ["dependency", "upgrade", *patches]


def test_an_unsupported_region_fails_before_anything_changes():
    cluster = FakeCluster(cluster_objects())
    with pytest.raises(
        RigDependencyError,
        match="region 'eu-west-1' is not allowed for restricted instance groups; expected one of us-east-1, eu-north-1",
    ):
        run(rig_event("Create"), cluster, region="eu-west-1")
    assert cluster.commands == []


def test_a_missing_standard_chart_fails_with_what_to_install_first():
    objects = cluster_objects()
    del objects[(f"{STANDARD}-training-operators", "kubeflow")]
    cluster = FakeCluster(objects)
    with pytest.raises(
        RigDependencyError,
        match=f"deployment kubeflow/{STANDARD}-training-operators is not in the cluster: .*standard HyperPod chart",
    ):
        run(rig_event("Create"), cluster)
    assert [c[1] for c in cluster.commands] == ["get"] * 3


def test_a_failed_helm_install_fails_the_resource_without_patching():
    cluster = FakeCluster(cluster_objects(), fail_on="upgrade")
    with pytest.raises(helm.HelmError, match="upgrade failed"):
        run(rig_event("Create"), cluster)
    assert not any(c[1] in ("apply", "patch") for c in cluster.commands)


def test_delete_uninstalls_the_rig_release_only():
    cluster = FakeCluster({})
    run(rig_event("Delete"), cluster)
    [command] = cluster.commands
    assert command[1:] == ["uninstall", "rig-dependencies", "--namespace", "kube-system", "--ignore-not-found"]


def test_bad_rig_properties_are_rejected_with_every_field_named():
    with pytest.raises(InvalidRequestError) as caught:
        RigRelease.from_properties(
            {**PROPERTIES, "StandardRelease": "Bad_Name", "SupportedRegions": ["mars-1"], "Release": ""}
        )
    message = str(caught.value)
    assert "StandardRelease: 'Bad_Name' is not allowed; expected a DNS label" in message
    assert "SupportedRegions: ['mars-1'] is not allowed; expected a list of region names" in message
    assert "Release: '' is not allowed; expected a non-empty string" in message
