"""``dancu-bus resolver``: the long-running resolver (``dancu-bus audit run`` lives in ``cli.audit``)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from dancu_bus.codec import Codec, load_schemas
from dancu_bus.resolver import agency_directory, run_resolver
from dancu_bus.settings import Settings
from dancu_bus.store import open_store

__all__ = ["register", "stop_on_signals"]


def register(commands: Any) -> None:
    """Add the service subcommands."""
    resolver = commands.add_parser("resolver", help="answer agencies' requests from the population store")
    resolver.set_defaults(run=lambda _args, settings: asyncio.run(_resolver(settings)) or 0)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so the service drains and commits before it exits."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _resolver(settings: Settings) -> None:
    stop = stop_on_signals()
    schemas = load_schemas()
    async with agency_directory(settings, schemas) as directory, open_store(settings.store) as store:
        await run_resolver(settings, directory, store, Codec(schemas), stop)
