"""The SMS adapter's process: MOs in, SELF requests through the SDK as agency ``sms``, MT replies out.

At least once: a batch's replies (and dead letters) are on the broker before its offsets are
committed (``transport.run_at_least_once``); only a crash between the two answers an MO again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

from prometheus_client import CollectorRegistry

from dancu_bus.codec import Codec
from dancu_bus.errors import CodecError, DancuError
from dancu_bus.health import HealthServer
from dancu_bus.sdk import AsyncClient, ClientConfig, Context, label
from dancu_bus.settings import Settings
from dancu_bus.sms.desk import Ask, Desk, Reply
from dancu_bus.sms.metrics import DEAD_LETTER, SILENT, SmsMetrics
from dancu_bus.sms.segments import reassemble, segments
from dancu_bus.sms.wire import Mo, Mt, SmsWire
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import DeadLetters, Incoming, Outgoing, WorkerOptions, operator_key, supervise
from dancu_bus.transport.at_least_once import run_at_least_once

__all__ = ["SmsAdapter", "run_sms"]

log = logging.getLogger(__name__)
Planned = tuple[Mo, Reply | Ask | None] | Outgoing
"""An MO and what to do with it, or its dead letter."""


class SmsAdapter:
    """Answers a batch of MO records: the replies to write, and a dead letter for each unusable one."""

    def __init__(
        self, settings: Settings, codec: Codec, client: AsyncClient, dead: DeadLetters, metrics: SmsMetrics
    ) -> None:
        self._settings = settings.sms
        self._metrics = metrics
        self._names = TopicNames(settings.kafka.topic_prefix)
        self._wire = SmsWire(codec.schemas)
        self._client = client
        self._dead = dead
        self._desk = Desk(settings.sms, label)

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """Decide each MO in order (the rate limits count them so), then ask the resolver concurrently."""
        now = time.monotonic()
        planned = [(record, self._isolated(partial(self._plan, record, now), record)) for record in batch]
        done = await asyncio.gather(*(self._answered(record, p) for record, p in planned))
        return [o for o in done if o is not None]

    def _isolated(self, plan: Callable[[], Planned], record: Incoming) -> Planned:
        """One MO's plan; a failure of the platform's code with it is that MO's dead letter alone."""
        try:
            return plan()
        except Exception as exc:  # one MO's failure must not stop the channel
            log.exception("planning the reply to an MO failed")
            return self._dead_letter(record, "HANDLER_FAILED", repr(exc))

    async def _answered(self, record: Incoming, planned: Planned) -> Outgoing | None:
        try:
            return await self._answer(planned)
        except Exception as exc:  # as in _isolated
            log.exception("replying to an MO failed")
            return self._dead_letter(record, "HANDLER_FAILED", repr(exc))

    def _plan(self, record: Incoming, now: float) -> Planned:
        if record.unreadable is not None:
            return self._dead_letter(record, "UNREADABLE_BATCH", record.unreadable.detail)
        if record.value is not None and len(record.value) > self._settings.max_message_bytes:
            return self._dead_letter(record, "TOO_LARGE", f"{len(record.value)} bytes")
        try:
            mo = self._wire.decode_mo(record.value)
        except CodecError as exc:
            return self._dead_letter(record, exc.code, str(exc))
        return mo, self._desk.decide(mo, now)

    async def _answer(self, planned: Planned) -> Outgoing | None:
        if isinstance(planned, Outgoing):
            return planned
        mo, decision = planned
        if decision is None:
            self._metrics.messages.labels(SILENT).inc()
            return None
        reply = decision if isinstance(decision, Reply) else await self._ask(mo, decision)
        return self._mt(mo, reply)

    async def _ask(self, mo: Mo, ask: Ask) -> Reply:
        context = Context(
            "sms", mo.gateway_message_id, self._settings.purpose_code, self._settings.legal_basis
        )
        self._metrics.lookups.inc()
        try:
            response = await self._client.request(self._client.build(ask.query, context))
        except DancuError as exc:
            log.warning("no answer to an SMS lookup: %s", exc)
            return self._desk.answered(None)
        return self._desk.answered(response)

    def _mt(self, mo: Mo, reply: Reply) -> Outgoing:
        reference = zlib.crc32(mo.gateway_message_id.encode()) % 256
        parts = segments(reply.text, reference, self._settings.max_segments)
        self._metrics.messages.labels(reply.kind.value).inc()
        self._metrics.segments.labels(parts[0].encoding.value).inc(len(parts))
        mt = Mt(
            message_id=str(uuid.uuid4()),
            recipient=mo.sender,
            short_code=mo.short_code,
            in_reply_to=mo.gateway_message_id,
            kind=reply.kind,
            text=reassemble(parts),  # the text as cut to the segments
            segments=parts,
            sent_at=datetime.now(UTC),
        )
        return Outgoing(self._names.sms_mt, mo.sender.encode(), self._wire.encode_mt(mt))

    def _dead_letter(self, record: Incoming, code: str, detail: str) -> Outgoing:
        self._metrics.messages.labels(DEAD_LETTER).inc()
        log.warning(
            "an MO record at %s/%d/%d is unusable: %s", record.topic, record.partition, record.offset, code
        )
        return self._dead.outgoing(self._names.dead_letters, record, code, detail)


async def run_sms(settings: Settings, codec: Codec, stop: asyncio.Event) -> None:
    """Serve the SMS channel until ``stop``, with health and metrics on ``DANCU_SMS__METRICS_PORT``.

    A worker that fails (the cluster gone, say) is logged and started again from the last commit.
    """
    config = ClientConfig(
        settings.sms.agency,
        kafka=settings.kafka,
        timeout_s=settings.sms.answer_timeout_s,
        answer_keys=settings.sdk.answer_keys,
    )
    dead = DeadLetters(codec, operator_key(settings.dead_letters), "sms")
    topic = TopicNames(settings.kafka.topic_prefix).sms_mo
    options = WorkerOptions(pattern=topic, max_records=settings.sms.max_batch)
    registry = CollectorRegistry()
    metrics = SmsMetrics(registry)
    serving: list[bool] = []

    async def ready() -> str | None:
        problem = None if serving else "not reading the MO topic yet"
        metrics.service.ready.set(0 if problem else 1)
        return problem

    async def run() -> None:
        serving.append(True)
        try:
            await run_at_least_once(settings.kafka, settings.sms.group_id, adapter, stop, options)
        finally:
            serving.pop()

    def failed(exc: BaseException) -> None:
        log.warning("the SMS adapter's worker failed (%s: %s); it starts again", type(exc).__name__, exc)

    async with (
        AsyncClient(config, codec) as client,
        HealthServer(registry, ready, settings.sms.metrics_port, settings.metrics_host),
    ):
        adapter = SmsAdapter(settings, codec, client, dead, metrics)
        log.info("the SMS adapter answers %s as agency %s", topic, settings.sms.agency)
        await supervise(run, stop, failed)
