"""The consume → handle → produce → commit loop shared by the resolver and the audit consumer."""

from __future__ import annotations

import asyncio
import logging
import random
import zlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from dancu_bus.errors import DancuError
from dancu_bus.transport.clients import KafkaClients
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.unreadable import unreadable_of

__all__ = ["BatchHandler", "BatchWorker", "Revocations", "WorkerOptions", "running_worker"]

log = logging.getLogger(__name__)

_LOG_APPEND_TIME = 1  # a record's timestamp_type: 0 the producer's time, 1 the broker's


class BatchHandler(Protocol):
    """What a service does with a batch; it answers bad input itself and never raises for it."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """Records to produce for this batch; raise a retriable DancuError to have it retried."""

    def committable(self, consumed: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """The offsets that may be committed, given the next offset consumed per partition."""

    def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        """Forget state of partitions this worker no longer owns."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What to consume and how patiently."""

    pattern: str
    max_records: int = 500
    poll_timeout_ms: int = 200
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    # How often a worker that acts on time (the audit) is called without records when none arrive.
    tick_s: float = 1.0


class Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells ``revoked`` which partitions a rebalance took away, as plain TopicPartitions."""

    def __init__(self, revoked: Callable[[list[TopicPartition]], None]) -> None:
        self._revoked = revoked

    async def on_partitions_revoked(self, revoked: Collection[Any]) -> None:
        self._revoked([TopicPartition(tp.topic, tp.partition) for tp in revoked])

    async def on_partitions_assigned(self, assigned: Collection[Any]) -> None:
        log.info("assigned %d partitions", len(assigned))


class BatchWorker:
    """Runs a handler over a pattern subscription until told to stop, then drains and commits."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        handler: BatchHandler,
        options: WorkerOptions,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._handler = handler
        self._options = options

    @property
    def assigned(self) -> bool:
        """Whether this worker owns at least one partition now."""
        return bool(self._consumer.assignment())

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished and committed first.

        One batch is handled while the one before it is being acknowledged and committed, so the
        broker's round trips do not leave the worker idle; commits stay in order.
        """
        self._consumer.subscribe(
            pattern=self._options.pattern, listener=Revocations(self._handler.on_revoked)
        )
        settling: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                batch = await next_batch(self._consumer, self._options)
                if batch:
                    settling = await self._process(batch, stop, settling)
        finally:
            if settling is not None:
                await settling

    async def _process(
        self, batch: Sequence[Incoming], stop: asyncio.Event, previous: asyncio.Task[None] | None
    ) -> asyncio.Task[None]:
        """Handle and produce ``batch``; once ``previous`` is settled, settle this one in the background."""
        outgoing = await handle_with_retries(self._handler, batch, stop, self._options)
        delivered = await self._send(outgoing)
        if previous is not None:
            await previous
        return asyncio.create_task(self._settle(delivered, batch))

    async def _settle(self, delivered: asyncio.Future[Any], batch: Sequence[Incoming]) -> None:
        await delivered
        await self._commit(batch)

    async def _send(self, outgoing: Sequence[Outgoing]) -> asyncio.Future[Any]:
        """Produce the records as one record batch per partition; the future is done once all are acked.

        Filling aiokafka's batch builders directly skips its per-record ``send`` (a future, an
        accumulator lookup and a pure-Python murmur2 hash each), which cost more than encoding.
        """
        builders: dict[tuple[str, int], Any] = {}
        deliveries = []
        counts: dict[str, int] = {}
        for record in outgoing:
            where = (record.topic, await self._partition(record, counts))
            builder = builders.get(where)
            if builder is None or _append(builder, record) is None:
                if builder is not None:
                    deliveries.append(await self._submit(builder, where))
                builders[where] = builder = self._producer.create_batch()
                _append(builder, record)
        for where, builder in builders.items():
            deliveries.append(await self._submit(builder, where))
        return asyncio.gather(*deliveries)

    async def _partition(self, record: Outgoing, counts: dict[str, int]) -> int:
        if record.partition is not None:
            return record.partition
        if record.topic not in counts:
            counts[record.topic] = len(await self._producer.partitions_for(record.topic))
        return partition_of(record.key, counts[record.topic])

    async def _submit(self, builder: Any, where: tuple[str, int]) -> Any:
        builder.close()  # a closed batch is sent at once instead of lingering
        return await self._producer.send_batch(builder, where[0], partition=where[1])

    async def _commit(self, batch: Sequence[Incoming]) -> None:
        consumed: dict[TopicPartition, int] = {}
        for record in batch:
            consumed[record.tp] = max(consumed.get(record.tp, 0), record.offset + 1)
        offsets = self._handler.committable(consumed)
        if not offsets:
            return
        try:
            await self._consumer.commit({KafkaTopicPartition(*tp): o for tp, o in offsets.items()})
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions; their new owner re-reads from the last commit.
            log.warning("commit failed, records will be re-read by their new owner: %s", exc)


def _append(builder: Any, record: Outgoing) -> Any:
    """Add a record to a batch builder; None when the batch is full."""
    return builder.append(timestamp=None, key=record.key, value=record.value, headers=list(record.headers))


def partition_of(key: bytes | None, count: int) -> int:
    """The partition of a keyed record as librdkafka (the SDK, the admin tools) chooses it: CRC-32 of the key.

    A response thus lands on the partition number of its request when both topics have as many.
    """
    if key is None:
        return random.randrange(count)
    return zlib.crc32(key) % count


class _Handles(Protocol):
    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]: ...


async def handle_with_retries(
    handler: _Handles, batch: Sequence[Incoming], stop: asyncio.Event, options: WorkerOptions
) -> Sequence[Outgoing]:
    """The handler's output for ``batch``, retried with backoff while it raises retriable errors.

    Once ``stop`` is set the error is raised instead: the batch stays uncommitted for the next start.
    """
    delay = options.retry_initial_s
    while True:
        try:
            return await handler.handle(batch)
        except DancuError as exc:
            if not exc.retriable or stop.is_set():
                raise
            log.warning("retrying a batch of %d in %.1f s: %s", len(batch), delay, exc)
        # The batch waits for the store to come back; a stop signal still ends the wait.
        await sleep_unless(stop, delay)
        delay = min(delay * 2, options.retry_max_s)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


async def next_batch(consumer: AIOKafkaConsumer, options: WorkerOptions) -> list[Incoming]:
    """The records fetched within the poll timeout (up to ``max_records``), in one list; maybe none."""
    fetched = await consumer.getmany(timeout_ms=options.poll_timeout_ms, max_records=options.max_records)
    return [incoming(m) for messages in fetched.values() for m in messages]


def incoming(message: Any) -> Incoming:
    """The plain record of an aiokafka message (or of the stand-in for a batch that could not be read)."""
    return Incoming(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
        log_append_time=message.timestamp_type == _LOG_APPEND_TIME,
        unreadable=unreadable_of(message),
    )


@asynccontextmanager
async def running_worker(
    clients: KafkaClients, group_id: str, handler: BatchHandler, options: WorkerOptions
) -> AsyncIterator[BatchWorker]:
    """A worker whose consumer and producer are started, and stopped on the way out."""
    kafka_producer = clients.producer()
    kafka_consumer = clients.consumer(group_id, options.max_records)
    await kafka_producer.start()
    try:
        await kafka_consumer.start()
        try:
            yield BatchWorker(kafka_consumer, kafka_producer, handler, options)
        finally:
            await kafka_consumer.stop()
    finally:
        await kafka_producer.stop()
