"""``dancu-bus demo``: the whole exchange on a local broker, printed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from dancu_bus.demo import run_demo
from dancu_bus.settings import Settings

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the ``demo`` subcommand."""
    demo = commands.add_parser("demo", help="start a local broker, seed, serve and show sample exchanges")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the secured broker, the resolver and the audit consumer running until Ctrl-C, and write"
        " the sample agencies' secrets to files, to try the SDK against (README: SDK)",
    )
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_demo(settings, sys.stdout, keep_running=args.keep_running))
