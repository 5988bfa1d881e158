"""Synth speed against an empty CDK app on the same machine, in the same run, and the test suite's wall time.

Usage: ``make bench`` (or ``.venv/bin/python bench/run.py --runs 5 [--skip-tests]``).
Prints a Markdown table for docs/performance.md and writes ``bench/out/results.json``.
Target: a full synth of every environment within 2x the empty app's synth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CDK = REPO / "node_modules" / ".bin" / "cdk"
EMPTY_APP = """
import aws_cdk as cdk
app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""
TARGET_RATIO = 2.0


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_seconds(command: list[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    timed(command, cwd, env)  # warm the file cache; not counted
    return statistics.median(timed(command, cwd, env) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args()

    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    python = sys.executable
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty"
        empty.mkdir()
        (empty / "app.py").write_text(EMPTY_APP)
        out = Path(scratch) / "out"
        results["empty_python_s"] = median_seconds(
            [python, "app.py"], empty, {**env, "CDK_OUTDIR": str(out / "e")}, args.runs
        )
        results["platform_python_s"] = median_seconds(
            [python, "app.py"], REPO, {**env, "CDK_OUTDIR": str(out / "p")}, args.runs
        )
        cli = [str(CDK), "synth", "--quiet", "--no-notices"]
        results["empty_cli_s"] = median_seconds(
            [*cli, "--app", f"{python} app.py", "--output", str(out / "ec")], empty, env, args.runs
        )
        results["platform_cli_s"] = median_seconds([*cli, "--output", str(out / "pc")], REPO, env, args.runs)
    results["python_ratio"] = results["platform_python_s"] / results["empty_python_s"]
    results["cli_ratio"] = results["platform_cli_s"] / results["empty_cli_s"]
    if not args.skip_tests:
        results["test_suite_s"] = timed([python, "-m", "pytest", "-q"], REPO, env)

    (REPO / "bench" / "out").mkdir(exist_ok=True)
    (REPO / "bench" / "out" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"| measure (median of {args.runs}) | empty app | this app (every environment) | ratio |")
    print("|---|---|---|---|")
    for runner in ("python", "cli"):
        ratio = results[f"{runner}_ratio"]
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(
            f"| synth via `{'python app.py' if runner == 'python' else 'cdk synth'}` | "
            f"{results[f'empty_{runner}_s']:.1f} s | {results[f'platform_{runner}_s']:.1f} s | "
            f"{ratio:.2f}x ({verdict} the {TARGET_RATIO:.0f}x target) |"
        )
    if "test_suite_s" in results:
        print(f"| `pytest` wall time (whole suite) | | {results['test_suite_s']:.0f} s | |")


if __name__ == "__main__":
    main()
