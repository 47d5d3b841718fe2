"""Fenced transactional writers, one per key (an audit partition), and their batches.

Initialising a transactional id finishes the open transaction of its previous holder and refuses that
holder's producer from then on. Both exactly-once workers rely on it: whoever takes a key over opens
its writer first (``open``), and only then reads where the key's output or offsets stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import IllegalOperation, KafkaError

from dancu_bus.errors import BrokerError
from dancu_bus.transport.clients import KafkaClients
from dancu_bus.transport.consuming import WorkerOptions, sleep_unless
from dancu_bus.transport.records import Outgoing, TopicPartition

__all__ = ["WRITE_ERRORS", "FencedWriters", "open_with_retries", "partition_of"]

log = logging.getLogger(__name__)

WRITE_ERRORS = (KafkaError, IllegalOperation, BrokerError)
"""What a failed open or write raises: the worker rewinds and opens the key again."""


class FencedWriters:
    """One transactional producer per key this member writes; ``transactional_id`` names each key's."""

    def __init__(self, clients: KafkaClients, group_id: str, transactional_id: Callable[[int], str]) -> None:
        self._clients = clients
        self._group_id = group_id
        self._transactional_id = transactional_id
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._stale: set[int] = set()

    def ready(self, key: int) -> bool:
        """Whether ``key`` has a writer opened since this member last lost it."""
        return key in self._producers and key not in self._stale

    def mark_stale(self, keys: Iterable[int]) -> None:
        """These keys may be written by another member now: reopen them before writing again."""
        self._stale.update(keys)

    async def open(self, key: int, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Fence every older writer of ``key`` and wait for its last transaction to end; then ``then``.

        ``then`` (reading where the key's output stands) runs once the older writers can no longer
        write; if it fails, the new writer is closed again.
        """
        await self.drop(key)
        writer = self._clients.producer(transactional_id=self._transactional_id(key))
        try:
            await writer.start()
            async with writer.transaction():
                pass  # beginning waits for the id's initialisation, which is what fences the others
            if then is not None:
                await then()
        except BaseException:
            await _stop_quietly(writer)
            raise
        self._producers[key] = writer
        self._stale.discard(key)

    async def write(
        self, key: int, records: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """Produce ``records`` and commit ``offsets`` for the group, all or nothing.

        Returns the offset of the last record written to each partition, once committed.
        """
        writer = self._producers.get(key)
        if writer is None:
            raise BrokerError(f"no writer is open for {self._transactional_id(key)}")
        async with writer.transaction():
            delivered, counts = await _send_batches(writer, records)
            # If committing the offsets fails, the deliveries' own failure is the same story, told once.
            delivered.add_done_callback(_retrieved)
            if offsets:
                committed = {KafkaTopicPartition(*tp): offset for tp, offset in offsets.items()}
                await writer.send_offsets_to_transaction(committed, self._group_id)
            bases = await delivered
        # A batch's records take consecutive offsets from its base (aiokafka: RecordMetadata.offset).
        last: dict[TopicPartition, int] = {}
        for (where, count), base in zip(counts, bases, strict=True):
            tp = TopicPartition(*where)
            last[tp] = max(last.get(tp, -1), getattr(base, "offset", base) + count - 1)
        return last

    async def drop(self, key: int) -> None:
        """Close the writer of ``key``, if any."""
        writer = self._producers.pop(key, None)
        if writer is not None:
            await _stop_quietly(writer)

    async def close(self) -> None:
        """Close every writer."""
        for key in list(self._producers):
            await self.drop(key)


async def _send_batches(
    writer: AIOKafkaProducer, records: Sequence[Outgoing]
) -> tuple[asyncio.Future[Any], list[tuple[tuple[str, int], int]]]:
    """Hand the records to the producer as one record batch per partition; the future is done once acked.

    Beside the future (each batch's base offset, in order): where each batch went and its record count.

    A record without a partition goes where librdkafka would put its key (``partition_of``), so a
    response lands on the partition number of its request's key; aiokafka's per-record ``send`` is
    skipped for speed.
    """
    counts: dict[str, int] = {}
    builders: dict[tuple[str, int], Any] = {}
    sizes: dict[tuple[str, int], int] = {}
    deliveries = []
    batches: list[tuple[tuple[str, int], int]] = []
    for record in records:
        partition = record.partition
        if partition is None:
            if record.topic not in counts:
                counts[record.topic] = len(await writer.partitions_for(record.topic))
            partition = partition_of(record.key, counts[record.topic])
        where = (record.topic, partition)
        builder = builders.get(where)
        if builder is None or _append(builder, record) is None:
            if builder is not None:
                deliveries.append(await _submit(writer, builder, where))
                batches.append((where, sizes[where]))
            builders[where] = builder = writer.create_batch()
            _append(builder, record)  # an empty batch takes any first record, however large
            sizes[where] = 0
        sizes[where] += 1
    for where, builder in builders.items():
        deliveries.append(await _submit(writer, builder, where))
        batches.append((where, sizes[where]))
    return asyncio.gather(*deliveries), batches


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def partition_of(key: bytes | None, count: int) -> int:
    """The partition of a keyed record as librdkafka (the SDK, the admin tools) chooses it: CRC-32 of the key.

    A response thus lands on the partition number of its request when both topics have as many.
    """
    if key is None:
        return random.randrange(count)
    return zlib.crc32(key) % count


def _append(builder: Any, record: Outgoing) -> Any:
    return builder.append(timestamp=None, key=record.key, value=record.value, headers=list(record.headers))


async def _submit(writer: AIOKafkaProducer, builder: Any, where: tuple[str, int]) -> Any:
    builder.close()  # a closed batch is sent at once instead of lingering
    return await writer.send_batch(builder, where[0], partition=where[1])


async def _stop_quietly(writer: AIOKafkaProducer) -> None:
    # A fenced or disconnected producer may fail to stop cleanly; it is being discarded either way.
    with contextlib.suppress(KafkaError, IllegalOperation):
        await writer.stop()


async def open_with_retries(
    writers: FencedWriters,
    keys: Collection[int],
    open_one: Callable[[int], Awaitable[None]],
    stop: asyncio.Event,
    options: WorkerOptions,
) -> set[int] | None:
    """Open (``open_one``) every key of ``keys`` without a ready writer, retrying with backoff.

    Returns the keys opened now, or None when ``stop`` was set first.
    """
    delay = options.retry_initial_s
    opened: set[int] = set()
    while not stop.is_set():
        try:
            for key in sorted(key for key in keys if not writers.ready(key)):
                await open_one(key)
                opened.add(key)
            return opened
        except WRITE_ERRORS as exc:
            log.warning("cannot open the writers yet, retrying in %.1f s: %s", delay, exc)
        await sleep_unless(stop, delay)
        delay = min(delay * 2, options.retry_max_s)
    return None
