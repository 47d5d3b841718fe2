"""``dancu-bus portal``: reads ``{prefix}.portal.req``, answers each request on ``{prefix}.portal.res``.

At least once: a batch's answers are written, then its offsets committed, so a crash in between
answers those requests again (a CITIZEN_INFO asked again is a second, audited exchange). A record
that cannot be read, is larger than ``max_request_bytes`` or names no request or session to answer
is a dead letter on ``{prefix}.dlq``, and the adapter goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from dancu_bus.channels.portal.adapter import AskResolver, History, PortalAdapter, Unanswerable
from dancu_bus.channels.portal.history import AgencyNames, HistoryPage, history_page
from dancu_bus.channels.portal.requests import HistoryAsk
from dancu_bus.channels.portal.wire import PORTAL_RESPONSE, response_record
from dancu_bus.codec import SchemaSet
from dancu_bus.registry import RegistryCodec, RegistryView
from dancu_bus.settings import Settings
from dancu_bus.store.audit_index import AuditIndex, open_audit_index
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import DeadLetters, Incoming, Outgoing, WorkerOptions, consumer, following, producer
from dancu_bus.transport.consuming import next_batch

__all__ = ["portal_adapter", "portal_history", "registry_names", "run_portal"]

log = logging.getLogger(__name__)


async def run_portal(
    settings: Settings, adapter: PortalAdapter, dead_letters: DeadLetters, stop: asyncio.Event
) -> None:
    """Answer the portal's requests until ``stop`` is set; the batch in hand is answered and committed."""
    names = TopicNames(settings.kafka.topic_prefix)
    portal = settings.portal
    reading = consumer(settings.kafka, portal.group_id, portal.max_batch)
    writing = producer(settings.kafka)
    options = WorkerOptions(pattern="", max_records=portal.max_batch)
    await writing.start()
    try:
        await reading.start()
        try:
            reading.subscribe([_requests_topic(names)])
            while not stop.is_set():
                batch = await next_batch(reading, options)
                if not batch:
                    continue
                outgoing = await asyncio.gather(
                    *(_answered(adapter, dead_letters, names, settings, r) for r in batch)
                )
                sent = [
                    await writing.send(o.topic, o.value, key=o.key, headers=list(o.headers)) for o in outgoing
                ]
                await asyncio.gather(*sent)
                await reading.commit()
        finally:
            await reading.stop()
    finally:
        await writing.stop()


async def _answered(
    adapter: PortalAdapter, dead_letters: DeadLetters, names: TopicNames, settings: Settings, record: Incoming
) -> Outgoing:
    """The record's answer on the response topic, or its dead letter."""
    if record.unreadable is not None:
        return dead_letters.outgoing(names.dead_letters, record, "UNREADABLE_BATCH", record.unreadable.detail)
    if record.value is not None and len(record.value) > settings.portal.max_request_bytes:
        detail = f"{len(record.value)} bytes, more than {settings.portal.max_request_bytes}"
        return dead_letters.outgoing(names.dead_letters, record, "TOO_LARGE", detail)
    try:
        response = await adapter.answer(record.value)
    except Unanswerable as exc:
        log.warning(
            "portal request %s[%d]@%d set aside: %s", record.topic, record.partition, record.offset, exc.code
        )
        return dead_letters.outgoing(names.dead_letters, record, exc.code, exc.detail)
    value = adapter.schemas.encode(PORTAL_RESPONSE, response_record(response))
    return Outgoing(_responses_topic(names), response.session_id.encode("ascii"), value)


def _requests_topic(names: TopicNames) -> str:
    return names.portal_req


def _responses_topic(names: TopicNames) -> str:
    return names.portal_res


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
