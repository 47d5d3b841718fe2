"""A worker whose every output partition has exactly one writer, fenced, writing in one order.

A consumer group gives each input partition to one member, but a member the group gave up on (a
long pause, a network split) may still be finishing its batch. Where an output partition must be
written by one writer in one order (the audit's hash chain), ownership is not enough, so:

- the group uses the co-locating assignor: all input topics of one output partition go to one member;
- each output partition is written by its own transactional producer, with the transactional id
  ``<group>.<topic>.<partition>``. The member taking a partition over initialises that id first,
  which finishes or aborts the previous writer's open transaction and fences it for good; only then
  does it read what the previous writer left: the partition's last record (where the chain stands),
  the handler's state partition (``state_topic``, the same partition number: what was waiting), and
  the committed offsets of the partition's inputs, where it starts reading;
- output records, state changes and the consumed offsets commit in one transaction. A write that
  fails closes that writer and forgets the partition; the next batch opens it again from the topics:
  a failure never leaves a fork, a hole or a record written twice behind.

Once a transaction commits, the handler learns the offset its last record got in each partition
(``written``: where the chain's head now is, for a signed checkpoint of it).

The handler is also called with no records every ``tick_s`` when nothing arrives (to act on time,
e.g. record a request that got no answer), and may hold topics back (``held``) while it has too much
waiting: their partitions are paused until it has not.

A record whose handling fails for a reason nobody foresaw goes through the ``Quarantine`` as in the
exactly-once worker: the batch is retried record by record after the restart, and a record that fails alone
is written as the handler's ``set_aside`` (a dead letter) with its offset committed past it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import MessageSizeTooLargeError, ProducerFenced

from dancu_bus.errors import BrokerError
from dancu_bus.transport.assignor import colocating_assignor
from dancu_bus.transport.clients import KafkaClients
from dancu_bus.transport.consuming import Revocations, WorkerOptions, handle_with_retries, next_batch
from dancu_bus.transport.quarantine import Quarantine
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.tail import offer_tail, read_partition
from dancu_bus.transport.writers import WRITE_ERRORS, FencedWriters, open_with_retries

__all__ = ["FencedHandler", "FencedTopics", "FencedWorker", "running_fenced_worker"]

log = logging.getLogger(__name__)


class FencedHandler(Protocol):
    """What a service does when each output partition has one writer; never raises for bad input."""

    def output_partition(self, topic: str) -> int:
        """The output partition of everything read from ``topic``."""

    def resume(self, partition: int, last: Incoming | None) -> bool:
        """Continue ``partition`` after ``last``, its newest record (None if empty); False: offer older."""

    def restore(self, partition: int, state: Sequence[Incoming]) -> None:
        """Take up ``partition`` with its state records, oldest first (compacted: the last per key counts)."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """Records to write, each naming its writer; raise a retriable DancuError to retry. May be empty."""

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        """What is written instead (a dead letter naming its writer) when handling ``record`` alone failed."""

    def forget(self, partitions: Collection[int]) -> None:
        """Drop the state of output partitions this worker no longer writes (or must reload)."""

    def held(self, topic: str) -> bool:
        """Whether reading ``topic`` waits for now (too much is waiting for its other half)."""

    def written(self, partition: int, last: Mapping[TopicPartition, int]) -> None:
        """The transaction of ``partition`` committed: the offset of its last record in each partition."""


@dataclass(frozen=True, slots=True)
class FencedTopics:
    """Where a fenced worker writes: its output topic and the topic of its handler's state."""

    output: str
    state: str


class FencedWorker:
    """Runs a FencedHandler over a pattern subscription until told to stop."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        writers: FencedWriters,
        handler: FencedHandler,
        options: WorkerOptions,
        take_over: Callable[[int], Awaitable[Collection[TopicPartition]]],
        quarantine: Quarantine,
    ) -> None:
        self._consumer = consumer
        self._writers = writers
        self._handler = handler
        self._options = options
        # Reads what the last writer of an output partition left (chain head, state); its inputs then.
        self._take_over = take_over
        self._quarantine = quarantine
        self._rebalances = 0
        self._last_tick = time.monotonic()

    @property
    def assigned(self) -> bool:
        """Whether this worker owns at least one partition now."""
        return bool(self._consumer.assignment())

    def lost(self, partitions: Collection[TopicPartition]) -> None:
        """Partitions taken away by a rebalance: forget their outputs and reopen them if they return."""
        self._rebalances += 1
        outputs = {self._handler.output_partition(tp.topic) for tp in partitions}
        self._handler.forget(outputs)
        self._writers.mark_stale(outputs)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is written and committed first."""
        events = self._options.events
        listener = Revocations(self.lost, events, lambda: len(self._consumer.assignment()))
        self._consumer.subscribe(pattern=self._options.pattern, listener=listener)
        while not stop.is_set():
            batch = await next_batch(self._consumer, self._options)
            if batch or self._tick_due():
                await self._process(batch, stop)
            self._hold_back()

    def _tick_due(self) -> bool:
        return time.monotonic() - self._last_tick >= self._options.tick_s

    async def _process(self, batch: Sequence[Incoming], stop: asyncio.Event) -> None:
        self._last_tick = time.monotonic()
        rebalances = self._rebalances
        owned = {self._handler.output_partition(tp.topic) for tp in self._consumer.assignment()}
        groups = owned | {self._handler.output_partition(r.topic) for r in batch}
        opened = await open_with_retries(self._writers, groups, self._open, stop, self._options)
        if opened is None or self._rebalances != rebalances:
            return  # stopping, or a new assignment starts again from the last commit, these records included
        # An output partition just opened sought its inputs to their last commit: fetched again from there.
        kept = [r for r in batch if self._handler.output_partition(r.topic) not in opened]
        consumed: dict[TopicPartition, int] = {}
        for record in kept:
            consumed[record.tp] = max(consumed.get(record.tp, 0), record.offset + 1)
        await self._write_all(self._plan(await self._outputs(kept, stop), consumed), kept)

    async def _write_all(
        self, plan: Mapping[int, tuple[list[Outgoing], dict[TopicPartition, int]]], kept: Sequence[Incoming]
    ) -> None:
        """Write each output partition's share; rewind those that failed; a size refusal fails the batch."""
        written = await asyncio.gather(*(self._write(p, *work) for p, work in plan.items()))
        for partition, outcome in zip(plan, written, strict=True):
            if outcome is not True:
                await self._rewind(partition)
        refused = {p for p, outcome in zip(plan, written, strict=True) if isinstance(outcome, Exception)}
        if refused:
            # Writing them again would fail again: the quarantine takes these records apart instead.
            self._quarantine.hold([r for r in kept if self._handler.output_partition(r.topic) in refused])
            raise BrokerError("the broker refused a record of this batch as too large", retriable=False)

    async def _outputs(self, records: Sequence[Incoming], stop: asyncio.Event) -> list[Outgoing]:
        """The handler's output for ``records``, suspects' records alone; called even with none (a tick)."""
        outgoing: list[Outgoing] = []
        for part in self._quarantine.split(records) or [[]]:
            self._quarantine.hold(part)
            outgoing += await self._handled(part, stop)
            self._quarantine.release()
        return outgoing

    async def _handled(self, part: Sequence[Incoming], stop: asyncio.Event) -> Sequence[Outgoing]:
        """The handler's output, or the set-aside record of one that already failed alone."""
        detail = self._quarantine.poisoned(part[0]) if len(part) == 1 else None
        if detail is not None:
            log.error("setting aside %s[%d]@%d: %s", part[0].topic, part[0].partition, part[0].offset, detail)
            self._options.events.set_aside()
            return [self._handler.set_aside(part[0], detail)]
        if part:
            self._options.events.handled(len(part))
        return await handle_with_retries(self._handler, part, stop, self._options)

    async def _open(self, partition: int) -> None:
        await self._writers.open(partition, then=functools.partial(self._took_over, partition))

    async def _took_over(self, partition: int) -> None:
        """The previous writer is fenced: its last state is final. Start the inputs at their last commit."""
        for tp in await self._take_over(partition):
            committed = await self._consumer.committed(KafkaTopicPartition(*tp))
            if committed is None:
                await self._consumer.seek_to_beginning(KafkaTopicPartition(*tp))
            else:
                self._consumer.seek(KafkaTopicPartition(*tp), committed)

    def _plan(
        self, outgoing: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> dict[int, tuple[list[Outgoing], dict[TopicPartition, int]]]:
        plan: dict[int, tuple[list[Outgoing], dict[TopicPartition, int]]] = {}
        for record in outgoing:
            writer = record.writer if record.writer is not None else record.partition
            plan.setdefault(-1 if writer is None else writer, ([], {}))[0].append(record)
        for tp, offset in offsets.items():
            plan.setdefault(self._handler.output_partition(tp.topic), ([], {}))[1][tp] = offset
        return plan

    async def _write(
        self, partition: int, records: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> bool | Exception:
        """True once written; False, or the broker's size refusal, when the partition must be rewound."""
        events = self._options.events
        started = time.monotonic()
        try:
            last = await self._writers.write(partition, records, offsets)
        except MessageSizeTooLargeError as exc:
            log.warning("partition %d: the broker refused a record as too large: %s", partition, exc)
            events.aborted("too_large")
            refusal: Exception = exc
            return refusal
        except WRITE_ERRORS as exc:
            log.warning(
                "writing %d records to partition %d failed, rewinding: %s", len(records), partition, exc
            )
            if isinstance(exc, ProducerFenced):
                events.was_fenced()
            events.aborted("fenced" if isinstance(exc, ProducerFenced) else "broker")
            return False
        events.committed(time.monotonic() - started)
        self._handler.written(partition, last)
        return True

    async def _rewind(self, partition: int) -> None:
        """Close the partition's writer and forget it: reopening reads its state and inputs again."""
        await self._writers.drop(partition)
        self._handler.forget({partition})

    def _hold_back(self) -> None:
        """Pause the partitions of held topics, resume the others."""
        assignment = self._consumer.assignment()
        held = {tp for tp in assignment if self._handler.held(tp.topic)}
        paused = self._consumer.paused()
        if held - paused:
            self._consumer.pause(*(held - paused))
        if paused - held:
            self._consumer.resume(*(paused - held))


@asynccontextmanager
async def running_fenced_worker(
    clients: KafkaClients,
    group_id: str,
    topics: FencedTopics,
    handler: FencedHandler,
    options: WorkerOptions,
    quarantine: Quarantine,
) -> AsyncIterator[FencedWorker]:
    """A fenced worker whose consumer is started, and whose consumer and writers stop on the way out."""
    assignor = colocating_assignor(handler.output_partition)
    group_consumer = clients.consumer(group_id, options.max_records, assignors=(assignor,))
    writers = FencedWriters(clients, group_id, lambda partition: f"{group_id}.{topics.output}.{partition}")

    def inputs(partition: int) -> list[TopicPartition]:
        owned = [TopicPartition(tp.topic, tp.partition) for tp in group_consumer.assignment()]
        return sorted(tp for tp in owned if handler.output_partition(tp.topic) == partition)

    async def take_over(partition: int) -> Collection[TopicPartition]:
        resume = functools.partial(handler.resume, partition)
        await offer_tail(clients, TopicPartition(topics.output, partition), resume)
        handler.restore(partition, await read_partition(clients, TopicPartition(topics.state, partition)))
        return inputs(partition)

    await group_consumer.start()
    try:
        yield FencedWorker(group_consumer, writers, handler, options, take_over, quarantine)
    finally:
        try:
            await group_consumer.stop()
        finally:
            await writers.close()
