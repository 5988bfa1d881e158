"""lifecycle/eks/on_create.sh, run against a directory tree: containerd and kubelet move to the group's EBS volume."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "lifecycle" / "eks" / "on_create.sh"


@pytest.fixture
def node(tmp_path: Path):
    """A node's tree (ROOT) and a systemctl that records what it was asked."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "mounts").write_text("/dev/nvme1n1 /opt/sagemaker ext4 rw 0 0\n")
    (root / "opt" / "sagemaker").mkdir(parents=True)
    kubelet = root / "var" / "lib" / "kubelet"
    kubelet.mkdir(parents=True)
    (kubelet / "kubeconfig").write_text("kubelet state\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n[ "$1" != is-active ]\n')
    (bin_dir / "systemctl").chmod(0o755)

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LIFECYCLE_ROOT": str(root), **env}
        return subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, check=True)

    return root, run, calls


def test_amazon_linux_2_points_containerd_and_kubelet_at_the_volume(node):
    root, run, _ = node
    config = root / "etc" / "eks" / "containerd" / "containerd-config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('version = 2\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\n')

    run()

    assert (
        config.read_text() == 'version = 2\nroot = "/opt/sagemaker/containerd/data-root"\nstate = "/run/containerd"\n'
    )
    kubelet = root / "var" / "lib" / "kubelet"
    assert kubelet.is_symlink() and os.readlink(kubelet) == "/opt/sagemaker/kubelet"
    assert (root / "opt" / "sagemaker" / "kubelet" / "kubeconfig").read_text() == "kubelet state\n"


def test_amazon_linux_2023_leaves_containerd_alone_and_still_moves_kubelet(node):
    """nodeadm writes AL2023's containerd configuration after this script: a copy made now would be stale."""
    root, run, calls = node
    config = root / "etc" / "containerd" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("version = 3\n")

    result = run()

    assert config.read_text() == "version = 3\n"
    assert "images stay on the root volume" in result.stdout
    assert (root / "var" / "lib" / "kubelet").is_symlink()
    assert not calls.exists()  # no service is touched
    assert (
        "kubelet's data is on /opt/sagemaker/kubelet"
        in (root / "var" / "log" / "provision" / "provisioning.log").read_text()
    )


def test_without_the_volume_the_node_still_comes_up_on_its_root_volume(node):
    root, run, _ = node
    (root / "proc" / "mounts").write_text("/dev/nvme0n1p1 / xfs rw 0 0\n")
    config = root / "etc" / "eks" / "containerd" / "containerd-config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('root = "/var/lib/containerd"\n')

    result = run(VOLUME_WAIT_SECONDS="0")

    assert "containers stay on the root volume" in result.stdout
    assert config.read_text() == 'root = "/var/lib/containerd"\n'
    assert not (root / "var" / "lib" / "kubelet").is_symlink()
