"""The HyperPod path: Nova job objects, their images, the Kubernetes steps, the manifest and Prepare's plan.

Expected names, images and counts are written out by hand (from the public launcher,
aws/sagemaker-hyperpod-recipes ``launcher/nova``), not recomputed with the code's helpers.
"""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")  # before Tracer is created at import
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "customization-steps")

import base64
import io
import json
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from customization_steps import hyperpod_steps, steps
from customization_steps.hyperpod_jobs import Images, Placement, base_name, job_objects, job_state
from customization_steps.images import TrainingImageNotFoundError, hyperpod_images
from customization_steps.request import Limits, RunRequest
from eks_access.api import KubeApi, KubeApiError, Request, Response
from lambda_context import LambdaContext
from test_eks_access_api import FakeTransport as ScriptedTransport
from test_eks_access_api import status_body

from customization.recipes import Recipe, load_all, render

KEYS = {"region_name": "us-east-1", "aws_access_key_id": "AKIATEST", "aws_secret_access_key": "x"}
DATASETS = "acme-datasets"
ARTIFACTS = "acme-artifacts"
TRAIN = f"s3://{DATASETS}/sets/train.jsonl"
EVAL = f"s3://{DATASETS}/sets/eval.jsonl"
OUTPUT = f"s3://{ARTIFACTS}/runs/r1/output/"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
NAMESPACE = "nova-training"
R1 = "nova-r1-82f3e9c6"  # base_name("r1"): sha256(b"r1").hexdigest()[:8] == "82f3e9c6"
CONFIG_MAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
PYTORCH_JOBS = f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs"
SERVICES = f"/api/v1/namespaces/{NAMESPACE}/services"
STATEFUL_SETS = f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets"
US_EAST_1 = "708977205387.dkr.ecr.us-east-1.amazonaws.com"
INIT_IMAGE = f"{US_EAST_1}/init-container-repo:latest"
SFT_TJ_IMAGE = f"{US_EAST_1}/nova-fine-tune-repo:SM-TJ-SFT-latest"
SFT_HP_IMAGE = f"{US_EAST_1}/nova-fine-tune-repo:SM-HP-SFT-latest"
PPO_TRAIN_IMAGE = f"{US_EAST_1}/nova-fine-tune-repo:SMHP-PPO-TRAIN-latest"
PPO_GENERATION_IMAGE = f"{US_EAST_1}/nova-fine-tune-repo:SMHP-PPO-TRT-latest"
PLACEMENT = Placement(
    namespace=NAMESPACE, instance_type="ml.p5.48xlarge", account="123456789012", region="us-east-1", max_seconds=7200
)
SFT_IMAGES = Images(training=SFT_HP_IMAGE, init=INIT_IMAGE)
PPO_IMAGES = Images(training=PPO_TRAIN_IMAGE, init=INIT_IMAGE, actor_generation=PPO_GENERATION_IMAGE)
ENDPOINT = "https://ABC.gr7.us-east-1.eks.amazonaws.com"
CA_B64 = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


@pytest.fixture(scope="module")
def catalog() -> dict[str, Recipe]:
    return load_all()


def rendered(catalog: dict[str, Recipe], name: str, **overrides: object) -> dict[str, Any]:
    return render(catalog[name], {"train": TRAIN, "output": OUTPUT, **overrides})


def sft_plan(catalog: dict[str, Recipe], replicas: int = 4, placement: Placement = PLACEMENT) -> dict[str, Any]:
    return job_objects(
        "r1", "sft_lora", rendered(catalog, "training/sft_lora", replicas=replicas), placement, SFT_IMAGES
    )


def ppo_plan(catalog: dict[str, Recipe]) -> dict[str, Any]:
    return job_objects("r1", "ppo", rendered(catalog, "training/ppo"), PLACEMENT, PPO_IMAGES)


def by_kind(plan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in plan["objects"] if obj["body"]["kind"] == kind]


def config_of(config_map: dict[str, Any]) -> Any:
    return yaml.safe_load(config_map["body"]["data"]["config.yaml"])


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    body = obj["body"]
    if body["kind"] == "PyTorchJob":
        return [replica["template"]["spec"] for replica in body["spec"]["pytorchReplicaSpecs"].values()]
    if body["kind"] == "StatefulSet":
        return [body["spec"]["template"]["spec"]]
    return []


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


# --- base_name ---------------------------------------------------------------------------------------------------


def test_base_name_is_lowercase_with_a_hash_of_the_run_name():
    assert base_name("r1") == R1


def test_base_name_of_a_48_character_run_name_fits_45_characters():
    run_name = "Customer-Support-Tone-Sftlora-Run-2026-01-15-042"  # 30th character is '-'
    assert len(run_name) == 48

    name = base_name(run_name)

    assert name == "nova-customer-support-tone-sftlora-2e7041b0"
    assert len(name) <= 45


def test_base_names_differ_for_names_that_differ_only_in_case():
    assert base_name("Run1") == "nova-run1-9cac1c3d"
    assert base_name("run1") == "nova-run1-34e9aede"


# --- job_objects: SFT, DPO, CPT ----------------------------------------------------------------------------------


def test_sft_objects_are_a_config_map_then_a_pytorch_job(catalog):
    plan = sft_plan(catalog)

    assert [(obj["body"]["kind"], obj["path"], obj["name"]) for obj in plan["objects"]] == [
        ("ConfigMap", CONFIG_MAPS, f"training-config-{R1}"),
        ("PyTorchJob", PYTORCH_JOBS, R1),
    ]
    assert plan["primary"] == {"name": R1, "path": PYTORCH_JOBS}


def test_the_config_map_holds_the_rendered_recipe(catalog):
    recipe = rendered(catalog, "training/sft_lora", replicas=4)

    config_map = job_objects("r1", "sft_lora", recipe, PLACEMENT, SFT_IMAGES)["objects"][0]

    assert config_map["body"]["metadata"] == {
        "name": f"training-config-{R1}",
        "namespace": NAMESPACE,
        "labels": {"app": R1},
    }
    assert config_of(config_map) == recipe


def test_four_replicas_are_one_master_and_three_workers(catalog):
    job = by_kind(sft_plan(catalog, replicas=4), "PyTorchJob")[0]["body"]

    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {role: spec["replicas"] for role, spec in replicas.items()} == {"Master": 1, "Worker": 3}


def test_one_replica_is_a_master_without_workers(catalog):
    # A one-node job (the public one-node g5/g6 recipes; not offered by the loader here) has no workers.
    recipe = rendered(catalog, "training/sft_lora")
    recipe["run"]["replicas"] = 1
    job = by_kind(job_objects("r1", "sft_lora", recipe, PLACEMENT, SFT_IMAGES), "PyTorchJob")[0]["body"]

    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1


def test_the_job_stops_after_the_placement_time_limit_or_three_restarts(catalog):
    job = by_kind(sft_plan(catalog), "PyTorchJob")[0]["body"]

    assert job["spec"]["runPolicy"] == {"activeDeadlineSeconds": 7200, "backoffLimit": 3}


def test_training_containers_take_every_gpu_and_efa_device_of_a_p5(catalog):
    job = by_kind(sft_plan(catalog), "PyTorchJob")[0]
    devices = {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 32}

    for pod in pod_specs(job):
        [container] = pod["containers"]
        assert container["image"] == SFT_HP_IMAGE
        assert container["resources"] == {"limits": devices, "requests": devices}


def test_a_p5en_has_16_efa_devices(catalog):
    placement = Placement(NAMESPACE, "ml.p5en.48xlarge", "123456789012", "us-east-1")
    job = by_kind(sft_plan(catalog, placement=placement), "PyTorchJob")[0]

    [container] = pod_specs(job)[0]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 16}


def test_pods_tolerate_the_restricted_node_taint(catalog):
    for pod in pod_specs(by_kind(sft_plan(catalog), "PyTorchJob")[0]):
        assert pod["tolerations"] == [
            {
                "key": "sagemaker.amazonaws.com/RestrictedNode",
                "operator": "Equal",
                "value": "Worker",
                "effect": "NoSchedule",
            }
        ]


def test_pods_must_land_on_the_restricted_group_instance_type(catalog):
    for pod in pod_specs(by_kind(sft_plan(catalog), "PyTorchJob")[0]):
        required = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        [term] = required["nodeSelectorTerms"]
        assert term["matchExpressions"] == [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["ml.p5.48xlarge"]},
            {"key": "sagemaker.amazonaws.com/instance-group-type", "operator": "In", "values": ["Restricted"]},
        ]


def test_every_mounted_volume_is_defined_in_the_pod(catalog):
    """The launcher's init container mounts k8s-ca-cert, which its PyTorchJob template defines only for evaluation."""
    for pod in pod_specs(by_kind(sft_plan(catalog), "PyTorchJob")[0]):
        volumes = {volume["name"] for volume in pod["volumes"]}
        mounted = {mount["name"] for container in containers(pod) for mount in container["volumeMounts"]}
        assert "k8s-ca-cert" in mounted
        assert mounted <= volumes, f"mounted but not defined: {sorted(mounted - volumes)}"


def test_the_init_container_comes_from_the_nova_registry(catalog):
    for pod in pod_specs(by_kind(sft_plan(catalog), "PyTorchJob")[0]):
        [init] = pod["initContainers"]
        assert init["image"] == INIT_IMAGE


def test_containers_know_the_account_instance_type_and_region(catalog):
    expected = [
        {"name": "X_AMZ_SOURCE_ACCOUNT", "value": "123456789012"},
        {"name": "INSTANCE_TYPE", "value": "ml.p5.48xlarge"},
        {"name": "AWS_REGION", "value": "us-east-1"},
    ]
    for pod in pod_specs(by_kind(sft_plan(catalog), "PyTorchJob")[0]):
        for container in containers(pod):
            assert container["env"] == expected, container["name"]


def test_the_job_mounts_its_own_config_map(catalog):
    for pod in pod_specs(by_kind(sft_plan(catalog), "PyTorchJob")[0]):
        [volume] = [v for v in pod["volumes"] if v["name"] == "training-config"]
        assert volume["configMap"] == {"name": f"training-config-{R1}"}


def test_the_plan_is_plain_json(catalog):
    """Step Functions passes the plan between states as JSON."""
    plan = sft_plan(catalog)

    assert json.loads(json.dumps(plan)) == plan


# --- job_objects: PPO --------------------------------------------------------------------------------------------

PPO_TASK_TYPES = {
    "rm": "ppo_rm",
    "cm": "ppo_cm",
    "am": "ppo_anchor",
    "ag": "ppo_actor_gen",
    "at": "ppo_actor_train",
}


def test_ppo_objects_are_one_config_map_and_workload_per_role(catalog):
    plan = ppo_plan(catalog)

    assert [(obj["body"]["kind"], obj["path"], obj["name"]) for obj in plan["objects"]] == [
        ("ConfigMap", CONFIG_MAPS, f"training-config-{R1}-rm"),
        ("PyTorchJob", PYTORCH_JOBS, f"{R1}-rm"),
        ("ConfigMap", CONFIG_MAPS, f"training-config-{R1}-cm"),
        ("PyTorchJob", PYTORCH_JOBS, f"{R1}-cm"),
        ("ConfigMap", CONFIG_MAPS, f"training-config-{R1}-am"),
        ("PyTorchJob", PYTORCH_JOBS, f"{R1}-am"),
        ("ConfigMap", CONFIG_MAPS, f"training-config-{R1}-ag"),
        ("Service", SERVICES, f"{R1}-ag"),
        ("StatefulSet", STATEFUL_SETS, f"{R1}-ag"),
        ("ConfigMap", CONFIG_MAPS, f"training-config-{R1}-at"),
        ("PyTorchJob", PYTORCH_JOBS, f"{R1}-at"),
    ]


def test_the_ppo_run_ends_with_its_actor_train_job(catalog):
    assert ppo_plan(catalog)["primary"] == {"name": f"{R1}-at", "path": PYTORCH_JOBS}


def test_ppo_jobs_have_the_recipe_node_counts(catalog):
    jobs = {obj["name"]: obj["body"]["spec"]["pytorchReplicaSpecs"] for obj in by_kind(ppo_plan(catalog), "PyTorchJob")}

    counts = {name: {role: spec["replicas"] for role, spec in specs.items()} for name, specs in jobs.items()}
    assert counts == {
        f"{R1}-rm": {"Master": 1},
        f"{R1}-cm": {"Master": 1},
        f"{R1}-am": {"Master": 1},
        f"{R1}-at": {"Master": 1, "Worker": 1},  # actor_train_replicas: 2
    }


def test_ppo_training_jobs_use_the_ppo_training_image(catalog):
    for job in by_kind(ppo_plan(catalog), "PyTorchJob"):
        for pod in pod_specs(job):
            assert pod["containers"][0]["image"] == PPO_TRAIN_IMAGE


def test_every_ppo_container_knows_its_service_and_namespace(catalog):
    # The public launcher sets SVC_NAME and NAMESPACE on every PPO role's main container, not only generation's.
    for workload in [*by_kind(ppo_plan(catalog), "PyTorchJob"), *by_kind(ppo_plan(catalog), "StatefulSet")]:
        for pod in pod_specs(workload):
            env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
            assert (env.get("SVC_NAME"), env.get("NAMESPACE")) == (workload["name"], NAMESPACE), workload["name"]


def test_actor_generation_is_a_headless_service(catalog):
    [service] = by_kind(ppo_plan(catalog), "Service")

    assert service["body"]["spec"] == {"clusterIP": "None", "selector": {"app": f"{R1}-ag"}}


def test_actor_generation_is_a_stateful_set_on_the_generation_image(catalog):
    [stateful_set] = by_kind(ppo_plan(catalog), "StatefulSet")
    spec = stateful_set["body"]["spec"]

    assert spec["replicas"] == 2  # run.actor_generation_replicas
    assert spec["serviceName"] == f"{R1}-ag"
    assert spec["selector"] == {"matchLabels": {"app": f"{R1}-ag"}}
    assert spec["template"]["metadata"]["labels"] == {"app": f"{R1}-ag"}
    [server] = spec["template"]["spec"]["containers"]
    assert server["image"] == PPO_GENERATION_IMAGE
    assert server["env"] == [{"name": "SVC_NAME", "value": f"{R1}-ag"}, {"name": "NAMESPACE", "value": NAMESPACE}]
    assert server["resources"]["limits"] == {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 32}


def test_every_ppo_pod_defines_the_volumes_it_mounts(catalog):
    pods = [pod for obj in ppo_plan(catalog)["objects"] for pod in pod_specs(obj)]

    assert len(pods) == 6  # rm, cm, am masters; ag servers; at master and worker
    for pod in pods:
        volumes = {volume["name"] for volume in pod["volumes"]}
        mounted = {mount["name"] for container in containers(pod) for mount in container["volumeMounts"]}
        assert mounted <= volumes, f"mounted but not defined: {sorted(mounted - volumes)}"


def test_each_ppo_config_names_its_task_type(catalog):
    configs = {obj["name"]: config_of(obj) for obj in by_kind(ppo_plan(catalog), "ConfigMap")}

    assert {name: config["training_config"]["task_type"] for name, config in configs.items()} == {
        f"training-config-{R1}-{role}": task_type for role, task_type in PPO_TASK_TYPES.items()
    }


def test_ppo_configs_have_their_node_counts_resolved(catalog):
    configs = {obj["name"]: config_of(obj) for obj in by_kind(ppo_plan(catalog), "ConfigMap")}

    nodes = {name: config["training_config"]["trainer"]["num_nodes"] for name, config in configs.items()}
    assert nodes == {
        f"training-config-{R1}-rm": 1,
        f"training-config-{R1}-cm": 1,
        f"training-config-{R1}-am": 1,
        f"training-config-{R1}-ag": 2,
        f"training-config-{R1}-at": 2,
    }
    for name, config in configs.items():
        unresolved = [text for text in strings(config) if "${" in text]
        assert unresolved == [], name


def test_ppo_configs_drop_the_run_keys_the_launcher_removes(catalog):
    for config_map in by_kind(ppo_plan(catalog), "ConfigMap"):
        run = config_of(config_map)["run"]
        assert set(run) & {"actor_train_replicas", "rm_replicas", "cm_replicas", "am_replicas"} == set()
        assert run["actor_generation_replicas"] == 2
        assert run["data_s3_path"] == TRAIN
        assert run["output_s3_path"] == OUTPUT


def test_ppo_configs_hold_only_their_own_section(catalog):
    [actor_train] = [obj for obj in by_kind(ppo_plan(catalog), "ConfigMap") if obj["name"].endswith("-at")]

    config = config_of(actor_train)
    assert list(config) == ["run", "training_config"]
    assert config["training_config"]["max_steps"] == 320
    assert config["training_config"]["model"]["optim"]["lr"] == 3.0e-6


def test_a_reference_to_a_run_key_the_recipe_lacks_is_refused(catalog):
    recipe = rendered(catalog, "training/ppo")
    recipe["ppo_reward"]["trainer"]["num_nodes"] = "${recipes.run.reward_replicas}"

    with pytest.raises(ValueError, match=r"^\$\{recipes\.run\.reward_replicas\}: run\.reward_replicas is not in"):
        job_objects("r1", "ppo", recipe, PLACEMENT, PPO_IMAGES)


def test_ppo_without_an_actor_generation_image_is_refused(catalog):
    with pytest.raises(ValueError, match="actor generation image"):
        job_objects("r1", "ppo", rendered(catalog, "training/ppo"), PLACEMENT, SFT_IMAGES)


# --- job_state ---------------------------------------------------------------------------------------------------


def condition(kind: str, status: str = "True") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": f"PyTorchJob{kind}"}


def job_with(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"kind": "PyTorchJob", "status": {"conditions": list(conditions)}}


CREATED_TRUE = condition("Created")
RUNNING_TRUE = condition("Running")
RUNNING_FALSE = condition("Running", "False")


@pytest.mark.parametrize(
    ("job", "state"),
    [
        (None, "Failed"),
        ({"kind": "PyTorchJob"}, "Running"),
        ({"kind": "PyTorchJob", "status": {}}, "Running"),
        (job_with(CREATED_TRUE), "Running"),
        (job_with(CREATED_TRUE, RUNNING_TRUE), "Running"),
        (job_with(CREATED_TRUE, RUNNING_FALSE, condition("Succeeded")), "Succeeded"),
        (job_with(CREATED_TRUE, RUNNING_FALSE, condition("Failed")), "Failed"),
        (job_with(CREATED_TRUE, RUNNING_TRUE, condition("Succeeded", "False")), "Running"),
    ],
    ids=["gone", "no-status", "empty-status", "created", "running", "succeeded", "failed", "succeeded-false"],
)
def test_job_state(job, state):
    assert job_state(job) == state


# --- hyperpod_images ---------------------------------------------------------------------------------------------

HUB_ARN = "arn:aws:sagemaker:us-east-1:aws:hub/SageMakerPublicHub"
HUB_CONTENT_ARN = "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub"
HUB_DOCUMENT = {
    "RecipeCollection": [
        {"CustomizationTechnique": "SFT", "SmtjImageUri": "full-rank-image", "IsSubscriptionModel": False},
        {"CustomizationTechnique": "SFT", "Peft": "LORA", "SmtjImageUri": SFT_TJ_IMAGE, "IsSubscriptionModel": False},
    ]
}
HUB_REQUEST = {"HubName": "SageMakerPublicHub", "HubContentType": "Model", "HubContentName": "nova-textgeneration-lite"}


def hub_content(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "HubContentName": "nova-textgeneration-lite",
        "HubContentArn": f"{HUB_CONTENT_ARN}/Model/nova-textgeneration-lite/1.0.0",
        "HubContentVersion": "1.0.0",
        "HubContentType": "Model",
        "DocumentSchemaVersion": "2.3.0",
        "HubName": "SageMakerPublicHub",
        "HubArn": HUB_ARN,
        "HubContentDocument": json.dumps(document),
        "HubContentStatus": "Available",
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
    }


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", **KEYS)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_sft_reads_the_hub_image_as_its_hyperpod_image(sagemaker):
    client, stub = sagemaker
    stub.add_response("describe_hub_content", hub_content(HUB_DOCUMENT), HUB_REQUEST)

    images = hyperpod_images(client, "amazon.nova-lite-v1:0:300k", "sft_lora", "us-east-1")

    assert images == Images(training=SFT_HP_IMAGE, init=INIT_IMAGE, actor_generation=None)


def test_cpt_uses_the_launcher_tag_without_asking_sagemaker(sagemaker):
    client, _ = sagemaker  # nothing queued: a call would raise UnStubbedResponseError

    images = hyperpod_images(client, "amazon.nova-lite-v1:0:300k", "cpt", "us-west-2")

    assert images == Images(
        training="176779409107.dkr.ecr.us-west-2.amazonaws.com/nova-fine-tune-repo:HP-CPT-latest",
        init="176779409107.dkr.ecr.us-west-2.amazonaws.com/init-container-repo:latest",
        actor_generation=None,
    )


def test_cpt_on_nova_2_uses_the_v2_tag(sagemaker):
    client, _ = sagemaker

    images = hyperpod_images(client, "amazon.nova-2-lite-v1:0:256k", "cpt", "us-east-1")

    assert images.training == f"{US_EAST_1}/nova-fine-tune-repo:SM-HP-CPT-V2-latest"


def test_ppo_has_a_training_and_an_actor_generation_image(sagemaker):
    client, _ = sagemaker

    images = hyperpod_images(client, "amazon.nova-lite-v1:0:300k", "ppo", "us-east-1")

    assert images == Images(training=PPO_TRAIN_IMAGE, init=INIT_IMAGE, actor_generation=PPO_GENERATION_IMAGE)


def test_ppo_on_nova_2_has_no_hyperpod_image(sagemaker):
    client, _ = sagemaker

    with pytest.raises(TrainingImageNotFoundError, match=r"'amazon\.nova-2-lite-v1:0:256k' with technique 'ppo'"):
        hyperpod_images(client, "amazon.nova-2-lite-v1:0:256k", "ppo", "us-east-1")


def test_a_region_without_nova_images_is_named(sagemaker):
    client, _ = sagemaker

    with pytest.raises(TrainingImageNotFoundError, match=r"^region 'eu-west-1' has no Nova HyperPod images"):
        hyperpod_images(client, "amazon.nova-lite-v1:0:300k", "sft_lora", "eu-west-1")


# --- hyperpod_steps: submit, status, remove ----------------------------------------------------------------------


CREATED = Response(201, b"{}")
EXISTS = Response(409, status_body(409, "AlreadyExists", "already exists"))
NOT_FOUND = Response(404, status_body(404, "NotFound", "not found"))
FORBIDDEN = Response(403, status_body(403, "Forbidden", 'User "lambda" cannot create resource "configmaps"'))


class FakeTransport(ScriptedTransport):
    def calls(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.removeprefix(ENDPOINT)) for request in self.requests]


def kube(*responses: Response) -> tuple[KubeApi, FakeTransport]:
    transport = FakeTransport(*responses)
    return KubeApi(ENDPOINT, lambda: "k8s-aws-v1.TOKEN", transport), transport


def test_submit_creates_every_object_in_order(catalog):
    plan = sft_plan(catalog)
    api, transport = kube(CREATED, CREATED)

    created = hyperpod_steps.submit_objects(plan, api)

    assert created == [f"training-config-{R1}", R1]
    assert transport.calls() == [("POST", CONFIG_MAPS), ("POST", PYTORCH_JOBS)]
    assert [json.loads(request.body or b"") for request in transport.requests] == [
        obj["body"] for obj in plan["objects"]
    ]


def test_a_retried_submit_finds_everything_there(catalog):
    api, transport = kube(EXISTS, EXISTS)

    assert hyperpod_steps.submit_objects(sft_plan(catalog), api) == []
    assert len(transport.requests) == 2


def test_a_forbidden_submit_stops_at_the_first_object(catalog):
    api, transport = kube(FORBIDDEN)

    with pytest.raises(KubeApiError) as raised:
        hyperpod_steps.submit_objects(sft_plan(catalog), api)

    assert (raised.value.status, raised.value.reason) == (403, "Forbidden")
    assert transport.calls() == [("POST", CONFIG_MAPS)]


def job(state: str) -> Response:
    return Response(200, json.dumps({"status": {"conditions": [condition(state)]}}).encode())


PPO_JOBS = [f"{PYTORCH_JOBS}/{R1}-{role}" for role in ("rm", "cm", "am", "at")]


@pytest.mark.parametrize(
    ("answers", "state"),
    [
        ([job("Running")] * 4, "Running"),
        ([job("Running")] * 3 + [job("Succeeded")], "Succeeded"),
        ([job("Running")] * 3 + [NOT_FOUND], "Failed"),
        ([job("Running"), job("Failed"), job("Running"), job("Running")], "Failed"),
        ([job("Failed"), job("Running"), job("Running"), job("Succeeded")], "Succeeded"),
    ],
    ids=["running", "actor-train-succeeded", "actor-train-gone", "critic-failed", "reward-exited-after-success"],
)
def test_status_reads_every_pytorch_job_and_any_failure_fails_the_run(catalog, answers, state):
    api, transport = kube(*answers)

    assert hyperpod_steps.job_status(ppo_plan(catalog), api) == state
    # PPO's actor generation is a StatefulSet: servers that never "complete", so it is not read.
    assert transport.calls() == [("GET", path) for path in PPO_JOBS]


def test_status_of_a_single_job_run(catalog):
    api, transport = kube(job("Succeeded"))

    assert hyperpod_steps.job_status(sft_plan(catalog), api) == "Succeeded"
    assert transport.calls() == [("GET", f"{PYTORCH_JOBS}/{R1}")]


def test_remove_deletes_newest_first_and_skips_what_is_gone(catalog):
    api, transport = kube(Response(200, b"{}"), NOT_FOUND)

    removed = hyperpod_steps.remove_objects(sft_plan(catalog), api)

    assert removed == [R1]
    assert transport.calls() == [("DELETE", f"{PYTORCH_JOBS}/{R1}"), ("DELETE", f"{CONFIG_MAPS}/training-config-{R1}")]


# --- hyperpod_steps: the handler ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def namespace_setting(monkeypatch):
    """The construct sets the function's namespace; the handler checks every object against it."""
    monkeypatch.setenv("HYPERPOD_NAMESPACE", NAMESPACE)


@pytest.fixture
def no_cluster(monkeypatch):
    def unreachable() -> KubeApi:
        raise AssertionError("the handler reached the cluster")

    monkeypatch.setattr(hyperpod_steps, "_api", unreachable)


def test_the_handler_rejects_an_unknown_action(catalog, no_cluster):
    expected = r"^action: 'start' is not allowed; expected one of submit, status, remove$"
    with pytest.raises(ValueError, match=expected):
        hyperpod_steps.handle({"action": "start", "hyperpod": sft_plan(catalog)}, LambdaContext())


@pytest.mark.parametrize(
    "event",
    [
        {"action": "submit"},
        {"action": "submit", "hyperpod": "plan"},
        {"action": "submit", "hyperpod": {"objects": []}},
        {"action": "submit", "hyperpod": {"primary": {}}},
    ],
    ids=["missing", "not-an-object", "no-primary", "no-objects"],
)
def test_the_handler_rejects_a_missing_plan(event, no_cluster):
    with pytest.raises(
        ValueError, match=r"^hyperpod: .* is not allowed; expected Prepare's plan \(objects, primary\)$"
    ):
        hyperpod_steps.handle(event, LambdaContext())


def test_the_handler_answers_under_the_action_result_key(catalog, monkeypatch):
    api, transport = kube(Response(200, json.dumps({"status": {"conditions": [condition("Failed")]}}).encode()))
    monkeypatch.setattr(hyperpod_steps, "_api", lambda: api)

    result = hyperpod_steps.handle({"action": "status", "hyperpod": sft_plan(catalog)}, LambdaContext())

    assert result == {"status": "Failed", "detail": f"{R1}: PyTorchJobFailed"}
    assert transport.calls() == [("GET", f"{PYTORCH_JOBS}/{R1}")]


def test_cluster_api_talks_to_the_cluster_endpoint_with_an_eks_token(monkeypatch):
    eks = boto3.client("eks", **KEYS)
    sts = boto3.client("sts", **KEYS)
    transport = FakeTransport(Response(200, b'{"kind": "PyTorchJob"}'))
    certificates: list[str] = []

    def fake_urllib_transport(ca_data_b64: str) -> FakeTransport:
        certificates.append(ca_data_b64)
        return transport

    monkeypatch.setattr(hyperpod_steps, "urllib_transport", fake_urllib_transport)
    cluster = {"name": "prod-orchestrator", "status": "ACTIVE", "endpoint": ENDPOINT}
    with Stubber(eks) as stub:
        stub.add_response(
            "describe_cluster",
            {"cluster": {**cluster, "certificateAuthority": {"data": CA_B64}}},
            {"name": "prod-orchestrator"},
        )
        api = hyperpod_steps.cluster_api("prod-orchestrator", eks, sts)
        stub.assert_no_pending_responses()

    assert api.get(f"{PYTORCH_JOBS}/{R1}") == {"kind": "PyTorchJob"}
    assert certificates == [CA_B64]
    [request] = transport.requests
    assert request.url == f"{ENDPOINT}{PYTORCH_JOBS}/{R1}"
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https"
    assert parts.hostname is not None
    assert parts.hostname.startswith("sts.")
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")


# --- locate_manifest ---------------------------------------------------------------------------------------------

MANIFEST_KEY = f"runs/r1/output/{R1}/manifest.json"
MANIFEST = f"s3://{ARTIFACTS}/{MANIFEST_KEY}"
CHECKPOINT = "s3://customer-escrow-123456789012-smhp-63d8c0a1/nova-r1-82f3e9c6/step_1250/"


@pytest.fixture
def s3():
    client = boto3.client("s3", **KEYS)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def expect_manifest(stub: Stubber, data: bytes) -> None:
    stub.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(data), len(data))},
        {"Bucket": ARTIFACTS, "Key": MANIFEST_KEY},
    )


def test_the_manifest_names_the_checkpoint(s3):
    client, stub = s3
    expect_manifest(stub, json.dumps({"checkpoint_s3_bucket": CHECKPOINT}).encode())

    assert steps.locate_manifest(MANIFEST, client) == CHECKPOINT


def test_a_missing_manifest_means_the_job_wrote_none(s3):
    client, stub = s3
    stub.add_client_error("get_object", "NoSuchKey", "The specified key does not exist.", 404)

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_manifest(MANIFEST, client)

    assert str(raised.value) == f"{MANIFEST} does not exist: the job wrote no manifest"


def test_other_s3_errors_propagate(s3):
    client, stub = s3
    stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)

    with pytest.raises(ClientError) as raised:
        steps.locate_manifest(MANIFEST, client)

    assert raised.value.response["Error"]["Code"] == "AccessDenied"


def test_a_manifest_that_is_not_json_is_named(s3):
    client, stub = s3
    expect_manifest(stub, b"checkpoint_s3_bucket: s3://x/y")

    with pytest.raises(steps.CheckpointNotFoundError, match=f"^{MANIFEST} is not valid JSON"):
        steps.locate_manifest(MANIFEST, client)


def test_a_checkpoint_outside_s3_is_refused(s3):
    client, stub = s3
    expect_manifest(stub, json.dumps({"checkpoint_s3_bucket": "/fsx/checkpoints/step_1250"}).encode())

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_manifest(MANIFEST, client)

    assert str(raised.value) == (
        f"{MANIFEST}: checkpoint_s3_bucket '/fsx/checkpoints/step_1250' is not allowed; expected an S3 URI"
    )


@pytest.mark.parametrize(
    "uri", ["", "manifest.json", f"https://{ARTIFACTS}.s3.amazonaws.com/m.json", "s3://b", "s3:///k"]
)
def test_a_bad_manifest_uri_is_refused_before_any_call(s3, uri):
    client, _ = s3

    with pytest.raises(steps.CheckpointNotFoundError) as raised:
        steps.locate_manifest(uri, client)

    assert str(raised.value) == f"manifest_uri: {uri!r} is not allowed; expected s3://<bucket>/<key>"


# --- prepare_run on HyperPod -------------------------------------------------------------------------------------

SETTINGS = steps.Settings(
    limits=Limits(DATASETS, ARTIFACTS, ("hyperpod",)),
    runs_table="acme-runs",
    customization_role_arn="",
    key_arn=KMS_KEY,
    environment="dev",
    hyperpod=PLACEMENT,
)


@dataclass
class Clients:
    s3: Any
    dynamodb: Any
    sagemaker: Any
    bedrock: Any


@pytest.fixture
def clients():
    made = Clients(*(boto3.client(name, **KEYS) for name in ("s3", "dynamodb", "sagemaker", "bedrock")))
    stubs = {name: Stubber(getattr(made, name)) for name in ("s3", "dynamodb", "sagemaker", "bedrock")}
    for stub in stubs.values():
        stub.activate()
    yield made, stubs
    for stub in stubs.values():
        stub.deactivate()


def hyperpod_request(technique: str, **fields: Any) -> RunRequest:
    return RunRequest(
        run_name="r1",
        technique=technique,
        base_model="amazon.nova-lite-v1:0:300k",
        recipe=f"training/{technique}",
        training_data=TRAIN,
        evaluation_dataset=EVAL,
        platform="hyperpod",
        deploy_mode="none",
        **fields,
    )


def expect_put_and_record(stubs: dict[str, Stubber]) -> None:
    stubs["s3"].add_response(
        "put_object",
        {"VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"},
        {
            "Bucket": ARTIFACTS,
            "Key": "runs/r1/recipe/recipe.yaml",
            "Body": ANY,
            "ContentType": "application/yaml",
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": KMS_KEY,
        },
    )
    stubs["dynamodb"].add_response(
        "put_item",
        {},
        {
            "TableName": "acme-runs",
            "Item": ANY,
            "ConditionExpression": "attribute_not_exists(run_name) OR execution_arn = :execution",
            "ExpressionAttributeValues": ANY,
        },
    )


def prepare(
    request: RunRequest, catalog: dict[str, Recipe], made: Clients, settings: steps.Settings = SETTINGS
) -> dict[str, Any]:
    return steps.prepare_run(
        request,
        settings,
        catalog,
        s3=made.s3,
        dynamodb=made.dynamodb,
        sagemaker=made.sagemaker,
        bedrock=made.bedrock,
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:acme-customization:r1",
    )


def assert_all_used(stubs: dict[str, Stubber]) -> None:
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def test_a_cpt_run_plans_its_kubernetes_objects(catalog, clients):
    made, stubs = clients
    expect_put_and_record(stubs)  # CPT's image is a launcher tag: no SageMaker call is queued

    plan = prepare(hyperpod_request("cpt"), catalog, made)

    assert_all_used(stubs)
    hyperpod = plan["hyperpod"]
    assert [obj["name"] for obj in hyperpod["objects"]] == [f"training-config-{R1}", R1]
    assert hyperpod["primary"] == {"name": R1, "path": PYTORCH_JOBS}
    assert hyperpod["manifest_uri"] == f"s3://{ARTIFACTS}/runs/r1/output/{R1}/manifest.json"
    recipe = config_of(hyperpod["objects"][0])
    assert recipe["run"]["name"] == R1
    assert "validation_data_s3_path" not in recipe["run"]  # the public Nova 1 CPT recipe has none
    [job] = by_kind(hyperpod, "PyTorchJob")
    assert pod_specs(job)[0]["containers"][0]["image"] == f"{US_EAST_1}/nova-fine-tune-repo:HP-CPT-latest"
    assert job["body"]["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 15  # cpt.yaml: replicas 16
    assert "sagemaker" not in plan
    assert "bedrock" not in plan


def test_an_sft_run_on_hyperpod_reads_its_image_from_the_hub(catalog, clients):
    made, stubs = clients
    expect_put_and_record(stubs)
    stubs["sagemaker"].add_response("describe_hub_content", hub_content(HUB_DOCUMENT), HUB_REQUEST)

    plan = prepare(hyperpod_request("sft_lora"), catalog, made)

    assert_all_used(stubs)
    hyperpod = plan["hyperpod"]
    assert hyperpod["primary"] == {"name": R1, "path": PYTORCH_JOBS}
    assert hyperpod["manifest_uri"] == f"s3://{ARTIFACTS}/runs/r1/output/{R1}/manifest.json"
    assert config_of(hyperpod["objects"][0])["run"]["name"] == R1
    [job] = by_kind(hyperpod, "PyTorchJob")
    assert pod_specs(job)[0]["containers"][0]["image"] == SFT_HP_IMAGE
    assert json.loads(json.dumps(plan)) == plan


def test_hyperpod_is_refused_where_no_placement_is_wired(catalog, clients):
    made, stubs = clients
    settings = steps.Settings(
        limits=SETTINGS.limits, runs_table="acme-runs", customization_role_arn="", key_arn=KMS_KEY, environment="dev"
    )

    with pytest.raises(ValueError, match=r"^platform: 'hyperpod' is not wired in this environment"):
        prepare(hyperpod_request("cpt"), catalog, made, settings)
    assert_all_used(stubs)  # refused before anything is written or recorded


def test_the_stored_recipe_and_its_recorded_hash_are_the_ones_the_job_runs(catalog, clients):
    made, stubs = clients
    expect_put_and_record(stubs)
    sent: dict[str, Any] = {}
    made.s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: sent.update(params))

    plan = prepare(hyperpod_request("cpt"), catalog, made)

    stored = yaml.safe_load(sent["Body"])
    assert stored == config_of(plan["hyperpod"]["objects"][0])  # same name, same content
    assert plan["recipe_hash"] in sent["Body"].decode().splitlines()[0]


ENVIRONMENT = {
    "DATASETS_BUCKET": DATASETS,
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "PLATFORMS": "sagemaker-training-job,hyperpod",
    "RUNS_TABLE": "acme-runs",
    "KEY_ARN": KMS_KEY,
    "ENVIRONMENT": "dev",
    "AWS_REGION": "us-west-2",
}


def test_settings_place_hyperpod_runs_from_the_environment():
    settings = steps.Settings.from_environment(
        {
            **ENVIRONMENT,
            "HYPERPOD_NAMESPACE": NAMESPACE,
            "HYPERPOD_INSTANCE_TYPE": "ml.p5en.48xlarge",
            "ACCOUNT_ID": "210987654321",
            "MAX_TRAINING_SECONDS": "172800",
        }
    )

    assert settings.hyperpod == Placement(
        namespace=NAMESPACE,
        instance_type="ml.p5en.48xlarge",
        account="210987654321",
        region="us-west-2",
        max_seconds=172800,
    )


def test_settings_without_a_namespace_have_no_hyperpod_placement():
    assert steps.Settings.from_environment(ENVIRONMENT).hyperpod is None


# --- hyperpod_steps: what the handler accepts, and which errors are worth another try --------------------------


def tampered(catalog: dict[str, Recipe], change: Any) -> dict[str, Any]:
    plan = json.loads(json.dumps(sft_plan(catalog)))
    change(plan["objects"][1])
    return plan


@pytest.mark.parametrize(
    "change",
    [
        lambda obj: obj["body"].update(kind="ClusterRoleBinding"),
        lambda obj: obj.update(path="/apis/kubeflow.org/v1/namespaces/kube-system/pytorchjobs"),
        lambda obj: obj["body"]["metadata"].update(namespace="kube-system"),
        lambda obj: (obj.update(name="miner"), obj["body"]["metadata"].update(name="miner")),
    ],
    ids=["foreign-kind", "other-namespace-path", "other-namespace-metadata", "not-a-run-name"],
)
def test_the_handler_creates_only_a_nova_runs_objects_in_its_namespace(catalog, no_cluster, change):
    with pytest.raises(ValueError, match=r"^hyperpod\.objects: .* is not allowed; expected ConfigMap, PyTorchJob"):
        hyperpod_steps.handle({"action": "submit", "hyperpod": tampered(catalog, change)}, LambdaContext())


def failing_api(error: Exception) -> KubeApi:
    def transport(request: Request) -> Response:
        raise error

    return KubeApi(ENDPOINT, lambda: "k8s-aws-v1.TOKEN", transport)


@pytest.mark.parametrize(
    "answer",
    [Response(503, b"upstream connect error"), Response(429, status_body(429, "TooManyRequests", "slow down"))],
    ids=["503", "429"],
)
def test_a_busy_api_server_is_a_transient_error(catalog, monkeypatch, answer):
    api, _ = kube(answer)
    monkeypatch.setattr(hyperpod_steps, "_api", lambda: api)

    with pytest.raises(hyperpod_steps.KubeApiTransientError, match=str(answer.status)):
        hyperpod_steps.handle({"action": "status", "hyperpod": sft_plan(catalog)}, LambdaContext())


def test_an_unreachable_api_server_is_a_transient_error(catalog, monkeypatch):
    api = failing_api(urllib.error.URLError("timed out"))
    monkeypatch.setattr(hyperpod_steps, "_api", lambda: api)

    with pytest.raises(hyperpod_steps.KubeApiTransientError, match="out of reach"):
        hyperpod_steps.handle({"action": "remove", "hyperpod": sft_plan(catalog)}, LambdaContext())


def test_a_throttled_describe_cluster_is_transient_and_access_denied_is_not(catalog, monkeypatch):
    def throttled() -> KubeApi:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeCluster")

    def denied() -> KubeApi:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeCluster")

    event = {"action": "submit", "hyperpod": sft_plan(catalog)}
    monkeypatch.setattr(hyperpod_steps, "_api", throttled)
    with pytest.raises(hyperpod_steps.KubeApiTransientError, match="Rate exceeded"):
        hyperpod_steps.handle(event, LambdaContext())
    monkeypatch.setattr(hyperpod_steps, "_api", denied)
    with pytest.raises(ClientError, match="AccessDenied"):
        hyperpod_steps.handle(event, LambdaContext())


def test_a_forbidden_answer_is_not_retried(catalog, monkeypatch):
    api, _ = kube(FORBIDDEN)
    monkeypatch.setattr(hyperpod_steps, "_api", lambda: api)

    with pytest.raises(KubeApiError) as raised:
        hyperpod_steps.handle({"action": "submit", "hyperpod": sft_plan(catalog)}, LambdaContext())

    assert not isinstance(raised.value, hyperpod_steps.KubeApiTransientError) and raised.value.status == 403


def test_a_failed_run_says_which_job_failed_and_why(catalog):
    deadline = {
        "status": {
            "conditions": [
                condition("Running"),
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "PyTorchJob nova-r1-82f3e9c6-cm has failed because it has reached the deadline",
                },
            ]
        }
    }
    api, _ = kube(job("Running"), Response(200, json.dumps(deadline).encode()), job("Running"), NOT_FOUND)

    report = hyperpod_steps.job_report(ppo_plan(catalog), api)

    assert report == {
        "status": "Failed",
        "detail": f"{R1}-cm: DeadlineExceeded: PyTorchJob nova-r1-82f3e9c6-cm has failed because it has reached the "
        f"deadline; {R1}-at: the job is gone from the cluster",
    }
