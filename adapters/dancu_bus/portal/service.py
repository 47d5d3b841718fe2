"""``dancu-bus portal``: reads ``{prefix}.portal.req``, answers each request on ``{prefix}.portal.res``.

At least once: a batch's answers are written, then its offsets committed, so a crash in between
answers those requests again (a CITIZEN_INFO asked again is a second, audited exchange). A record
that cannot be read, is larger than ``max_request_bytes`` or names no request or session to answer
is a dead letter on ``{prefix}.dlq``, and the adapter goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from dancu_bus.codec import Codec, SchemaSet
from dancu_bus.health import HealthServer
from dancu_bus.metrics import ServiceMetrics
from dancu_bus.portal.adapter import AskResolver, History, PortalAdapter, Unanswerable
from dancu_bus.portal.citizen import resolver_asker
from dancu_bus.portal.history import AgencyNames, HistoryPage, history_page
from dancu_bus.portal.requests import HistoryAsk
from dancu_bus.portal.wire import PORTAL_RESPONSE, response_record
from dancu_bus.registry import RegistryCodec, RegistryView
from dancu_bus.sdk import AsyncClient, ClientConfig
from dancu_bus.settings import Settings
from dancu_bus.store.audit_index import AuditIndex, open_audit_index
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import (
    DeadLetters,
    Incoming,
    Outgoing,
    WorkerOptions,
    consumer,
    following,
    operator_key,
    producer,
)
from dancu_bus.transport.consuming import next_batch

__all__ = [
    "PortalMetrics",
    "PortalService",
    "portal_adapter",
    "portal_history",
    "registry_names",
    "run_portal",
    "serve_portal",
]

log = logging.getLogger(__name__)


class PortalMetrics:
    """The adapter's answers and dead letters; labels from closed sets only (service, status)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.service = ServiceMetrics(registry, "portal")
        self.answers = Counter(
            "dancu_portal_answers",
            "Portal requests answered, by service and status",
            ["service", "status"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "dancu_portal_dead_letters", "Portal records set aside as dead letters", registry=registry
        )


class PortalService:
    """What answers one record: the adapter, the dead letters, the topics, the metrics."""

    def __init__(
        self, settings: Settings, adapter: PortalAdapter, dead_letters: DeadLetters, metrics: PortalMetrics
    ) -> None:
        self._names = TopicNames(settings.kafka.topic_prefix)
        self._max_bytes = settings.portal.max_request_bytes
        self._adapter = adapter
        self._dead_letters = dead_letters
        self._metrics = metrics

    async def answered(self, record: Incoming) -> Outgoing:
        """The record's answer on the response topic, or its dead letter."""
        if record.unreadable is not None:
            return self._set_aside(record, "UNREADABLE_BATCH", record.unreadable.detail)
        if record.value is not None and len(record.value) > self._max_bytes:
            return self._set_aside(
                record, "TOO_LARGE", f"{len(record.value)} bytes, more than {self._max_bytes}"
            )
        try:
            response = await self._adapter.answer(record.value)
        except Unanswerable as exc:
            return self._set_aside(record, exc.code, exc.detail)
        self._metrics.answers.labels(response.service.value, response.status.value).inc()
        value = self._adapter.schemas.encode(PORTAL_RESPONSE, response_record(response))
        return Outgoing(self._names.portal_res, response.session_id.encode("ascii"), value)

    def _set_aside(self, record: Incoming, code: str, detail: str) -> Outgoing:
        log.warning(
            "portal record %s[%d]@%d set aside: %s", record.topic, record.partition, record.offset, code
        )
        self._metrics.dead_letters.inc()
        return self._dead_letters.outgoing(self._names.dead_letters, record, code, detail)


async def run_portal(
    settings: Settings,
    adapter: PortalAdapter,
    dead_letters: DeadLetters,
    stop: asyncio.Event,
    registry: CollectorRegistry | None = None,
) -> None:
    """Answer the portal's requests until ``stop`` is set; the batch in hand is answered and committed.

    With ``registry``, serves ``/metrics``, ``/healthz`` and ``/readyz`` on ``portal.metrics_port``.
    """
    portal = settings.portal
    metrics = PortalMetrics(registry or CollectorRegistry())
    service = PortalService(settings, adapter, dead_letters, metrics)
    reading = consumer(settings.kafka, portal.group_id, portal.max_batch)
    writing = producer(settings.kafka)

    async def ready() -> str | None:
        owned = bool(reading.assignment())
        metrics.service.ready.set(1 if owned else 0)
        return None if owned else "no partition of the portal's requests is assigned yet"

    await writing.start()
    try:
        await reading.start()
        try:
            reading.subscribe([TopicNames(settings.kafka.topic_prefix).portal_req])
            async with contextlib.AsyncExitStack() as serving:
                if registry is not None:
                    await serving.enter_async_context(
                        HealthServer(registry, ready, portal.metrics_port, settings.metrics_host)
                    )
                await _serve(
                    reading, writing, WorkerOptions(pattern="", max_records=portal.max_batch), service, stop
                )
        finally:
            await reading.stop()
    finally:
        await writing.stop()


async def _serve(
    reading: Any, writing: Any, options: WorkerOptions, service: PortalService, stop: asyncio.Event
) -> None:
    """Fetch, answer every record of the batch, write the answers, then commit; until ``stop``."""
    while not stop.is_set():
        batch = await next_batch(reading, options)
        if not batch:
            continue
        outgoing = await asyncio.gather(*(service.answered(r) for r in batch))
        sent = [await writing.send(o.topic, o.value, key=o.key, headers=list(o.headers)) for o in outgoing]
        await asyncio.gather(*sent)
        await reading.commit()


async def serve_portal(
    settings: Settings, codec: Codec, stop: asyncio.Event, registry: CollectorRegistry | None = None
) -> None:
    """The adapter as a service: agency ``portal``'s SDK client, the audit index, the followed registry."""
    portal = settings.portal
    config = ClientConfig(
        portal.agency, settings.kafka, timeout_s=portal.answer_timeout_s, answer_keys=portal.answer_keys
    )
    dead_letters = DeadLetters(codec, operator_key(settings.dead_letters), failed_by="portal")
    async with (
        AsyncClient(config, codec) as client,
        portal_adapter(settings, codec.schemas, resolver_asker(client, portal)) as adapter,
    ):
        await run_portal(settings, adapter, dead_letters, stop, registry)


@asynccontextmanager
async def portal_adapter(
    settings: Settings, schemas: SchemaSet, ask: AskResolver
) -> AsyncIterator[PortalAdapter]:
    """The adapter over the configured audit index and the followed registry, for as long as the context."""
    view = RegistryView(RegistryCodec(schemas))
    registry = TopicNames(settings.kafka.topic_prefix).registry
    async with following(settings.kafka, {registry: view.apply}), open_audit_index(settings) as index:
        history = portal_history(index, registry_names(view))
        yield PortalAdapter(schemas, ask, history, settings.portal.max_page_size)


def portal_history(index: AuditIndex, names: AgencyNames) -> History:
    """The adapter's History over an open audit index and the registry's agency names."""

    async def page(personal_id: str, ask: HistoryAsk, now: datetime) -> HistoryPage:
        return await history_page(index, personal_id, ask, names, now)

    return page


def registry_names(view: RegistryView) -> AgencyNames:
    """Agency names and official codes as the followed registry has them now (its id when unknown)."""

    def named(agency_id: str) -> tuple[str, str | None]:
        agency = view.record(agency_id)
        return (agency_id, None) if agency is None else (agency.name, agency.code)

    return named
