"""Entry point of ``dancu-bus``: builds the settings once and dispatches to a subcommand module.

Every failure is one line on stderr that names its cause and what to do; ``--debug`` adds the
traceback (and debug logging).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from dancu_bus import __version__
from dancu_bus.admin.diagnosis import diagnose
from dancu_bus.cli.logs import configure_logging
from dancu_bus.errors import BrokerError, ClusterUnusable, DancuError
from dancu_bus.settings import Settings

__all__ = ["main"]

log = logging.getLogger("dancu_bus")


def build_parser() -> argparse.ArgumentParser:
    """The command tree; each area module adds its own subcommands."""
    from dancu_bus.cli import (
        agency,
        audit,
        broker,
        catalogue,
        check,
        corrections,
        dead_letters,
        demo,
        principals,
        schemas,
        services,
        status,
        store,
        topics,
        verify_file,
    )

    parser = argparse.ArgumentParser(
        prog="dancu-bus", description="dancu-bus: population-data exchange on Kafka"
    )
    parser.add_argument("--version", action="version", version=f"dancu-bus {__version__}")
    parser.add_argument("--debug", action="store_true", help="debug logging, and tracebacks with errors")
    commands = parser.add_subparsers(dest="command", required=True)
    areas = (
        demo,
        services,
        status,
        audit,
        check,
        agency,
        principals,
        broker,
        topics,
        catalogue,
        store,
        schemas,
        dead_letters,
        corrections,
        verify_file,
    )
    for area in areas:
        area.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; an error prints one clear line (with ``--debug`` a traceback), exit non-zero."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"dancu-bus: settings: {_first_problem(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, args.debug, settings.log_format)
    try:
        code: int = args.run(args, settings)
    except DancuError as exc:
        log.debug("failed", exc_info=True)
        print(f"dancu-bus: {_cause(exc, settings)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the outermost loop: one line, the traceback only when asked for
        if args.debug:
            raise
        print(
            f"dancu-bus: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    return code


def _cause(error: DancuError, settings: Settings) -> str:
    """The error's message; for a cluster the command could not use, why it could not (``diagnose``)."""
    if isinstance(error, BrokerError) and not isinstance(error, ClusterUnusable):
        return diagnose(settings.kafka, timeout_s=5.0) or str(error)
    return str(error)


def _first_problem(error: ValidationError) -> str:
    """The first invalid setting, as the variable an operator sets."""
    problem = error.errors()[0]
    where = (
        "DANCU_" + "__".join(str(part).upper() for part in problem["loc"]) if problem["loc"] else "DANCU_*"
    )
    return f"{where}: {problem['msg']}"


if __name__ == "__main__":
    sys.exit(main())
