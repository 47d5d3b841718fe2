"""``dancu-bus resolver``, ``sms`` and ``portal``: long-running services (``audit run`` is in ``cli.audit``).

Both services wait for the cluster when it is not there yet (one line every ten seconds says why),
and a stop signal ends them within ``STOP_GRACE_S`` even when the cluster is gone: they drain and
commit what they can, then what is left is cancelled (and read again by the next start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from prometheus_client import CollectorRegistry

from dancu_bus.admin.diagnosis import wait_for_cluster
from dancu_bus.cli.traces import exporting_spans
from dancu_bus.codec import Codec, SchemaSet, load_schemas
from dancu_bus.lifecycle import stop_on_signals
from dancu_bus.operations import platform_codec, platform_operations
from dancu_bus.portal import serve_portal
from dancu_bus.resolver import Edges, agency_directory, run_resolver
from dancu_bus.settings import Settings
from dancu_bus.sms import run_sms
from dancu_bus.store import open_store
from dancu_bus.transport import Followed

__all__ = ["STOP_GRACE_S", "register", "serve"]

log = logging.getLogger(__name__)
STOP_GRACE_S = 30.0


def register(commands: Any) -> None:
    """Add the service subcommands."""
    resolver = commands.add_parser("resolver", help="answer agencies' requests from the population store")
    resolver.set_defaults(run=lambda _args, settings: asyncio.run(_resolver(settings)) or 0)
    portal = commands.add_parser(
        "portal",
        help="answer the public service portal's requests (CITIZEN_INFO, ACCESS_HISTORY) as agency portal",
    )
    portal.set_defaults(run=lambda _args, settings: asyncio.run(_portal(settings)) or 0)
    sms = commands.add_parser("sms", help="the SMS channel: citizens' DC <personal id> messages, answered")
    sms.set_defaults(run=lambda _args, settings: asyncio.run(_sms(settings)) or 0)


async def serve(main: Coroutine[Any, Any, None], stop: asyncio.Event, what: str) -> None:
    """Run ``main`` until it ends; after ``stop`` it has ``STOP_GRACE_S`` to finish, then it is cancelled."""
    task = asyncio.ensure_future(main)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done() and not (await asyncio.wait({task}, timeout=STOP_GRACE_S))[0]:
        log.warning("%s did not finish within %g s of the stop signal: cancelled", what, STOP_GRACE_S)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return
    if task.cancelled():  # a Kafka client cancels its own work when stopped with its broker gone
        log.info("%s stopped", what)
        return
    task.result()


async def _resolver(settings: Settings) -> None:
    # SELF's field sets are checked before anything waits for the cluster: a bad one is a ConfigError now.
    schemas = load_schemas(platform_operations(settings.resolver.self_fields))
    stop = stop_on_signals()
    if not await wait_for_cluster(settings.kafka, stop, "the resolver"):
        return
    with exporting_spans(settings.tracing, "dancu-bus-resolver"):
        await serve(_serve_resolver(settings, schemas, stop), stop, "the resolver")


async def _sms(settings: Settings) -> None:
    stop = stop_on_signals()
    if not await wait_for_cluster(settings.kafka, stop, "the SMS adapter"):
        return
    await serve(run_sms(settings, platform_codec(), stop), stop, "the SMS adapter")


async def _serve_resolver(settings: Settings, schemas: SchemaSet, stop: asyncio.Event) -> None:
    views = Followed()
    async with (
        agency_directory(settings, schemas, views) as directory,
        open_store(settings.store) as store,
    ):
        await run_resolver(settings, directory, store, Codec(schemas), stop, Edges(views=views))


async def _portal(settings: Settings) -> None:
    stop = stop_on_signals()
    if not await wait_for_cluster(settings.kafka, stop, "the portal adapter"):
        return
    with exporting_spans(settings.tracing, "dancu-bus-portal"):
        await serve(
            serve_portal(settings, platform_codec(), stop, CollectorRegistry()), stop, "the portal adapter"
        )
