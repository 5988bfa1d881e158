"""Run Helm and kubectl (from the kubectl Lambda layer) against one cluster."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

HELM = os.environ.get("HELM_BINARY", "/opt/helm/helm")
HISTORY_MAX = "5"

Runner = Callable[[Sequence[str], dict[str, str]], str]


class HelmError(Exception):
    """Helm or kubectl exited with an error; the message carries the command and the end of its output."""


def run(command: Sequence[str], env: dict[str, str]) -> str:
    result = subprocess.run(list(command), env=env, capture_output=True, text=True, check=False, timeout=840)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout)[-2000:]
        raise HelmError(f"{' '.join(command[:3])} failed ({result.returncode}): {tail}")
    return result.stdout


def helm_environment(workdir: Path, kubeconfig_path: Path) -> dict[str, str]:
    """Helm writes caches and config; in Lambda only /tmp is writable."""
    return {
        "PATH": f"/opt/helm:/opt/kubectl:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(workdir),
        "HELM_CACHE_HOME": str(workdir / "cache"),
        "HELM_CONFIG_HOME": str(workdir / "config"),
        "HELM_DATA_HOME": str(workdir / "data"),
        "KUBECONFIG": str(kubeconfig_path),
    }


def install_commands(chart_dir: Path, release: str, namespace: str, values_file: Path | None = None) -> list[list[str]]:
    """Fetch the chart's declared dependencies, then install or upgrade the release (with ``values_file``, a JSON
    document Helm reads as YAML, over the chart's defaults)."""
    upgrade = [HELM, "upgrade", "--install", release, str(chart_dir), "--namespace", namespace]
    upgrade += ["--history-max", HISTORY_MAX]
    if values_file is not None:
        upgrade += ["--values", str(values_file)]
    return [[HELM, "dependency", "update", str(chart_dir)], upgrade]


def uninstall_command(release: str, namespace: str) -> list[str]:
    return [HELM, "uninstall", release, "--namespace", namespace, "--ignore-not-found"]
