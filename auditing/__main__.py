"""``python -m auditing [--out audit] [--config-dir DIR] [--nist] [--assembly DIR]``.

Synthesizes every environment into a temporary directory (no credentials, no network, no Docker) and
writes the bundle; ``--assembly`` writes it from an assembly an earlier run left with ``--keep-assembly``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from auditing.bundle import write_bundle
from auditing.prices import PriceError
from auditing.synth import synthesize
from config.loader import ConfigError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m auditing", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("audit"), help="bundle folder (default: audit)")
    parser.add_argument("--config-dir", type=Path, help="environments folder (default: config/environments)")
    parser.add_argument("--nist", action="store_true", help="also run the NIST 800-53 R5 pack")
    parser.add_argument("--assembly", type=Path, help="write from this assembly instead of synthesizing")
    parser.add_argument("--keep-assembly", type=Path, help="synthesize into this folder and keep it")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.assembly:
            summaries = write_bundle(args.assembly, args.out)
        elif args.keep_assembly:
            args.keep_assembly.mkdir(parents=True, exist_ok=True)
            summaries = write_bundle(
                synthesize(args.keep_assembly, config_dir=args.config_dir, nist=args.nist), args.out
            )
        else:
            with tempfile.TemporaryDirectory(prefix="audit-synth-") as scratch:
                summaries = write_bundle(
                    synthesize(Path(scratch), config_dir=args.config_dir, nist=args.nist), args.out
                )
    except (PriceError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for summary in summaries:
        idle = f"${summary.idle_monthly_usd:,.2f}/month idle"
        print(f"{args.out / summary.environment}: {summary.resources} resources, {idle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
