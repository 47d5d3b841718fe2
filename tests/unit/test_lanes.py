"""The lane worker's loop with fake Kafka clients: one transaction per lane, fencing first, rewinds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, cast

import pytest
from aiokafka.errors import MessageSizeTooLargeError, ProducerFenced

from dancu_bus.errors import BrokerError
from dancu_bus.transport import Incoming, Lanes, Outgoing, Quarantine, TopicPartition, WorkerOptions
from dancu_bus.transport.lanes import LaneWorker
from dancu_bus.transport.writers import FencedWriters
from tests.unit.fake_kafka import FakeConsumer

LANES = Lanes(2, "dancu.resolver")
# CRC-32 puts "req.b" in lane 0 and "req.d" in lane 1 (partition 0 each).
B, D = TopicPartition("req.b", 0), TopicPartition("req.d", 0)


class Consumer(FakeConsumer):
    """Owns B and D; B's group committed offset 5, D's nothing yet."""

    assigned = frozenset({B, D})

    def __init__(self, batches: list[list[Incoming]], stop: asyncio.Event) -> None:
        super().__init__(batches, stop)
        self.committed_offsets = {B: 5, D: None}


class Writers:
    """Lane writers that remember what each lane committed; a write to ``failing`` raises ``error`` once."""

    def __init__(self, failing: int = -1, error: Exception | None = None) -> None:
        self.opened: list[int] = []
        self.written: dict[int, list[bytes | None]] = {0: [], 1: []}
        self.offsets: dict[int, dict[TopicPartition, int]] = {0: {}, 1: {}}
        self._open: set[int] = set()
        self._failing = failing
        self._error = error or ProducerFenced()

    def ready(self, lane: int) -> bool:
        return lane in self._open

    def mark_stale(self, lanes: Collection[int]) -> None:
        self._open -= set(lanes)

    async def open(self, lane: int, then: Callable[[], Awaitable[None]] | None = None) -> None:
        self.opened.append(lane)
        if then is not None:
            await then()
        self._open.add(lane)

    async def write(
        self, lane: int, records: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> None:
        if lane == self._failing:
            self._failing = -1
            raise self._error
        self.written[lane] += [r.value for r in records]
        self.offsets[lane].update(offsets)

    async def drop(self, lane: int) -> None:
        self._open.discard(lane)


class Handler:
    """Answers each record with its own value; sets a stop event while handling if given one."""

    def __init__(self, stop_while_handling: asyncio.Event | None = None) -> None:
        self._stop = stop_while_handling
        self.handled: list[list[bytes | None]] = []

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        self.handled.append([r.value for r in batch])
        if self._stop is not None:
            self._stop.set()
        return [Outgoing("out", r.key, r.value) for r in batch]

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        return Outgoing("dlq", record.key, f"aside {record.value!r}: {detail}".encode())


def record(tp: TopicPartition, offset: int) -> Incoming:
    """A consumed record whose value names where it came from."""
    return Incoming(tp.topic, tp.partition, offset, 0, b"k", f"{tp.topic}@{offset}".encode(), ())


def worker(
    consumer: Consumer, writers: Writers, handler: Handler, quarantine: Quarantine | None = None
) -> LaneWorker:
    """A lane worker over the fakes."""
    return LaneWorker(
        cast(Any, consumer),
        cast(FencedWriters, writers),
        handler,
        WorkerOptions("x"),
        LANES,
        quarantine or Quarantine(),
    )


def test_lanes_are_stable_and_spread_partitions() -> None:
    """A partition's lane depends only on its topic and number; consecutive partitions take turns."""
    assert LANES.of(B) == 0 and LANES.of(D) == 1
    assert {Lanes(4, "p").of(TopicPartition("req.b", p)) for p in range(4)} == {0, 1, 2, 3}
    assert LANES.transactional_id(1) == "dancu.resolver.lane.1"


async def test_opening_a_lane_seeks_to_its_commit_and_refetches_the_batch() -> None:
    """Records fetched before their lane was fenced and re-read are dropped; the lane starts at its commit."""
    stop = asyncio.Event()
    consumer, writers = Consumer([[record(B, 3), record(D, 0)]], stop), Writers()
    await worker(consumer, writers, Handler()).run(stop)
    assert writers.opened == [0, 1]
    assert consumer.seeks == {B: 5, D: None}
    assert writers.written == {0: [], 1: []}


async def test_each_lane_commits_its_answers_with_its_offsets() -> None:
    """Answers and next offsets go to the lane of the record answered, in one write per lane."""
    stop = asyncio.Event()
    batches = [[record(B, 5), record(D, 0)], [record(B, 6), record(D, 0), record(B, 7)]]
    consumer, writers = Consumer(batches, stop), Writers()
    handler = Handler()
    await worker(consumer, writers, handler).run(stop)
    assert writers.written == {0: [b"req.b@6", b"req.b@7"], 1: [b"req.d@0"]}
    assert writers.offsets == {0: {B: 8}, 1: {D: 1}}
    assert handler.handled == [[b"req.b@6", b"req.d@0", b"req.b@7"]]


class Reporter(Handler):
    """Answers each record and adds a side record (``also``) to the answer of every record of topic B."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        answers = await super().handle(batch)
        return [
            Outgoing(a.topic, a.key, a.value, also=(Outgoing("side", a.key, b"side " + (a.value or b"")),))
            if r.topic == B.topic
            else a
            for r, a in zip(batch, answers, strict=True)
        ]


async def test_an_answers_side_records_commit_in_its_lanes_transaction_after_it() -> None:
    """More outputs than inputs: each answer's ``also`` is written right after it, with the same offsets."""
    stop = asyncio.Event()
    batches = [[record(B, 5), record(D, 0)], [record(B, 6), record(D, 0), record(B, 7)]]
    consumer, writers = Consumer(batches, stop), Writers()
    await worker(consumer, writers, Reporter()).run(stop)
    assert writers.written == {
        0: [b"req.b@6", b"side req.b@6", b"req.b@7", b"side req.b@7"],
        1: [b"req.d@0"],
    }
    assert writers.offsets == {0: {B: 8}, 1: {D: 1}}


async def test_a_failed_write_rewinds_only_its_lane_to_the_last_commit() -> None:
    """Lane 1's fenced write drops its writer and seeks its partition back; lane 0 is committed."""
    stop = asyncio.Event()
    batches = [[record(B, 5), record(D, 0)], [record(B, 6), record(D, 0)], *([[record(D, 0)]] * 3)]
    consumer, writers = Consumer(batches, stop), Writers(failing=1)
    await worker(consumer, writers, Handler()).run(stop)
    assert writers.written == {0: [b"req.b@6"], 1: [b"req.d@0"]}
    assert writers.opened == [0, 1, 1]
    assert consumer.seeks[D] is None  # back to the beginning: nothing was ever committed there


async def test_a_rebalance_while_opening_drops_the_batch() -> None:
    """Records fetched before partitions moved are not written: the new assignment re-reads them."""
    stop = asyncio.Event()
    consumer, writers = Consumer([[record(B, 5)]], stop), Writers()
    lanes = worker(consumer, writers, Handler())
    original_open = writers.open

    async def open_during_rebalance(lane: int, then: Callable[[], Awaitable[None]] | None = None) -> None:
        await original_open(lane, then)
        lanes.lost([B])

    writers.open = open_during_rebalance  # type: ignore[method-assign]
    await lanes.run(stop)
    assert writers.written == {0: [], 1: []}


async def test_a_stop_signal_finishes_and_commits_the_batch_in_hand() -> None:
    """The stop set while a batch is handled lets that batch be written and committed, then run returns."""
    stop = asyncio.Event()
    consumer, writers = Consumer([[record(B, 5)], [record(B, 6)], [record(B, 7)]], stop), Writers()
    await worker(consumer, writers, Handler(stop_while_handling=stop)).run(stop)
    assert writers.written[0] == [b"req.b@6"] and writers.offsets[0] == {B: 7}


async def test_a_record_too_large_for_the_broker_goes_to_the_quarantine() -> None:
    """A size refusal rewinds the lane and fails the batch, so the supervisor isolates its records."""
    stop = asyncio.Event()
    consumer = Consumer([[record(B, 5)], [record(B, 6), record(B, 7)]], stop)
    writers, quarantine = Writers(failing=0, error=MessageSizeTooLargeError()), Quarantine()
    with pytest.raises(BrokerError, match="too large"):
        await worker(consumer, writers, Handler(), quarantine).run(stop)
    quarantine.failed("too large")
    assert consumer.seeks[B] == 5
    assert quarantine.split([record(B, 6), record(B, 7)]) == [[record(B, 6)], [record(B, 7)]]


async def test_a_poisoned_record_is_set_aside_instead_of_handled() -> None:
    """A record that failed alone is dead-lettered with the failure and its offset committed."""
    stop = asyncio.Event()
    quarantine = Quarantine()
    quarantine.hold([record(B, 6)])
    quarantine.failed("ValueError: boom")
    consumer, writers, handler = (
        Consumer([[record(B, 5)], [record(B, 6), record(B, 7)]], stop),
        Writers(),
        Handler(),
    )
    await worker(consumer, writers, handler, quarantine).run(stop)
    assert writers.written[0] == [b"aside b'req.b@6': ValueError: boom", b"req.b@7"]
    assert handler.handled == [[b"req.b@7"]]
    assert quarantine.poisoned(record(B, 6)) is None
