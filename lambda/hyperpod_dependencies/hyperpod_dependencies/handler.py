"""Custom resources: the HyperPod Helm chart, and the RIG dependencies, in an EKS cluster.

CloudFormation has no resource type for a Helm release from a Git repository, and the
HyperPod charts are published only there. ``Custom::HyperPodHelmChart`` installs the
standard chart; ``Custom::HyperPodRigDependencies`` (after it) adds what restricted
instance groups need (:mod:`hyperpod_dependencies.rig`); ``Custom::HyperPodWorkflowAccess``
lets the customization workflow run jobs (:mod:`hyperpod_dependencies.workflow_access`). Create and Update run
``helm upgrade --install`` (idempotent, so retries are safe); Delete uninstalls and treats
a missing release or a missing cluster as already done.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from eks_access.token import eks_token

from hyperpod_dependencies import chart_source, helm, kube_auth
from hyperpod_dependencies.kubectl import Kubectl
from hyperpod_dependencies.rig import RigInstaller, RigTargets, region_of
from hyperpod_dependencies.workflow_access import GROUP_PATTERN, ROLE_NAME, WorkflowAccess

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)

NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$")
CLUSTER_NAME_PATTERN = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
RIG_RESOURCE_TYPE = "Custom::HyperPodRigDependencies"
ACCESS_RESOURCE_TYPE = "Custom::HyperPodWorkflowAccess"
_clients: dict[str, Any] = {}


class InvalidRequestError(Exception):
    """The custom resource's properties break a rule; the message lists every problem."""


@dataclass(frozen=True)
class ChartRelease:
    cluster_name: str
    chart_repository: str
    chart_commit: str
    chart_path: str
    release: str
    namespace: str
    values: dict[str, Any] = field(default_factory=dict)  # over the chart's defaults

    @property
    def physical_id(self) -> str:
        return f"{self.cluster_name}/{self.namespace}/{self.release}"

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> ChartRelease:
        problems = []
        values = {}
        for key in ("ClusterName", "ChartRepository", "ChartCommit", "ChartPath", "Release", "Namespace"):
            value = properties.get(key)
            if not isinstance(value, str) or not value:
                problems.append(f"{key}: {value!r} is not allowed; expected a non-empty string")
            values[key] = value if isinstance(value, str) else ""
        if values["ClusterName"] and not CLUSTER_NAME_PATTERN.match(values["ClusterName"]):
            problems.append(f"ClusterName: {values['ClusterName']!r} is not allowed; expected an EKS cluster name")
        for key in ("Release", "Namespace"):
            if values[key] and not NAME_PATTERN.match(values[key]):
                problems.append(f"{key}: {values[key]!r} is not allowed; expected a DNS label (a-z, 0-9, '-')")
        # Helm values as one JSON document: CloudFormation would turn a false inside an object into "false".
        chart_values: object = {}
        try:
            chart_values = json.loads(properties.get("Values", "{}"))
        except (TypeError, ValueError):
            chart_values = None
        if not isinstance(chart_values, dict):
            problems.append(
                f"Values: {properties.get('Values')!r} is not allowed; expected a JSON object of Helm values"
            )
        if values["ChartRepository"] and values["ChartCommit"]:
            try:
                chart_source.archive_url(values["ChartRepository"], values["ChartCommit"])
            except chart_source.ChartSourceError as error:
                problems.append(str(error))
        if problems:
            raise InvalidRequestError("; ".join(problems))
        return cls(
            cluster_name=values["ClusterName"],
            chart_repository=values["ChartRepository"],
            chart_commit=values["ChartCommit"],
            chart_path=values["ChartPath"],
            release=values["Release"],
            namespace=values["Namespace"],
            values=chart_values if isinstance(chart_values, dict) else {},
        )


@dataclass(frozen=True)
class RigRelease:
    """The RIG chart's release, and the standard release whose objects it patches."""

    chart: ChartRelease
    standard_release: str
    supported_regions: tuple[str, ...]

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> RigRelease:
        problems = []
        try:
            chart = ChartRelease.from_properties(properties)
        except InvalidRequestError as error:
            problems.append(str(error))
        standard = properties.get("StandardRelease")
        if not isinstance(standard, str) or not NAME_PATTERN.match(standard):
            problems.append(f"StandardRelease: {standard!r} is not allowed; expected a DNS label (a-z, 0-9, '-')")
        regions = properties.get("SupportedRegions")
        if (
            not isinstance(regions, list)
            or not regions
            or not all(isinstance(r, str) and REGION_PATTERN.match(r) for r in regions)
        ):
            problems.append(f"SupportedRegions: {regions!r} is not allowed; expected a list of region names")
        if problems:
            raise InvalidRequestError("; ".join(problems))
        return cls(chart=chart, standard_release=str(standard), supported_regions=tuple(str(r) for r in regions or ()))


def access_from_properties(properties: dict[str, Any]) -> tuple[str, WorkflowAccess]:
    """The cluster name and the workflow's Role and binding, from ``Custom::HyperPodWorkflowAccess``."""
    problems = []
    cluster, namespace, group = (properties.get(k) for k in ("ClusterName", "Namespace", "Group"))
    if not isinstance(cluster, str) or not CLUSTER_NAME_PATTERN.match(cluster):
        problems.append(f"ClusterName: {cluster!r} is not allowed; expected an EKS cluster name")
    if not isinstance(namespace, str) or not NAME_PATTERN.match(namespace):
        problems.append(f"Namespace: {namespace!r} is not allowed; expected a DNS label (a-z, 0-9, '-')")
    if not isinstance(group, str) or not GROUP_PATTERN.match(group):
        problems.append(f"Group: {group!r} is not allowed; expected a Kubernetes group name (a-z, 0-9, '-', '.')")
    if problems:
        raise InvalidRequestError("; ".join(problems))
    return str(cluster), WorkflowAccess(namespace=str(namespace), group=str(group))


class ChartInstaller:
    """The work, with its collaborators passed in so tests can stub AWS and Helm."""

    def __init__(
        self,
        eks_client: Any,
        sts_client: Any,
        runner: helm.Runner = helm.run,
        fetch: chart_source.Fetch = chart_source.download,
    ) -> None:
        self.eks = eks_client
        self.sts = sts_client
        self.runner = runner
        self.fetch = fetch

    def install(self, release: ChartRelease, workdir: Path) -> None:
        env = self._environment(release, workdir)
        archive = self.fetch(chart_source.archive_url(release.chart_repository, release.chart_commit))
        chart_dir = chart_source.extract_chart(archive, release.chart_path, workdir / "chart")
        values_file = None
        if release.values:
            values_file = workdir / "values.json"
            values_file.write_text(json.dumps(release.values))
        for command in helm.install_commands(chart_dir, release.release, release.namespace, values_file):
            LOGGER.info(json.dumps({"step": command[1], "release": release.physical_id}))
            self.runner(command, env)

    def uninstall(self, release: ChartRelease, workdir: Path) -> None:
        try:
            env = self._environment(release, workdir)
        except self.eks.exceptions.ResourceNotFoundException:
            LOGGER.info(json.dumps({"step": "uninstall", "skipped": "cluster already deleted"}))
            return
        self.runner(helm.uninstall_command(release.release, release.namespace), env)

    def install_rig(self, rig: RigRelease, workdir: Path) -> None:
        cluster, env = self._connect(rig.chart, workdir)
        RigInstaller(Kubectl(self.runner, env), self.runner, self.fetch).install(
            repository=rig.chart.chart_repository,
            commit=rig.chart.chart_commit,
            chart_path=rig.chart.chart_path,
            release=rig.chart.release,
            targets=RigTargets(rig.standard_release),
            region=region_of(cluster["arn"]),
            supported_regions=rig.supported_regions,
            workdir=workdir,
        )

    def grant_workflow(self, cluster_name: str, access: WorkflowAccess, workdir: Path) -> None:
        access.apply(Kubectl(self.runner, self._kubeconfig(cluster_name, workdir)[1]), workdir)

    def revoke_workflow(self, cluster_name: str, access: WorkflowAccess, workdir: Path) -> None:
        try:
            env = self._kubeconfig(cluster_name, workdir)[1]
        except self.eks.exceptions.ResourceNotFoundException:
            LOGGER.info(json.dumps({"step": "revoke", "skipped": "cluster already deleted"}))
            return
        access.remove(Kubectl(self.runner, env), workdir)

    def _environment(self, release: ChartRelease, workdir: Path) -> dict[str, str]:
        return self._connect(release, workdir)[1]

    def _connect(self, release: ChartRelease, workdir: Path) -> tuple[dict[str, Any], dict[str, str]]:
        return self._kubeconfig(release.cluster_name, workdir)

    def _kubeconfig(self, cluster_name: str, workdir: Path) -> tuple[dict[str, Any], dict[str, str]]:
        cluster: dict[str, Any] = self.eks.describe_cluster(name=cluster_name)["cluster"]
        kubeconfig_path = workdir / "kubeconfig"
        kubeconfig_path.write_text(kube_auth.kubeconfig(cluster, eks_token(self.sts, cluster_name)))
        kubeconfig_path.chmod(0o600)
        return cluster, helm.helm_environment(workdir, kubeconfig_path)


def handle(event: dict[str, Any], installer: ChartInstaller) -> dict[str, Any]:
    request_type = event.get("RequestType")
    if request_type not in ("Create", "Update", "Delete"):
        raise InvalidRequestError(f"RequestType: {request_type!r} is not allowed; expected Create, Update or Delete")
    properties = event.get("ResourceProperties", {})
    if event.get("ResourceType") == ACCESS_RESOURCE_TYPE:
        return _handle_access(request_type, properties, installer)
    rig = RigRelease.from_properties(properties) if event.get("ResourceType") == RIG_RESOURCE_TYPE else None
    release = rig.chart if rig is not None else ChartRelease.from_properties(properties)
    with tempfile.TemporaryDirectory() as scratch:
        if request_type == "Delete":
            # Also after a failed create: whatever part of the release exists is removed.
            installer.uninstall(release, Path(scratch))
        elif rig is not None:
            installer.install_rig(rig, Path(scratch))
        else:
            installer.install(release, Path(scratch))
    return {"PhysicalResourceId": release.physical_id}


def _handle_access(request_type: str, properties: dict[str, Any], installer: ChartInstaller) -> dict[str, Any]:
    cluster_name, access = access_from_properties(properties)
    with tempfile.TemporaryDirectory() as scratch:
        if request_type == "Delete":
            installer.revoke_workflow(cluster_name, access, Path(scratch))
        else:
            installer.grant_workflow(cluster_name, access, Path(scratch))
    # The Role's name is fixed: a new group updates the binding in place, a new namespace replaces it.
    return {"PhysicalResourceId": f"{cluster_name}/{access.namespace}/{ROLE_NAME}"}


def _client(name: str) -> Any:
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def on_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    LOGGER.info(json.dumps({"request": event.get("RequestType"), "logical_id": event.get("LogicalResourceId")}))
    return handle(event, ChartInstaller(_client("eks"), _client("sts")))
