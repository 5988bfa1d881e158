"""The commands the README and docs/ give a reader work as written.

Every `make`, `cdk` and Python command is extracted (fenced shell blocks and inline code). Those that only read
(``cdk synth``/``cdk ls`` of the committed environments, ``--help`` of the project's scripts) are run, offline;
those that install, rewrite committed files or need AWS (``make test``, ``make snapshots``, ``cdk deploy``...) are
checked to name a Makefile target or a CDK CLI command and options that exist. AWS CLI commands are checked
against botocore by ``test_readme_aws_commands``. The README and each page link each other.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from synthesis import HERMETIC_CLI_SYNTH

pytestmark = pytest.mark.heavy(33)  # two CLI synths and an audit

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCUMENTS = [README, *PAGES]
CDK = REPO / "node_modules" / ".bin" / "cdk"
FENCED = re.compile(r"```[a-z]*\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:make|npx cdk|cdk|python|\.venv/bin/python) [^`]+)`")
# CDK CLI commands that only read the app (synthesize it) and need no AWS account: run as written.
READ_ONLY_CDK = {"synth", "ls", "list"}
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def _commands(*, inline: bool = True) -> list[tuple[str, str]]:
    """(document, command) for every make, cdk and Python command: those of every fenced block (what a reader is
    told to run; ``a && b`` and ``a; b`` are two, a leading ``VAR=value`` is dropped), and with ``inline`` those
    named in the text too. docs/research/ holds notes and reviews, not instructions, and is not read."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        lines = [line for block in FENCED.findall(text) for line in block.replace("\\\n", " ").splitlines()]
        lines += INLINE.findall(text) if inline else []
        for line in lines:
            for part in re.split(r"&&|;", line.split(" #", 1)[0]):
                command = re.sub(r"^(\s*[A-Z_]+=\S+\s+)+", "", part).strip()
                if re.match(r"^(make|npx cdk|cdk|python3?|\.venv/bin/python|\.venv/bin/[a-z-]+) ", command):
                    found.append((document.relative_to(REPO).as_posix(), command))
    return sorted(set(found))


COMMANDS = _commands()
TO_RUN = _commands(inline=False)


def _words(command: str) -> list[str]:
    words = shlex.split(command.replace("<", "").replace(">", ""))
    return words[1:] if words[0] == "npx" else words


def test_the_readme_and_every_page_link_each_other():
    readme = README.read_text(encoding="utf-8")
    for page in PAGES:
        assert f"](docs/{page.name})" in readme, f"README does not link {page.name}"
        assert "](../README.md)" in page.read_text(encoding="utf-8"), f"{page.name} does not link back to README"


def test_the_readme_is_short_enough_for_a_newcomer():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_commands_of_each_kind_are_found():
    kinds = {_words(command)[0] for _, command in COMMANDS}
    assert {"make", "cdk", ".venv/bin/python"} <= kinds, kinds


@functools.cache
def _makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.M))


@pytest.mark.parametrize(("document", "command"), [c for c in COMMANDS if c[1].startswith("make")], ids=str)
def test_each_make_command_names_a_target_and_variables_the_makefile_has(document, command):
    words = _words(command)
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for word in words[1:]:
        if "=" in word:
            assert f"$({word.split('=')[0]})" in makefile, f"{document}: {command}: no variable {word}"
        else:
            assert word in _makefile_targets(), f"{document}: {command}: no target {word!r}"


@functools.cache
def _cdk_help(subcommand: str) -> str:
    result = subprocess.run(
        [str(CDK), subcommand, "--help"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("document", "command"), [c for c in COMMANDS if _words(c[1])[0] == "cdk"], ids=str)
def test_each_cdk_command_names_a_command_and_options_the_cli_has(document, command):
    words = _words(command)
    subcommand = words[1]
    overview = _cdk_help("--help")  # "cdk list [STACKS..]  Lists all stacks in the app  [aliases: ls]"
    known = set(re.findall(r"^\s+cdk ([a-z-]+)", overview, re.M)) | set(re.findall(r"aliases: ([a-z-]+)", overview))
    assert subcommand in known, f"{document}: {command}: no cdk command {subcommand!r}"
    usage = _cdk_help(subcommand)
    for option in (w for w in words[2:] if w.startswith("-")):
        name = option.split("=", 1)[0]
        assert re.search(rf"(^|\s|,){re.escape(name)}(\s|,|$)", usage, re.M), f"{document}: {command}: no {name}"


def _read_only_runs() -> dict[tuple[str, ...], list[str]]:
    """Each distinct read-only cdk command, once (``--quiet`` only changes what is printed), with where it is given."""
    runs: dict[tuple[str, ...], list[str]] = {}
    for document, command in TO_RUN:
        words = _words(command)
        if words[0] == "cdk" and words[1] in READ_ONLY_CDK:
            arguments = tuple(w for w in words[1:] if w not in ("--quiet", "-q"))
            runs.setdefault(arguments, []).append(f"{document}: {command}")
    return runs


def test_the_hermetic_synth_is_a_documented_command():
    """test_hermetic_synth runs this one (without a network, which is stricter), so it is not run twice here."""
    assert HERMETIC_CLI_SYNTH in _read_only_runs()


@pytest.mark.parametrize(
    ("arguments", "given"),
    sorted(run for run in _read_only_runs().items() if run[0] != HERMETIC_CLI_SYNTH),
    ids=lambda v: str(v),
)
def test_each_read_only_cdk_command_runs_offline(arguments, given):
    """No credentials: the AWS variables point nowhere, as on a fresh machine."""
    offline = {k: v for k, v in ENV.items() if not k.startswith("AWS_")} | {"AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [str(CDK), *arguments, *(["--quiet"] if arguments[0] == "synth" else [])],
        cwd=REPO,
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{given}\n{result.stderr[-2000:]}"


# Python commands a reader may run as written here: the audit of a test fixture (it writes only to --out).
RUN_AS_WRITTEN = ("-m auditing --config-dir tests/fixtures/",)


@pytest.mark.parametrize(("document", "command"), [c for c in COMMANDS if "python" in _words(c[1])[0]], ids=str)
def test_each_python_command_has_the_options_it_is_given(document, command, tmp_path):
    """Run with --help (they only read then), or as written for an audit of a fixture; the options the document
    gives must be in its usage, as whole options."""
    words = _words(command)
    target = words[1:3] if words[1] == "-m" else words[1:2]
    if target[0] == "app.py":  # `python app.py` is what `cdk synth` runs: the cdk commands above cover it
        return
    result = subprocess.run(
        [sys.executable, *target, "--help"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{document}: {command}\n{result.stderr[-2000:]}"
    for option in (w.strip("[]") for w in words[len(target) + 1 :] if w.strip("[]").startswith("--")):
        assert re.search(rf"(^|[\s\[]){re.escape(option)}([\s=\]]|$)", result.stdout, re.M), f"{document}: no {option}"
    if any(marker in command for marker in RUN_AS_WRITTEN):
        arguments = [str(tmp_path / "out") if w.startswith("/tmp/") else w for w in words[1:]]
        ran = subprocess.run(
            [sys.executable, *arguments], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600
        )
        assert ran.returncode == 0, f"{document}: {command}\n{ran.stderr[-2000:]}"
        assert (tmp_path / "out" / "README.md").exists()
