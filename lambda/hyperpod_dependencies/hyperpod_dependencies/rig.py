"""Install what a restricted instance group (RIG) needs, after the standard HyperPod chart.

The HyperPod team ships this as a chart (``HyperPodHelmChartForRIG``: the NVIDIA device
plugin scoped to RIG nodes) plus an interactive script that fills the chart with copies of
the cluster's own VPC CNI and CoreDNS and patches four objects of the standard chart. Here
the same steps run unattended: the chart comes from the pinned commit, the copies and
patches from :mod:`hyperpod_dependencies.rig_objects`. Every patched object is annotated, so
a retry or an update skips what is done; the chart itself is ``helm upgrade --install``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod_dependencies import chart_source, helm, rig_objects
from hyperpod_dependencies.kubectl import Kubectl, MissingObjectError

LOGGER = logging.getLogger()
SYSTEM = "kube-system"


class RigDependencyError(Exception):
    """The cluster is not ready for RIG dependencies (region, add-ons or the standard chart missing)."""


@dataclass(frozen=True)
class RigTargets:
    """Names of the standard chart's objects, which carry its release name (``<release>-training-operators``)."""

    standard_release: str

    @property
    def training_operators(self) -> tuple[str, str, str]:
        return ("deployment", f"{self.standard_release}-training-operators", "kubeflow")

    @property
    def mpi_operator(self) -> tuple[str, str, str]:
        return ("deployment", f"{self.standard_release}-mpi-operator", SYSTEM)

    @property
    def efa(self) -> tuple[str, str, str]:
        return ("daemonset", f"{self.standard_release}-aws-efa-k8s-device-plugin", SYSTEM)


def region_of(cluster_arn: str) -> str:
    return cluster_arn.split(":")[3]


def write_chart_subchart(chart_dir: Path, name: str, obj: dict[str, Any]) -> None:
    """A one-template subchart under the RIG chart's ``charts/`` (the chart's dependencies name them)."""
    subchart = chart_dir / "charts" / name
    (subchart / "templates").mkdir(parents=True, exist_ok=True)
    (subchart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {name}\nversion: 0.1.0\ndescription: {name} on restricted instance group nodes\n"
    )
    (subchart / "templates" / "daemonset.rig.yaml").write_text(rig_objects.chart_template(obj))


class RigInstaller:
    """Builds and installs the RIG chart, then patches the standard objects once."""

    def __init__(self, kubectl: Kubectl, runner: helm.Runner, fetch: chart_source.Fetch) -> None:
        self.kubectl = kubectl
        self.runner = runner
        self.fetch = fetch

    def install(
        self,
        *,
        repository: str,
        commit: str,
        chart_path: str,
        release: str,
        targets: RigTargets,
        region: str,
        supported_regions: tuple[str, ...],
        workdir: Path,
    ) -> None:
        if region not in supported_regions:
            raise RigDependencyError(
                f"region {region!r} is not allowed for restricted instance groups; expected one of "
                + ", ".join(supported_regions)
            )
        try:
            aws_node = self.kubectl.get("daemonset", "aws-node", SYSTEM)
            coredns = self.kubectl.get("deployment", "coredns", SYSTEM)
            training = self.kubectl.get(*targets.training_operators)
            mpi = self.kubectl.get(*targets.mpi_operator)
            efa = self.kubectl.get(*targets.efa)
        except MissingObjectError as error:
            raise RigDependencyError(
                f"{error}: RIG dependencies need the VPC CNI and CoreDNS add-ons and the standard HyperPod chart "
                f"(release {targets.standard_release!r}) installed first"
            ) from error

        archive = self.fetch(chart_source.archive_url(repository, commit))
        chart_dir = chart_source.extract_chart(archive, chart_path, workdir / "rig-chart")
        write_chart_subchart(chart_dir, "aws-node", rig_objects.rig_aws_node(aws_node, commit))
        write_chart_subchart(chart_dir, "coredns", rig_objects.rig_coredns(coredns, commit))
        for command in helm.install_commands(chart_dir, release, SYSTEM):
            self._log(command[1], release)
            self.runner(command, self.kubectl.env)

        if not rig_objects.is_patched(aws_node, "aws-node"):
            manifest = workdir / "aws-node.nonrig.json"
            manifest.write_text(json.dumps(rig_objects.non_rig_aws_node(aws_node, commit), sort_keys=True))
            self._log("apply aws-node (not on RIG nodes)", release)
            self.kubectl.apply(manifest)
        controllers = (
            (targets.training_operators, training, "training-operators"),
            (targets.mpi_operator, mpi, "mpi-operator"),
        )
        for (kind, name, namespace), obj, component in controllers:
            if not rig_objects.is_patched(obj, component):
                self._log(f"patch {component}", release)
                patch = rig_objects.tolerate_rig_patch(obj, component, commit, prefer_other_nodes=True)
                self.kubectl.patch(kind, name, namespace, patch)
        if not rig_objects.is_patched(efa, "aws-efa-k8s-device-plugin"):
            self._log("patch aws-efa-k8s-device-plugin", release)
            kind, name, namespace = targets.efa
            self.kubectl.patch(kind, name, namespace, rig_objects.efa_patch(efa, commit, region))

    def uninstall(self, release: str) -> None:
        """Removes the RIG copies; the patched standard objects keep a toleration that is harmless without RIGs."""
        self.runner(helm.uninstall_command(release, SYSTEM), self.kubectl.env)

    @staticmethod
    def _log(step: str, release: str) -> None:
        LOGGER.info(json.dumps({"step": step, "release": release}))
