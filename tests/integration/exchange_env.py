"""A whole dancu-bus deployment for integration tests: unique topics, a seeded store, resolver and audit."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.catalogues import load_catalogues
from dancu_bus.admin.topics import apply_topics
from dancu_bus.audit import run_audit
from dancu_bus.catalogues import load_entries
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Citizen
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.resolver import agency_directory, run_resolver
from dancu_bus.settings import (
    AuditSettings,
    DeadLetterSettings,
    KafkaSettings,
    ResolverSettings,
    Settings,
    StoreSettings,
)
from dancu_bus.store import open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.topic_names import TopicNames
from tests.keys import AGENCIES_FILE, OPERATOR_KEY_FILE, sample_agencies

CITIZENS = 3_000


@dataclass(frozen=True)
class Deployment:
    """What a test needs to talk to a running deployment."""

    settings: Settings
    names: TopicNames
    codec: Codec
    people: list[Citizen]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deployment_settings(
    kafka: KafkaSettings, data_dir: Path, audit: Mapping[str, object] | None = None
) -> Settings:
    """Settings of a deployment isolated by a unique topic prefix and group ids; ``audit`` overrides."""
    prefix = f"it{uuid.uuid4().hex[:8]}.dancu"
    return Settings(
        kafka=kafka.model_copy(update={"topic_prefix": prefix}),
        store=StoreSettings(path=data_dir / "population.sqlite3"),
        resolver=ResolverSettings(
            group_id=f"{prefix}.resolver", agencies_file=AGENCIES_FILE, metrics_port=free_port()
        ),
        audit=AuditSettings.model_validate(
            {"group_id": f"{prefix}.audit", "metrics_port": free_port(), **(audit or {})}
        ),
        dead_letters=DeadLetterSettings(operator_key=OPERATOR_KEY_FILE),
    )


async def _prepare(settings: Settings) -> list[Citizen]:
    async with open_store(settings.store, create=True) as store:
        await seed_store(store, CITIZENS, seed=7)
        return list(await store.sample(CITIZENS))


async def _serve(settings: Settings, codec: Codec, stop: asyncio.Event, started: threading.Event) -> None:
    async with agency_directory(settings, codec.schemas) as directory, open_store(settings.store) as store:
        started.set()
        await asyncio.gather(
            run_resolver(settings, directory, store, codec, stop), run_audit(settings, codec, stop)
        )


@contextmanager
def running_deployment(
    kafka: KafkaSettings, data_dir: Path, audit: Mapping[str, object] | None = None
) -> Iterator[Deployment]:
    """Topics applied, store seeded, resolver and audit running in a background event loop."""
    settings = deployment_settings(kafka, data_dir, audit)
    agencies = sample_agencies()
    apply_topics(settings.kafka, [a.id for a in agencies], replication_factor=1)
    load_catalogues(settings.kafka, platform_codec(), load_entries())  # the resolver validates codes
    AgencyAdmin(settings.kafka, RegistryCodec(load_schemas(OPERATIONS))).import_agencies(
        agencies, by="integration-tests"
    )
    people = asyncio.run(_prepare(settings))
    codec = platform_codec()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(_serve(settings, codec, stop, started),))
    thread.start()
    started.wait(30)
    try:
        yield Deployment(settings, TopicNames(settings.kafka.topic_prefix), codec, people)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
        delete_topics(settings.kafka, describe(settings.kafka, settings.kafka.topic_prefix + "."))
