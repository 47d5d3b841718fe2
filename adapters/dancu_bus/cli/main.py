"""Entry point of ``dancu-bus``: builds the settings once and dispatches to a subcommand module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dancu_bus import __version__
from dancu_bus.errors import DancuError
from dancu_bus.settings import Settings

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; each area module adds its own subcommands."""
    from dancu_bus.cli import agency, audit, broker, catalogue, check, demo, services, store, topics

    parser = argparse.ArgumentParser(
        prog="dancu-bus", description="dancu-bus: population-data exchange on Kafka"
    )
    parser.add_argument("--version", action="version", version=f"dancu-bus {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for area in (demo, services, audit, check, agency, broker, topics, catalogue, store):
        area.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; errors of ours print one clear line and exit non-zero."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Kafka client narrates every connection at INFO; its warnings are what an operator needs.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        code: int = args.run(args, settings)
    except DancuError as exc:
        print(f"dancu-bus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
