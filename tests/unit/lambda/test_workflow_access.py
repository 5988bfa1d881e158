"""Custom::HyperPodWorkflowAccess: the customization workflow's Role in the cluster (kubectl stubbed)."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber
from customization_steps.hyperpod_jobs import KINDS
from hyperpod_dependencies.handler import ChartInstaller, InvalidRequestError, handle
from hyperpod_dependencies.workflow_access import RULES
from test_hyperpod_dependencies import DESCRIBED, RecordingRunner, clients

PROPERTIES = {"ClusterName": "prod-orchestrator", "Namespace": "default", "Group": "nova-customization-workflow"}


class ManifestRunner(RecordingRunner):
    """Also keeps what each ``--filename`` named when kubectl ran (the scratch folder is gone afterwards)."""

    def __init__(self) -> None:
        super().__init__()
        self.manifests: list[dict] = []

    def __call__(self, command, env):
        if "--filename" in command:
            with open(command[command.index("--filename") + 1]) as manifest:
                self.manifests.append(json.load(manifest))
        return super().__call__(command, env)


def access_event(request_type: str, **changes: object) -> dict:
    return {
        "RequestType": request_type,
        "ResourceType": "Custom::HyperPodWorkflowAccess",
        "ResourceProperties": {**PROPERTIES, **changes},
    }


def run(request_type: str) -> tuple[dict, ManifestRunner]:
    eks, sts = clients()
    runner = ManifestRunner()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        result = handle(access_event(request_type), ChartInstaller(eks, sts, runner, lambda _: b""))
        stub.assert_no_pending_responses()
    return result, runner


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_apply_the_role_and_its_binding(request_type):
    result, runner = run(request_type)

    [(command, env)] = runner.calls
    assert command[1:3] == ["apply", "--filename"] and env["KUBECONFIG"].endswith("/kubeconfig")
    assert result == {"PhysicalResourceId": "prod-orchestrator/default/nova-customization-workflow"}
    [manifest] = runner.manifests
    role, binding = manifest["items"]
    assert (role["kind"], role["metadata"]["namespace"]) == ("Role", "default")
    assert binding["subjects"] == [
        {"kind": "Group", "name": "nova-customization-workflow", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_the_role_allows_creating_and_deleting_a_runs_objects_and_reading_only_its_jobs():
    _, runner = run("Create")

    rules = runner.manifests[0]["items"][0]["rules"]
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("", "configmaps", "create"),
        ("", "configmaps", "delete"),
        ("", "services", "create"),
        ("", "services", "delete"),
        ("apps", "statefulsets", "create"),
        ("apps", "statefulsets", "delete"),
        ("kubeflow.org", "pytorchjobs", "create"),
        ("kubeflow.org", "pytorchjobs", "get"),
        ("kubeflow.org", "pytorchjobs", "delete"),
    }


def test_every_object_a_run_creates_is_one_the_role_lets_it_create_and_delete():
    plural = {
        "ConfigMap": "configmaps",
        "PyTorchJob": "pytorchjobs",
        "Service": "services",
        "StatefulSet": "statefulsets",
    }
    allowed = {(r, v) for rule in RULES for r in rule["resources"] for v in rule["verbs"]}
    for kind, (_, collection) in KINDS.items():
        assert {(plural[kind], "create"), (plural[kind], "delete")} <= allowed, kind
        assert collection.rsplit("/", 1)[-1] == plural[kind]
    assert ("pytorchjobs", "get") in allowed  # the status step reads the jobs


def test_a_new_group_updates_the_binding_in_place():
    eks, sts = clients()
    runner = ManifestRunner()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        result = handle(
            access_event("Update", Group="ml-platform-jobs"), ChartInstaller(eks, sts, runner, lambda _: b"")
        )

    # The same physical id whatever the group: CloudFormation sends no Delete that would remove the new binding.
    assert result["PhysicalResourceId"] == "prod-orchestrator/default/nova-customization-workflow"
    assert runner.manifests[0]["items"][1]["subjects"][0]["name"] == "ml-platform-jobs"


def test_delete_removes_both_and_tolerates_them_being_gone():
    _, runner = run("Delete")

    [(command, _)] = runner.calls
    assert command[1] == "delete" and command[-1] == "--ignore-not-found"
    assert [item["kind"] for item in runner.manifests[0]["items"]] == ["Role", "RoleBinding"]


def test_delete_after_the_cluster_is_gone_runs_no_kubectl():
    eks, sts = clients()
    runner = ManifestRunner()
    with Stubber(eks) as stub:
        stub.add_client_error("describe_cluster", "ResourceNotFoundException", "No cluster found", 404)
        result = handle(access_event("Delete"), ChartInstaller(eks, sts, runner, lambda _: b""))

    assert (
        runner.calls == [] and result["PhysicalResourceId"] == "prod-orchestrator/default/nova-customization-workflow"
    )


def test_bad_properties_name_every_field():
    with pytest.raises(InvalidRequestError) as caught:
        handle(
            access_event("Create", ClusterName="", Namespace="Kube_System", Group="system:masters"),
            ChartInstaller(*clients()),
        )

    message = str(caught.value)
    assert "ClusterName: '' is not allowed; expected an EKS cluster name" in message
    assert "Namespace: 'Kube_System' is not allowed; expected a DNS label" in message
    assert "Group: 'system:masters' is not allowed; expected a Kubernetes group name" in message
