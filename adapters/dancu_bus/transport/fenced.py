"""A worker whose every output partition has exactly one writer, fenced, writing in one order.

A consumer group gives each input partition to one member, but a member the group gave up on (a
long pause, a network split) may still be finishing its batch. Where an output partition must be
written by one writer in one order (the audit's hash chain), ownership is not enough, so:

- the group uses the co-locating assignor: all input topics of one output partition go to one member;
- each output partition is written by its own transactional producer, with the transactional id
  ``<group>.<topic>.<partition>``. The member taking a partition over initialises that id first,
  which finishes or aborts the previous writer's open transaction and fences it for good; only then
  does it read the partition's last committed record, so it continues exactly where the chain stands;
- output records and the consumed offsets of their input partitions commit in one transaction. A
  write that fails closes that writer and rewinds its inputs to the last commit, and the next batch
  opens a new writer, which reads the tail again: a failure never leaves a fork or a hole behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition

from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.assignor import colocating_assignor
from dancu_bus.transport.kafka import consumer
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.tail import offer_tail
from dancu_bus.transport.worker import Revocations, WorkerOptions, handle_with_retries, next_batch
from dancu_bus.transport.writers import WRITE_ERRORS, FencedWriters, open_with_retries

__all__ = ["FencedHandler", "FencedWorker", "running_fenced_worker"]

log = logging.getLogger(__name__)


class FencedHandler(Protocol):
    """What a service does when each output partition has one writer; never raises for bad input."""

    def output_partition(self, topic: str) -> int:
        """The output partition of everything read from ``topic``."""

    def resume(self, partition: int, last: Incoming | None) -> bool:
        """Continue ``partition`` after ``last``, its newest record (None if empty); False: offer older."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """Records to write, each naming its output partition; raise a retriable DancuError to retry."""

    def committable(self, consumed: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """The offsets that may be committed, given the next offset consumed per partition."""

    def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        """Forget state of input partitions this worker no longer reads from where it stood."""


class FencedWorker:
    """Runs a FencedHandler over a pattern subscription until told to stop."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        writers: FencedWriters,
        handler: FencedHandler,
        options: WorkerOptions,
        tail: Callable[[int, Callable[[Incoming | None], bool]], Awaitable[None]],
    ) -> None:
        self._consumer = consumer
        self._writers = writers
        # Offers an output partition's committed records, newest first, until one is taken.
        self._tail = tail
        self._handler = handler
        self._options = options
        # Per input partition, where a rewind goes: the last committed offset, or the first one read.
        self._floors: dict[TopicPartition, int] = {}
        self._rebalances = 0

    @property
    def assigned(self) -> bool:
        """Whether this worker owns at least one partition now."""
        return bool(self._consumer.assignment())

    def lost(self, partitions: Collection[TopicPartition]) -> None:
        """Partitions taken away by a rebalance: forget them and reopen their writers if they return."""
        self._rebalances += 1
        self._handler.on_revoked(partitions)
        for tp in partitions:
            self._floors.pop(tp, None)
        self._writers.mark_stale({self._handler.output_partition(tp.topic) for tp in partitions})

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is written and committed first."""
        self._consumer.subscribe(pattern=self._options.pattern, listener=Revocations(self.lost))
        while not stop.is_set():
            batch = await next_batch(self._consumer, self._options)
            if batch:
                await self._process(batch, stop)

    async def _process(self, batch: Sequence[Incoming], stop: asyncio.Event) -> None:
        rebalances = self._rebalances
        owned = {self._handler.output_partition(tp.topic) for tp in self._consumer.assignment()}
        groups = owned | {self._handler.output_partition(r.topic) for r in batch}
        if not await self._open_writers(groups, stop):
            return  # stopping: the batch was not written, so its offsets are not committed either
        if self._rebalances != rebalances:
            return  # the new assignment starts again from the last commit, these records included
        for record in batch:
            self._floors.setdefault(record.tp, record.offset)
        outgoing = await handle_with_retries(self._handler, batch, stop, self._options)
        consumed: dict[TopicPartition, int] = {}
        for record in batch:
            consumed[record.tp] = max(consumed.get(record.tp, 0), record.offset + 1)
        plan = self._plan(outgoing, self._handler.committable(consumed))
        written = await asyncio.gather(*(self._write(p, *work) for p, work in plan.items()))
        for partition, ok in zip(plan, written, strict=True):
            if not ok:
                await self._rewind(partition)

    async def _open_writers(self, partitions: Collection[int], stop: asyncio.Event) -> bool:
        opened = await open_with_retries(self._writers, partitions, self._open, stop, self._options)
        return opened is not None

    async def _open(self, partition: int) -> None:
        resume = functools.partial(self._handler.resume, partition)
        await self._writers.open(partition, then=functools.partial(self._tail, partition, resume))

    def _plan(
        self, outgoing: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> dict[int, tuple[list[Outgoing], dict[TopicPartition, int]]]:
        plan: dict[int, tuple[list[Outgoing], dict[TopicPartition, int]]] = {}
        for record in outgoing:
            partition = record.partition if record.partition is not None else -1
            plan.setdefault(partition, ([], {}))[0].append(record)
        for tp, offset in offsets.items():
            plan.setdefault(self._handler.output_partition(tp.topic), ([], {}))[1][tp] = offset
        return plan

    async def _write(
        self, partition: int, records: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> bool:
        try:
            await self._writers.write(partition, records, offsets)
        except WRITE_ERRORS as exc:
            log.warning(
                "writing %d records to partition %d failed, rewinding: %s", len(records), partition, exc
            )
            return False
        assigned = {TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        self._floors.update({tp: offset for tp, offset in offsets.items() if tp in assigned})
        return True

    async def _rewind(self, partition: int) -> None:
        """Close the partition's writer and re-read its inputs from the last commit, state forgotten."""
        await self._writers.drop(partition)
        inputs = [
            tp
            for tp in self._floors
            if self._handler.output_partition(tp.topic) == partition
            and KafkaTopicPartition(*tp) in self._consumer.assignment()
        ]
        self._handler.on_revoked(inputs)
        for tp in inputs:
            self._consumer.seek(KafkaTopicPartition(*tp), self._floors[tp])


@asynccontextmanager
async def running_fenced_worker(
    kafka: KafkaSettings, group_id: str, output_topic: str, handler: FencedHandler, options: WorkerOptions
) -> AsyncIterator[FencedWorker]:
    """A fenced worker whose consumer is started, and whose consumer and writers stop on the way out."""
    assignor = colocating_assignor(handler.output_partition)
    group_consumer = consumer(kafka, group_id, options.max_records, assignors=(assignor,))
    writers = FencedWriters(kafka, group_id, lambda partition: f"{group_id}.{output_topic}.{partition}")

    async def tail(partition: int, resume: Callable[[Incoming | None], bool]) -> None:
        await offer_tail(kafka, TopicPartition(output_topic, partition), resume)

    await group_consumer.start()
    try:
        yield FencedWorker(group_consumer, writers, handler, options, tail)
    finally:
        try:
            await group_consumer.stop()
        finally:
            await writers.close()
