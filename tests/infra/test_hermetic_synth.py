"""`cdk synth` through the pinned CLI needs no credentials, no Docker and no network, and is deterministic."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synthesis import HERMETIC_CLI_SYNTH

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"

pytestmark = [
    pytest.mark.skipif(not CDK.exists(), reason="the pinned CDK CLI is installed by `make install`"),
    pytest.mark.heavy(35),  # three CLI synths
]


def _isolated(command: list[str]) -> list[str]:
    """Run without a network where the kernel lets us (root in CI); otherwise with proxies pointing nowhere."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", *command]
    return command


# jsii unpacks aws-cdk-lib into a package cache under $HOME; the fresh HOME below would unpack it again on every run
# (about 4 s). The cache holds only the unpacked npm packages, no credentials or settings. Its place is jsii's own
# default (jsii-runtime's defaultCacheRoot: ~/Library/Caches/com.amazonaws.jsii on macOS, ~/.cache/aws/jsii on Linux).
JSII_PACKAGE_CACHE = (
    Path.home() / "Library" / "Caches" / "com.amazonaws.jsii" / "package-cache"
    if sys.platform == "darwin"
    else Path.home() / ".cache" / "aws" / "jsii" / "package-cache"
)


def _bare_environment(home: Path) -> dict[str, str]:
    """A fresh HOME (no ~/.aws, no CDK settings), no Docker, no proxies that work, no instance metadata."""
    return {
        "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(JSII_PACKAGE_CACHE),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(home),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }


def cli_synth(outdir: Path, home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [str(CDK), *arguments, "--quiet", "--no-notices", "--output", str(outdir)]
    return subprocess.run(
        _isolated(command), cwd=REPO, env=_bare_environment(home), capture_output=True, text=True, timeout=600
    )


def templates(outdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outdir)): p.read_bytes() for p in sorted(outdir.glob("assembly-*/*.template.json"))}


@pytest.fixture(scope="module")
def cli_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documented ``cdk synth -c nist=true``: every committed environment, both cdk-nag packs gating. The other
    read-only commands of the docs (``cdk ls`` and the dev synth) run the default gate through the CLI."""
    outdir = tmp_path_factory.mktemp("cli") / "cdk.out"
    result = cli_synth(outdir, tmp_path_factory.mktemp("home"), *HERMETIC_CLI_SYNTH)
    assert result.returncode == 0, result.stdout + result.stderr
    return outdir


@pytest.mark.cli
def test_cli_synthesizes_every_environment_offline_with_the_gates_passing(cli_output):
    assert sorted(p.name for p in cli_output.glob("assembly-*")) == [
        "assembly-dev",
        "assembly-prod",
        "assembly-staging",
    ]
    report = json.loads((cli_output / "validation-report.json").read_text())
    assert [p for p in report["pluginReports"] if p["conclusion"] != "success"] == []


@pytest.mark.cli
def test_cli_synth_fails_on_a_finding_no_acknowledgement_covers(tmp_path):
    """The assertion above can fail: the same CLI path, on an app with an unlogged bucket (cdk-nag) and a misspelt
    property (aws-cdk-lib's CloudFormation validation), exits non-zero and names both. aws-cdk-lib reports a failed
    validation to a CLI-run app only through its Node process's exit code, which Python never sees: app.py reads the
    report itself (stacks/security_gates.py gate_failures), for either gate."""
    probe = f"{sys.executable} tests/fixtures/nag_probe/app.py"
    command = [str(CDK), "synth", "--quiet", "--no-notices", "--app", probe, "--output", str(tmp_path / "out")]
    result = subprocess.run(
        _isolated(command), cwd=REPO, env=_bare_environment(tmp_path), capture_output=True, text=True, timeout=600
    )
    assert result.returncode != 0
    assert "AwsSolutions-S1: dev/Data/Unlogged/Resource" in result.stderr
    assert re.search(r"\S+: dev/Data/Misspelt\b", result.stderr), result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    failed = sorted(p["pluginName"] for p in report["pluginReports"] if p["conclusion"] == "failure")
    assert len(failed) == 2 and "AwsSolutions" in failed, failed


@pytest.mark.cli
def test_in_process_and_cli_synths_write_the_same_bytes(cli_output, committed):
    """What the template tests read (``build_app`` in this process, no gates) is what ``cdk synth`` writes: the CLI
    runs ``python app.py`` (cdk.json), whose ``main`` builds the same app and synthesizes it gated, and the CLI's
    reserved context matches ``app.CLI_DEFAULTS``. So the gates change no template either."""
    assert templates(committed.outdir) == templates(cli_output)
    assert len(templates(cli_output)) == 18


@pytest.mark.cli
def test_cli_synthesizes_a_pinned_environment_offline_without_lookups(tmp_path):
    fixture = REPO / "tests" / "fixtures" / "pinned"
    result = cli_synth(tmp_path / "out", tmp_path, "synth", "--context", f"config_dir={fixture}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (REPO / "cdk.context.json").exists()
    assert (tmp_path / "out" / "assembly-pinned").is_dir()


def test_the_fast_path_skips_the_gates(tmp_path):
    """`make synth-fast` runs neither gate: no cdk-nag pack (-c skip_gates=true) and no CloudFormation validation
    (CDK_VALIDATION=false, which aws-cdk-lib 2.275 reads as the App's builtinCloudFormationValidation=false:
    core/lib/private/synthesis-validation.js, defaultValidationEnabled). The findings that fail a gated synth (see
    test_gates) pass it. It writes the same templates: see the in-process and CLI comparison above."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from app import build_app

    recipe = re.search(r"^synth-fast:.*\n\t(.*)$", (REPO / "Makefile").read_text(), re.M)
    assert recipe and recipe.group(1).startswith("CDK_VALIDATION=false ") and "-c skip_gates=true" in recipe.group(1)
    fast = build_app(
        context={"environments": "dev", "skip_gates": "true"}, outdir=str(tmp_path / "fast"), validate_templates=False
    )
    data = fast.node.find_child("dev").node.find_child("Data")
    s3.Bucket(data, "Unlogged")
    cdk.CfnResource(data, "Misspelt", type="AWS::S3::Bucket", properties={"BucketNaem": "x"})
    fast.synth()  # a gated app raises ValidationFailed here
    assert (tmp_path / "fast" / "assembly-dev").is_dir()
    assert not (tmp_path / "fast" / "validation-report.json").exists()  # no validation plugin ran at all
