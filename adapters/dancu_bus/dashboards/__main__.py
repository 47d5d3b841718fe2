"""``python -m dancu_bus.dashboards [--check] [DIRECTORY]``: regenerate deploy/grafana's dashboards."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

COMMAND = "python -m dancu_bus.dashboards deploy/grafana"
"""What to run (from the checkout's root) when the committed dashboards differ from the code."""


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards' JSON into the directory (or, with ``--check``, say which files differ)."""
    parser = argparse.ArgumentParser(prog="python -m dancu_bus.dashboards", description=__doc__)
    parser.add_argument("directory", nargs="?", type=Path, default=Path("deploy/grafana"))
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(
            f"dashboards: {args.directory} is not a directory: run from the checkout's root", file=sys.stderr
        )
        return 2
    try:
        from dancu_bus.dashboards import generate
    except ModuleNotFoundError as exc:
        print(
            f"dashboards: {exc.name} is missing: install the dev extra (pip install -e '.[dev]')",
            file=sys.stderr,
        )
        return 2
    if args.check:
        stale = generate.differences(args.directory)
        for name in stale:
            print(f"dashboards: {args.directory / name}: run {COMMAND}", file=sys.stderr)
        return 1 if stale else 0
    for path in generate.write(args.directory):
        print(f"dashboards: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
