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


def test_amazon_linux_2023_gets_a_copy_of_its_config_with_the_new_root_and_a_drop_in(node):
    root, run, calls = node
    config = root / "etc" / "containerd" / "config.toml"
    config.parent.mkdir(parents=True)
    original = (
        'version = 3\n#root = "/var/lib/containerd"\n[plugins."io.containerd.cri.v1.runtime"]\nenable_cdi = true\n'
    )
    config.write_text(original)
    (root / "var" / "lib" / "containerd" / "io.containerd.content.v1.content").mkdir(parents=True)

    run()

    moved = (root / "opt" / "sagemaker" / "containerd" / "config.toml").read_text()
    assert moved.splitlines()[0] == 'root = "/opt/sagemaker/containerd/data-root"'
    assert "enable_cdi = true" in moved and "#root" not in moved
    assert config.read_text() == original  # the AMI's file is left as it was
    drop_in = (root / "etc" / "systemd" / "system" / "containerd.service.d" / "10-sagemaker-volume.conf").read_text()
    assert "ExecStart=/usr/bin/containerd --config /opt/sagemaker/containerd/config.toml" in drop_in
    assert (root / "opt" / "sagemaker" / "containerd" / "data-root" / "io.containerd.content.v1.content").is_dir()
    assert calls.read_text().splitlines() == ["daemon-reload", "is-active --quiet containerd"]


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
