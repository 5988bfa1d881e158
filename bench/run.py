"""Synth speed against an empty gated CDK app on the same machine, in the same run, and the test suite's wall time.

Usage: ``make bench`` (or ``.venv/bin/python bench/run.py --runs 5 [--skip-tests]``).
Prints a Markdown table for docs/performance.md (min / median / max of each measure) and writes
``bench/out/results.json``. Targets (issue 19): the gated synth of every committed environment within 2x the empty
gated app; the fast path (``make synth-fast``) within 1.5x; one more environment at most 0.3 s, measured on a
generated ten-environment config (distinct CIDRs, each listing the others as sharing the account), at most 3x.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CDK = REPO / "node_modules" / ".bin" / "cdk"
# The empty app carries the same gate the platform does, so the ratio measures the platform, not the pack.
EMPTY_APP = """
import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
app = cdk.App()
cdk.Stack(app, "Empty")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
"""
TARGETS = {"gated": 2.0, "fast": 1.5, "ten": 3.0}
MARGINAL_TARGET_S = 0.3
GENERATED = 10


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def samples(command: list[str], cwd: Path, env: dict[str, str], runs: int) -> list[float]:
    timed(command, cwd, env)  # warm the file cache; not counted
    return sorted(timed(command, cwd, env) for _ in range(runs))


def generated_environments(directory: Path, count: int = GENERATED) -> Path:
    """``count`` environments made from dev.yaml: their own names, tags and CIDRs (10.<100+i>.0.0/16), each listing
    the others as sharing the account (none pins one), so every safety rule passes."""
    template = (REPO / "config" / "environments" / "dev.yaml").read_text(encoding="utf-8")
    names = [f"env{i:02d}" for i in range(count)]
    for index, name in enumerate(names):
        others = ", ".join(n for n in names if n != name)
        text = re.sub(r"(?m)^name: dev$", f"name: {name}", template)
        text = re.sub(r"(?m)^  environment: dev$", f"  environment: {name}", text)
        text = re.sub(r"(?m)^shares_account_with: .*$", f"shares_account_with: [{others}]", text)
        text = text.replace("cidr: 10.10.0.0/16", f"cidr: 10.{100 + index}.0.0/16")
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


def spread(values: list[float]) -> str:
    return f"{values[0]:.1f} / {statistics.median(values):.1f} / {values[-1]:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--test-runs", type=int, default=1, help="whole test suite runs (about 2 minutes each)")
    args = parser.parse_args()

    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    python = sys.executable
    cli = [str(CDK), "synth", "--quiet", "--no-notices"]
    measured: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty"
        empty.mkdir()
        (empty / "app.py").write_text(EMPTY_APP)
        out = Path(scratch) / "out"
        ten = generated_environments(Path(scratch))
        measured["empty"] = samples([*cli, "--app", f"{python} app.py", "-o", str(out / "e")], empty, env, args.runs)
        measured["gated"] = samples([*cli, "-o", str(out / "g")], REPO, env, args.runs)
        fast_env = {**env, "CDK_VALIDATION": "false"}  # as `make synth-fast` runs it
        measured["fast"] = samples([*cli, "-c", "skip_gates=true", "-o", str(out / "f")], REPO, fast_env, args.runs)
        measured["ten"] = samples([*cli, "-c", f"config_dir={ten}", "-o", str(out / "t")], REPO, env, args.runs)
    if not args.skip_tests:
        runs = []
        for _ in range(args.test_runs):
            with tempfile.TemporaryDirectory() as lint_cache:  # an empty cfn-lint cache, as a CI checkout starts
                runs.append(timed([python, "-m", "pytest", "-q"], REPO, {**env, "CFN_LINT_CACHE": lint_cache}))
        measured["tests"] = sorted(runs)
    empty_median = statistics.median(measured["empty"])
    results = {name: {"min": v[0], "median": statistics.median(v), "max": v[-1]} for name, v in measured.items()}
    ratios = {name: statistics.median(measured[name]) / empty_median for name in TARGETS}
    committed = len(list((REPO / "config" / "environments").glob("*.yaml")))
    marginal = (statistics.median(measured["ten"]) - statistics.median(measured["gated"])) / (GENERATED - committed)
    (REPO / "bench" / "out").mkdir(exist_ok=True)
    summary = {"samples": results, "ratios": ratios, "marginal_environment_s": marginal}
    (REPO / "bench" / "out" / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"| `cdk synth --quiet` ({args.runs} runs) | min / median / max | ratio to the empty gated app | target |")
    print("|---|---|---|---|")
    labels = {
        "empty": "empty app, AwsSolutions pack",
        "gated": f"this app, gated, {committed} environments",
        "fast": "`make synth-fast` (no packs, no CloudFormation validation)",
        "ten": f"{GENERATED} generated environments, gated",
    }
    for name, label in labels.items():
        ratio = "" if name == "empty" else f"{ratios[name]:.2f}x"
        target = f"{TARGETS[name]:.1f}x" if name in TARGETS else ""
        print(f"| {label} | {spread(measured[name])} | {ratio} | {target} |")
    print(f"| one more environment (marginal) | {marginal:.2f} s | | {MARGINAL_TARGET_S} s |")
    if "tests" in measured:
        print(f"| `pytest` wall time (whole suite, {args.test_runs} runs) | {spread(measured['tests'])} | | 90 s |")


if __name__ == "__main__":
    main()
