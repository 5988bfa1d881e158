"""The HyperPod Helm chart installer: request checks, chart extraction, EKS auth and Helm calls (stubbed)."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import urllib.parse
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from eks_access.token import eks_token
from hyperpod_dependencies import chart_source, helm, kube_auth
from hyperpod_dependencies.handler import ChartInstaller, ChartRelease, InvalidRequestError, handle

COMMIT = "011ca927123e02b35a399935bbb3ab1905fe33c7"
PROPERTIES = {
    "ClusterName": "prod-orchestrator",
    "ChartRepository": "https://github.com/aws/sagemaker-hyperpod-cli",
    "ChartCommit": COMMIT,
    "ChartPath": "helm_chart/HyperPodHelmChart",
    "Release": "hyperpod-dependencies",
    "Namespace": "kube-system",
}
DESCRIBED = {
    "cluster": {
        "name": "prod-orchestrator",
        "endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        "certificateAuthority": {"data": "Q0VSVA=="},
    }
}


def archive(files: dict[str, bytes], *, extra: list[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"sagemaker-hyperpod-cli-{COMMIT}/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()


CHART = archive(
    {
        "helm_chart/HyperPodHelmChart/Chart.yaml": b"name: hyperpod-helm-chart\n",
        "helm_chart/HyperPodHelmChart/charts/deep-health-check/Chart.yaml": b"name: deep-health-check\n",
        "helm_chart/HyperPodHelmChartOther/Chart.yaml": b"name: other\n",
        "README.md": b"readme\n",
    }
)


def clients():
    eks = boto3.client("eks", region_name="eu-west-1", aws_access_key_id="AKIATEST", aws_secret_access_key="x")
    sts = boto3.client(
        "sts",
        region_name="eu-west-1",
        endpoint_url="https://sts.eu-west-1.amazonaws.com",
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="x",
    )
    return eks, sts


class RecordingRunner:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.fail_on = fail_on

    def __call__(self, command, env):
        self.calls.append((list(command), env))
        if self.fail_on and self.fail_on in command:
            raise helm.HelmError(f"{command[1]} failed (1): Error: timed out")
        return ""


def event(request_type: str, **properties: object) -> dict:
    return {
        "RequestType": request_type,
        "LogicalResourceId": "HyperPodChart",
        "PhysicalResourceId": "prod-orchestrator/kube-system/hyperpod-dependencies",
        "ResourceProperties": {**PROPERTIES, **properties},
    }


# --- chart source -------------------------------------------------------------------------------------------


def test_archive_url_names_the_commit():
    assert chart_source.archive_url(PROPERTIES["ChartRepository"], COMMIT) == (
        f"https://codeload.github.com/aws/sagemaker-hyperpod-cli/tar.gz/{COMMIT}"
    )


@pytest.mark.parametrize(
    ("repository", "commit", "message"),
    [
        ("https://example.com/x/y", COMMIT, "ChartRepository 'https://example.com/x/y' is not allowed"),
        (PROPERTIES["ChartRepository"], "main", "ChartCommit 'main' is not allowed; expected a full 40-character"),
    ],
)
def test_archive_url_rejects_unpinned_or_foreign_sources(repository, commit, message):
    with pytest.raises(chart_source.ChartSourceError, match=message):
        chart_source.archive_url(repository, commit)


def test_extract_chart_takes_only_the_chart_folder(tmp_path: Path):
    chart = chart_source.extract_chart(CHART, "helm_chart/HyperPodHelmChart", tmp_path)
    assert chart == tmp_path / "HyperPodHelmChart"
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["HyperPodHelmChart/Chart.yaml", "HyperPodHelmChart/charts/deep-health-check/Chart.yaml"]


def test_extract_chart_skips_links_and_paths_that_climb_out(tmp_path: Path):
    link = tarfile.TarInfo(f"sagemaker-hyperpod-cli-{COMMIT}/helm_chart/HyperPodHelmChart/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    climb = tarfile.TarInfo(f"sagemaker-hyperpod-cli-{COMMIT}/helm_chart/HyperPodHelmChart/../../../escape")
    data = archive({"helm_chart/HyperPodHelmChart/Chart.yaml": b"x"}, extra=[link, climb])
    chart_source.extract_chart(data, "helm_chart/HyperPodHelmChart", tmp_path / "out")
    assert not (tmp_path / "out" / "HyperPodHelmChart" / "evil").exists()
    assert not (tmp_path / "escape").exists()


def test_extract_chart_fails_when_the_path_is_missing(tmp_path: Path):
    with pytest.raises(chart_source.ChartSourceError, match="ChartPath 'helm_chart/Nope' is not in the archive"):
        chart_source.extract_chart(CHART, "helm_chart/Nope", tmp_path)


# --- EKS authentication ------------------------------------------------------------------------------------------


def test_eks_token_is_a_presigned_get_caller_identity_naming_the_cluster():
    _, sts = clients()
    token = eks_token(sts, "prod-orchestrator")
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert url.startswith("https://sts.eu-west-1.amazonaws.com/")
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert query["X-Amz-Expires"] == ["60"]


def test_kubeconfig_points_at_the_cluster_with_the_token():
    config = kube_auth.kubeconfig(DESCRIBED["cluster"], "k8s-aws-v1.abc")
    assert '"server": "https://ABC.gr7.eu-west-1.eks.amazonaws.com"' in config
    assert '"certificate-authority-data": "Q0VSVA=="' in config
    assert '"token": "k8s-aws-v1.abc"' in config


# --- handler -----------------------------------------------------------------------------------------------------


def test_create_installs_the_pinned_chart_with_helm(tmp_path: Path):
    eks, sts = clients()
    runner = RecordingRunner()
    fetched: list[str] = []
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        result = handle(event("Create"), ChartInstaller(eks, sts, runner, lambda url: fetched.append(url) or CHART))
        stub.assert_no_pending_responses()
    assert result == {"PhysicalResourceId": "prod-orchestrator/kube-system/hyperpod-dependencies"}
    assert fetched == [f"https://codeload.github.com/aws/sagemaker-hyperpod-cli/tar.gz/{COMMIT}"]
    (update, update_env), (upgrade, _) = runner.calls
    assert update[1:3] == ["dependency", "update"] and update[3].endswith("/chart/HyperPodHelmChart")
    assert upgrade[1:4] == ["upgrade", "--install", "hyperpod-dependencies"]
    assert upgrade[5:7] == ["--namespace", "kube-system"]
    assert update_env["KUBECONFIG"].endswith("/kubeconfig")


def test_the_release_gets_the_values_of_the_resource_over_the_charts_defaults(tmp_path: Path):
    """A Values change is an Update: helm upgrade with the new values file."""
    eks, sts = clients()
    seen: list[dict] = []

    class ValuesReadingRunner(RecordingRunner):
        def __call__(self, command, env):
            if "--values" in command:
                seen.append(json.loads(Path(command[command.index("--values") + 1]).read_text()))
            return super().__call__(command, env)

    values = {"health-monitoring-agent": {"region": "eu-west-1"}, "namespaced-role-and-bindings": {"enabled": False}}
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        handle(
            event("Update", Values=json.dumps(values)), ChartInstaller(eks, sts, ValuesReadingRunner(), lambda _: CHART)
        )
    assert seen == [values]
    assert seen[0]["namespaced-role-and-bindings"]["enabled"] is False  # a boolean, as the chart's condition needs


@pytest.mark.parametrize("values", ["region=us-east-1", '["a"]', {"enabled": "false"}])
def test_values_must_be_a_json_object_in_a_string(values):
    with pytest.raises(InvalidRequestError, match=r"Values: .* is not allowed; expected a JSON object of Helm values"):
        ChartRelease.from_properties({**PROPERTIES, "Values": values})


def test_update_runs_the_same_idempotent_upgrade(tmp_path: Path):
    eks, sts = clients()
    runner = RecordingRunner()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        handle(event("Update"), ChartInstaller(eks, sts, runner, lambda _: CHART))
    assert [call[0][1] for call in runner.calls] == ["dependency", "upgrade"]


def test_delete_uninstalls_and_ignores_a_missing_release():
    eks, sts = clients()
    runner = RecordingRunner()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        handle(event("Delete"), ChartInstaller(eks, sts, runner, lambda _: b""))
    [(command, _)] = runner.calls
    assert command[1:] == ["uninstall", "hyperpod-dependencies", "--namespace", "kube-system", "--ignore-not-found"]


def test_delete_after_the_cluster_is_gone_succeeds_without_helm():
    eks, sts = clients()
    runner = RecordingRunner()
    with Stubber(eks) as stub:
        stub.add_client_error("describe_cluster", "ResourceNotFoundException", "No cluster found", 404)
        result = handle(event("Delete"), ChartInstaller(eks, sts, runner, lambda _: b""))
    assert runner.calls == [] and result["PhysicalResourceId"].startswith("prod-orchestrator/")


def test_a_failed_install_fails_the_resource():
    eks, sts = clients()
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster", DESCRIBED, {"name": "prod-orchestrator"})
        with pytest.raises(helm.HelmError, match="upgrade failed"):
            handle(event("Create"), ChartInstaller(eks, sts, RecordingRunner(fail_on="upgrade"), lambda _: CHART))


def test_describe_errors_other_than_not_found_fail_the_resource():
    eks, sts = clients()
    with Stubber(eks) as stub:
        stub.add_client_error("describe_cluster", "AccessDeniedException", "denied", 403)
        with pytest.raises(eks.exceptions.ClientError, match="AccessDenied"):
            handle(event("Create"), ChartInstaller(eks, sts, RecordingRunner(), lambda _: CHART))


def test_bad_properties_are_rejected_with_every_field_named():
    with pytest.raises(InvalidRequestError) as caught:
        ChartRelease.from_properties({**PROPERTIES, "Release": "Bad_Name", "Namespace": "", "ChartCommit": "v1"})
    message = str(caught.value)
    assert "Release: 'Bad_Name' is not allowed; expected a DNS label" in message
    assert "Namespace: '' is not allowed; expected a non-empty string" in message
    assert "ChartCommit 'v1' is not allowed" in message


def test_unknown_request_type_is_rejected():
    with pytest.raises(InvalidRequestError, match="RequestType: 'Replace' is not allowed"):
        handle({"RequestType": "Replace", "ResourceProperties": PROPERTIES}, ChartInstaller(*clients()))


def test_helm_run_reports_the_command_and_its_error_output(tmp_path: Path):
    failing = tmp_path / "helm"
    failing.write_text("#!/bin/sh\necho 'Error: Kubernetes cluster unreachable' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(helm.HelmError, match=r"upgrade --install failed \(1\): Error: Kubernetes cluster unreachable"):
        helm.run([str(failing), "upgrade", "--install", "x"], {"PATH": "/usr/bin:/bin"})
