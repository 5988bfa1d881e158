"""The agent image installs what the agent's tests ran on: one lock, and the test environment agrees with it."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

AGENT = Path(__file__).resolve().parents[3] / "agent"
# What the agent's tests exercise: the agent and its SDKs, the MCP client and server, the OpenTelemetry API and SDK
# of the span test, and the AWS clients the Stubber checks.
EXERCISED = (
    "strands-agents",
    "bedrock-agentcore",
    "mcp",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "boto3",
    "botocore",
    "httpx",
    "starlette",
    "pydantic",
)


def pins(text: str) -> dict[str, str]:
    return {
        name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.MULTILINE)
    }


def test_the_image_installs_every_package_from_the_lock_with_hashes():
    dockerfile = (AGENT / "Dockerfile").read_text()
    assert (
        "--require-hashes" in dockerfile
        and "--only-binary=:all:" in dockerfile
        and "-r requirements.lock" in dockerfile
    )
    lock = (AGENT / "requirements.lock").read_text()
    hashed = r"^[A-Za-z0-9_.-]+==\S+ \\\n(?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+"
    packages = re.findall(hashed, lock, re.MULTILINE)
    assert len(packages) == len(pins(lock)) > 20  # every pin carries its hashes


def test_the_lock_resolves_the_agents_requirements():
    lock = pins((AGENT / "requirements.lock").read_text())
    for name, version in pins((AGENT / "requirements.txt").read_text()).items():
        assert lock.get(name) == version, f"requirements.lock: {name} {lock.get(name)}, requirements.txt: {version}"


def test_the_tests_run_on_the_versions_the_image_installs():
    lock = pins((AGENT / "requirements.lock").read_text())
    installed = {name: metadata.version(name) for name in EXERCISED}
    assert {name: lock.get(name) for name in EXERCISED} == installed
