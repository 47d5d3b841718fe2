"""The fenced worker on fake Kafka clients: writers opened first, failed writes rewound, poison set aside."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import cast

import pytest
from aiokafka.errors import MessageSizeTooLargeError, ProducerFenced

from dancu_bus.errors import BrokerError
from dancu_bus.transport import Incoming, Outgoing, Quarantine, TopicPartition, WorkerOptions
from dancu_bus.transport.fenced import FencedWorker
from dancu_bus.transport.writers import FencedWriters
from tests.unit.fake_kafka import FakeConsumer

GROUP_OF = {"req.a": 0, "res.a": 0, "req.b": 1, "res.b": 1}


class Consumer(FakeConsumer):
    """The group gave this member one partition of every topic of GROUP_OF."""

    assigned = frozenset(TopicPartition(topic, 0) for topic in GROUP_OF)


class Writers:
    """Output partitions' writers; the first write to ``failing`` is fenced."""

    def __init__(self, failing: int, refusal: Exception | None = None) -> None:
        self.opened: list[int] = []
        self.written: dict[int, list[bytes | None]] = {0: [], 1: []}
        self.committed: dict[TopicPartition, int] = {}
        self._open: set[int] = set()
        self._failing = failing
        self._refusal = refusal or ProducerFenced()

    def ready(self, partition: int) -> bool:
        return partition in self._open

    def mark_stale(self, partitions: Collection[int]) -> None:
        self._open -= set(partitions)

    async def open(self, partition: int, then: Callable[[], Awaitable[None]] | None = None) -> None:
        if then is not None:
            await then()
        self.opened.append(partition)
        self._open.add(partition)

    async def write(
        self, partition: int, records: Sequence[Outgoing], offsets: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        if partition == self._failing:
            self._failing = -1
            raise self._refusal
        self.written[partition] += [r.value for r in records]
        self.committed.update(offsets)
        # As a broker would: the offset of the last record written to each partition.
        return {TopicPartition(r.topic, partition): len(self.written[partition]) - 1 for r in records}

    async def drop(self, partition: int) -> None:
        self._open.discard(partition)


class Handler:
    """Echoes each record to the output partition of its topic; remembers take-overs and forgets."""

    def __init__(self) -> None:
        self.forgotten: list[int] = []
        self.heads: dict[int, dict[TopicPartition, int]] = {}

    def output_partition(self, topic: str) -> int:
        return GROUP_OF[topic]

    def resume(self, partition: int, last: Incoming | None) -> bool:
        return True

    def restore(self, partition: int, state: Sequence[Incoming]) -> None:
        """Nothing to restore here: take-overs are counted by ``TakeOver``."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        return [Outgoing("out", r.key, r.value, partition=GROUP_OF[r.topic]) for r in batch]

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        value = b"set aside " + (record.value or b"") + f" ({detail})".encode()
        return Outgoing("dead", record.key, value, writer=GROUP_OF[record.topic])

    def forget(self, partitions: Collection[int]) -> None:
        self.forgotten += partitions

    def held(self, topic: str) -> bool:
        return False

    def written(self, partition: int, last: Mapping[TopicPartition, int]) -> None:
        self.heads[partition] = dict(last)


class Poisoned(Handler):
    """Fails, as a bug would, on any batch holding the record ``req.a@2``."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        if any(r.value == b"req.a@2" for r in batch):
            raise RuntimeError("a bug")
        return await super().handle(batch)


class TakeOver:
    """What the worker learns when it opens an output partition: the inputs to start at their commit."""

    def __init__(self, consumer: Consumer) -> None:
        self.taken: list[int] = []
        self._consumer = consumer

    async def __call__(self, partition: int) -> Collection[TopicPartition]:
        self.taken.append(partition)
        return sorted(tp for tp in self._consumer.assigned if GROUP_OF[tp.topic] == partition)


def record(topic: str, offset: int) -> Incoming:
    """A consumed record whose value names where it came from."""
    return Incoming(topic, 0, offset, 0, b"k", f"{topic}@{offset}".encode(), ())


def committed_at(consumer: Consumer, offsets: dict[str, int]) -> None:
    """The group's committed offsets of every input partition."""
    consumer.committed_offsets = {TopicPartition(t, 0): offsets.get(t) for t in GROUP_OF}


async def test_opening_seeks_inputs_to_their_commit_and_refetches_the_batch() -> None:
    """Records fetched before an output partition was opened are dropped: its inputs restart at the commit."""
    stop = asyncio.Event()
    consumer, writers, handler = (
        Consumer([[record("req.a", 5)], [record("req.a", 5)]], stop),
        Writers(-1),
        Handler(),
    )
    committed_at(consumer, {"req.a": 5})
    take_over = TakeOver(consumer)
    worker = FencedWorker(
        consumer, cast(FencedWriters, writers), handler, WorkerOptions("x"), take_over, Quarantine()
    )
    await worker.run(stop)
    assert sorted(take_over.taken) == [0, 1] and consumer.seeks[TopicPartition("req.a", 0)] == 5
    assert consumer.seeks[TopicPartition("req.b", 0)] is None  # nothing committed: from the beginning
    assert writers.written == {0: [b"req.a@5"], 1: []}


async def test_a_failed_write_forgets_its_partition_and_reopens_it_from_the_topics() -> None:
    """Group 1's failed write drops its writer and state, reports no head, and is taken over again."""
    stop = asyncio.Event()
    both = [record("req.a", 5), record("req.b", 7), record("res.b", 2)]
    again = [record("req.b", 7), record("res.b", 2)]
    consumer, writers, handler = Consumer([both, both, again, again], stop), Writers(failing=1), Handler()
    committed_at(consumer, {"req.a": 5, "req.b": 7, "res.b": 2})
    take_over = TakeOver(consumer)
    worker = FencedWorker(
        consumer, cast(FencedWriters, writers), handler, WorkerOptions("x"), take_over, Quarantine()
    )
    await worker.run(stop)
    assert handler.forgotten == [1] and sorted(take_over.taken) == [0, 1, 1]
    assert writers.written == {0: [b"req.a@5"], 1: [b"req.b@7", b"res.b@2"]}
    # Only committed transactions report where their partitions' heads are: group 1's failed one did not.
    assert handler.heads == {0: {TopicPartition("out", 0): 0}, 1: {TopicPartition("out", 1): 1}}


async def test_a_rebalance_while_opening_writers_drops_the_batch() -> None:
    """Records fetched before partitions moved are not written: the new assignment re-reads them."""
    stop = asyncio.Event()
    consumer, writers, handler = Consumer([[record("req.a", 5)]], stop), Writers(failing=-1), Handler()
    committed_at(consumer, {})
    worker = FencedWorker(
        consumer, cast(FencedWriters, writers), handler, WorkerOptions("x"), TakeOver(consumer), Quarantine()
    )
    original_open = writers.open

    async def open_during_rebalance(
        partition: int, then: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        await original_open(partition, then)
        worker.lost([TopicPartition("req.a", 0)])

    writers.open = open_during_rebalance  # type: ignore[method-assign]
    await worker.run(stop)
    assert writers.written == {0: [], 1: []}
    assert 0 in handler.forgotten


def worker_of(consumer: Consumer, writers: Writers, handler: Handler, quarantine: Quarantine) -> FencedWorker:
    """A fenced worker over the fakes, as ``running_fenced_worker`` makes one for each run."""
    options = WorkerOptions("x")
    return FencedWorker(
        consumer, cast(FencedWriters, writers), handler, options, TakeOver(consumer), quarantine
    )


async def test_a_record_that_fails_alone_is_set_aside_and_committed_past() -> None:
    """Two runs fail (the batch, then the poison alone); the third writes its neighbours and a dead letter."""
    stop, quarantine = asyncio.Event(), Quarantine()
    batch = [record("req.a", 1), record("req.a", 2), record("req.a", 3)]
    # Each run's first batch only opens the writers (its inputs are sought to their commit).
    consumer, handler = Consumer([batch] * 6, stop), Poisoned()
    committed_at(consumer, {"req.a": 1})
    for _ in range(2):
        with pytest.raises(RuntimeError, match="a bug"):
            await worker_of(consumer, Writers(-1), handler, quarantine).run(stop)
        quarantine.failed("RuntimeError: a bug")  # what the audit's supervisor reports
    writers = Writers(-1)
    await worker_of(consumer, writers, handler, quarantine).run(stop)
    assert writers.written == {0: [b"req.a@1", b"set aside req.a@2 (RuntimeError: a bug)", b"req.a@3"], 1: []}
    assert writers.committed[TopicPartition("req.a", 0)] == 4


async def test_a_record_the_broker_refuses_as_too_large_fails_its_partitions_records() -> None:
    """Writing it again would fail again: the batch fails and its partition's records become suspects."""
    stop, quarantine = asyncio.Event(), Quarantine()
    batch = [record("req.a", 5), record("req.b", 7)]
    consumer = Consumer([batch, batch], stop)
    committed_at(consumer, {"req.a": 5, "req.b": 7})
    writers = Writers(failing=0, refusal=MessageSizeTooLargeError())
    with pytest.raises(BrokerError, match="too large") as raised:
        await worker_of(consumer, writers, Handler(), quarantine).run(stop)
    assert not raised.value.retriable and writers.written == {0: [], 1: [b"req.b@7"]}
    quarantine.failed("BrokerError: too large")
    assert quarantine.split(batch) == [[record("req.b", 7)], [record("req.a", 5)]]
