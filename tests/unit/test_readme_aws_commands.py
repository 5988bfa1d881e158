"""Every AWS CLI command the README and docs/ give a reader names an operation and options that exist in botocore's
models: a command that cannot run is found here, not by the first person who pastes it."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# The CLI's own commands, which call no single API operation of that name.
CLI_CUSTOMIZATIONS = {("eks", "update-kubeconfig"), ("ssm", "start-session")}
GLOBAL_OPTIONS = {"query", "output", "region", "profile", "cli-binary-format", "no-cli-pager", "endpoint-url"}
COMMAND = re.compile(
    r"\baws\s+([a-z0-9-]+)\s+([a-z][a-z0-9-]+)((?:\s+(?:--[a-z0-9-]+|(?!--)(?:'[^']*'|\"[^\"]*\"|[^\s`]+)))*)"
)


def readme_commands() -> list[tuple[str, str, list[str]]]:
    text = "\n".join(d.read_text(encoding="utf-8") for d in DOCUMENTS).replace("\\\n", " ")  # line continuations
    text = re.sub(r"(`aws [a-z0-9-]+)\n", r"\1 ", text)  # inline code wrapped after the service
    found = []
    for service, command, rest in (match for line in text.splitlines() for match in COMMAND.findall(line)):
        if service in ("on", "the", "and", "for"):  # prose ("... aws on its own ...")
            continue
        found.append((service, command, re.findall(r"--([a-z0-9-]+)", rest)))
    return found


def test_the_readme_gives_aws_commands_to_check():
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize(("service", "command", "options"), readme_commands(), ids=lambda v: str(v))
def test_each_readme_aws_command_exists_with_its_options(service, command, options):
    if (service, command) in CLI_CUSTOMIZATIONS:
        return
    model = botocore.session.get_session().get_service_model(service)
    by_cli_name = {re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower(): name for name in model.operation_names}
    assert command in by_cli_name, f"aws {service} {command}: no such operation"
    members = {name.lower() for name in model.operation_model(by_cli_name[command]).input_shape.members}
    unknown = [o for o in options if o not in GLOBAL_OPTIONS and o.replace("-", "") not in members]
    assert unknown == [], f"aws {service} {command}: unknown options {unknown}"
