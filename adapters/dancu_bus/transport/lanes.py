"""Exactly-once batches: the records answering a batch and its offsets commit in one transaction per lane.

Why lanes, and not one transactional id per process: aiokafka commits a transaction's offsets without
the consumer group's generation (TxnOffsetCommit v0, no KIP-447), so the broker cannot tell a member
the group already gave up on from the member that took its partitions over. What the broker can do
is fence a transactional id: initialising an id finishes the open transaction of its previous holder
and refuses that holder's producer from then on. So the transactional id follows the partitions:

- input partitions are dealt into a fixed number of lanes (``lane_of``: CRC-32 of the topic name plus
  the partition number, modulo the lane count), and the group's lane assignor gives every partition
  of one lane to one member; scaling out works up to one member per lane in use;
- each lane is written by its own transactional producer, id ``<prefix>.lane.<n>``. The member that
  gets a lane initialises its id first, which fences any earlier writer and waits for its last
  transaction to finish; only then does it read the lane's committed offsets and seek there, so it
  starts exactly where the last commit left off, even one made by a member the group gave up on;
- a batch's output records and its consumed offsets commit in one transaction per lane. A write that
  fails closes the lane's writer and rewinds the lane's partitions to its last commit; the next
  batch reopens the lane, which reads the committed offsets again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import MessageSizeTooLargeError

from dancu_bus.errors import BrokerError
from dancu_bus.transport.assignor import lane_assignor
from dancu_bus.transport.clients import KafkaClients
from dancu_bus.transport.consuming import Revocations, WorkerOptions, handle_with_retries, next_batch
from dancu_bus.transport.quarantine import Quarantine
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.writers import WRITE_ERRORS, FencedWriters, open_with_retries

__all__ = ["LaneHandler", "LaneWorker", "Lanes", "running_lane_worker"]

log = logging.getLogger(__name__)

_Outcome: TypeAlias = bool | Exception
"""A lane write's end: True when committed; False, or the broker's size refusal, when rewound."""


@dataclass(frozen=True, slots=True)
class Lanes:
    """How many lanes the group's partitions are dealt into, and what their transactional ids start with."""

    count: int
    transactional_prefix: str

    def of(self, tp: TopicPartition) -> int:
        """The lane of an input partition: the same in every member and every run."""
        return (zlib.crc32(tp.topic.encode()) + tp.partition) % self.count

    def transactional_id(self, lane: int) -> str:
        """The transactional id of a lane's writer."""
        return f"{self.transactional_prefix}.lane.{lane}"


class LaneHandler(Protocol):
    """What a service does with a batch when every input record gets exactly one output record."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """One record per input record (and its ``also``), in order; raise a retriable DancuError to retry."""

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        """The record (a dead letter) produced instead of an answer when handling ``record`` alone failed."""


class LaneWorker:
    """Runs a LaneHandler over a pattern subscription until stopped; one transaction per lane and batch."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        writers: FencedWriters,
        handler: LaneHandler,
        options: WorkerOptions,
        lanes: Lanes,
        quarantine: Quarantine,
    ) -> None:
        self._consumer = consumer
        self._writers = writers
        self._handler = handler
        self._options = options
        self._lanes = lanes
        self._quarantine = quarantine
        # Per input partition, where a rewind goes: its last committed offset (None: the beginning).
        self._floors: dict[TopicPartition, int | None] = {}
        self._rebalances = 0
        # Per lane its latest write (a lane's writes run one after the other), and the writes of the
        # batch before the one in hand, each with the records it answers.
        self._writes: dict[int, asyncio.Task[_Outcome]] = {}
        self._settling: list[tuple[asyncio.Task[_Outcome], Sequence[Incoming]]] = []

    @property
    def assigned(self) -> bool:
        """Whether this worker owns at least one partition now."""
        return bool(self._consumer.assignment())

    def lost(self, partitions: Collection[TopicPartition]) -> None:
        """Partitions taken away by a rebalance: their lanes are reopened before they are written again."""
        self._rebalances += 1
        # A write in progress may still commit: whoever opens the lane next waits for it, or fences it.
        self._writers.mark_stale({self._lanes.of(tp) for tp in partitions})
        for tp in partitions:
            self._floors.pop(tp, None)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is answered and committed first.

        A batch is handled while the one before it commits, so the broker's round trips do not leave
        the worker idle; each lane still commits its batches one after the other, in order.
        """
        self._consumer.subscribe(pattern=self._options.pattern, listener=Revocations(self.lost))
        try:
            while not stop.is_set():
                batch = await next_batch(self._consumer, self._options)
                if batch:
                    await self._process(batch, stop)
        finally:
            writes, self._settling = self._settling, []
            await self._settle(writes)

    async def _process(self, batch: Sequence[Incoming], stop: asyncio.Event) -> None:
        rebalances = self._rebalances
        opened = await self._open_lanes({self._lanes.of(r.tp) for r in batch}, stop)
        if opened is None or self._rebalances != rebalances:
            return  # stopping, or a new assignment starts again from the last commit, these records included
        # A lane just opened was sought to its last commit: its records are fetched again from there.
        kept = [r for r in batch if self._lanes.of(r.tp) not in opened]
        for part in self._quarantine.split(kept):
            await self._answer(part, stop)

    async def _open_lanes(self, lanes: Collection[int], stop: asyncio.Event) -> set[int] | None:
        """Open the lanes that have no writer; the ones opened, or None when stopped meanwhile."""
        return await open_with_retries(self._writers, lanes, self._open, stop, self._options)

    async def _open(self, lane: int) -> None:
        earlier = self._writes.pop(lane, None)
        if earlier is not None:
            await asyncio.wait([earlier])  # a late failure of the old writer must not close the new one
        await self._writers.open(lane, then=functools.partial(self._seek_to_committed, lane))

    async def _seek_to_committed(self, lane: int) -> None:
        """Read the lane's committed offsets, final now that its earlier writers are fenced, and go there."""
        for tp in self._assigned(lane):
            committed = await self._consumer.committed(KafkaTopicPartition(*tp))
            self._floors[tp] = committed
            await self._seek(tp, committed)

    async def _answer(self, records: Sequence[Incoming], stop: asyncio.Event) -> None:
        """Handle ``records``, start each lane's write, then wait for the writes of the batch before."""
        self._quarantine.hold(records)
        outgoing = await self._outputs(records, stop)
        self._quarantine.release()
        plan: dict[int, tuple[list[Outgoing], dict[TopicPartition, int], list[Incoming]]] = {}
        for record, answer in zip(records, outgoing, strict=True):
            answers, offsets, inputs = plan.setdefault(self._lanes.of(record.tp), ([], {}, []))
            answers += (answer, *answer.also)
            offsets[record.tp] = max(offsets.get(record.tp, 0), record.offset + 1)
            inputs.append(record)
        started: list[tuple[asyncio.Task[_Outcome], Sequence[Incoming]]] = []
        for lane, (answers, offsets, inputs) in plan.items():
            write = asyncio.create_task(self._write_after(self._writes.get(lane), lane, answers, offsets))
            self._writes[lane] = write
            started.append((write, inputs))
        earlier, self._settling = self._settling, started
        await self._settle(earlier)

    async def _write_after(
        self,
        earlier: asyncio.Task[_Outcome] | None,
        lane: int,
        answers: Sequence[Outgoing],
        offsets: Mapping[TopicPartition, int],
    ) -> _Outcome:
        """Write once the lane's earlier write is done; skip it if that one failed (the lane is re-read)."""
        if earlier is not None and await earlier is not True:
            return False
        outcome = await self._write(lane, answers, offsets)
        if outcome is not True:
            await self._rewind(lane)
        return outcome

    async def _settle(self, writes: Sequence[tuple[asyncio.Task[_Outcome], Sequence[Incoming]]]) -> None:
        """Wait for ``writes``; a record the broker refused as too large fails its records' batch."""
        if not writes:
            return
        await asyncio.wait([write for write, _ in writes])
        for write, inputs in writes:
            if isinstance(write.result(), MessageSizeTooLargeError):
                # Writing it again would fail again: the quarantine takes these records apart instead.
                self._quarantine.hold(inputs)
                raise BrokerError("the broker refused a record of this batch as too large", retriable=False)

    async def _outputs(self, records: Sequence[Incoming], stop: asyncio.Event) -> Sequence[Outgoing]:
        """The handler's answers, or the dead letter of a record that already failed alone."""
        detail = self._quarantine.poisoned(records[0]) if len(records) == 1 else None
        if detail is not None:
            return [self._handler.set_aside(records[0], detail)]
        return await handle_with_retries(self._handler, records, stop, self._options)

    async def _write(
        self, lane: int, records: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> _Outcome:
        """True once written; False, or the broker's size refusal, when the lane must be rewound."""
        try:
            await self._writers.write(lane, records, offsets)
        except MessageSizeTooLargeError as exc:
            log.warning("lane %d: the broker refused a record as too large: %s", lane, exc)
            refused: Exception = exc
            return refused
        except WRITE_ERRORS as exc:
            log.warning("writing %d records of lane %d failed, rewinding: %s", len(records), lane, exc)
            return False
        self._floors.update(offsets)
        return True

    async def _rewind(self, lane: int) -> None:
        """Close the lane's writer and re-read its partitions from their last commit."""
        await self._writers.drop(lane)
        for tp in self._assigned(lane):
            if tp in self._floors:
                await self._seek(tp, self._floors[tp])

    def _assigned(self, lane: int) -> list[TopicPartition]:
        owned = [TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()]
        return sorted(tp for tp in owned if self._lanes.of(tp) == lane)

    async def _seek(self, tp: TopicPartition, offset: int | None) -> None:
        if offset is None:
            await self._consumer.seek_to_beginning(KafkaTopicPartition(*tp))
        else:
            self._consumer.seek(KafkaTopicPartition(*tp), offset)


@asynccontextmanager
async def running_lane_worker(
    clients: KafkaClients,
    group_id: str,
    handler: LaneHandler,
    options: WorkerOptions,
    lanes: Lanes,
    quarantine: Quarantine,
) -> AsyncIterator[LaneWorker]:
    """A lane worker whose consumer is started, and whose consumer and writers stop on the way out."""
    assignor = lane_assignor(lambda topic, partition: lanes.of(TopicPartition(topic, partition)), lanes.count)
    group_consumer = clients.consumer(group_id, options.max_records, assignors=(assignor,))
    writers = FencedWriters(clients, group_id, lanes.transactional_id)
    await group_consumer.start()
    try:
        yield LaneWorker(group_consumer, writers, handler, options, lanes, quarantine)
    finally:
        try:
            await group_consumer.stop()
        finally:
            await writers.close()
