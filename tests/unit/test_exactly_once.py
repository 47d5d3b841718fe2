"""The exactly-once worker on the in-memory broker: answers and offsets in one transaction, KIP-447."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from dancu_bus.metrics import WorkerMetrics
from dancu_bus.testing import InMemoryBroker, MemoryClients
from dancu_bus.transport import (
    NO_EVENTS,
    Incoming,
    Outgoing,
    Quarantine,
    TopicPartition,
    Transactions,
    WorkerEvents,
    WorkerOptions,
    running_transactional_worker,
)

PATTERN = r"^req\..*$"
OPTIONS = WorkerOptions(PATTERN, max_records=3, poll_timeout_ms=20, retry_initial_s=0.01)


class Echo:
    """Answers each record with its value on ``out``; calls ``during`` once, handling its first batch."""

    def __init__(self, during: Callable[[], None] | None = None, stop_after: int = 0) -> None:
        self.during = during
        self.handled: list[bytes | None] = []
        self.stop = asyncio.Event()
        self._stop_after = stop_after
        self.commits = 0

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        self.handled += [r.value for r in batch]
        if self.during is not None:
            during, self.during = self.during, None
            during()
        if len(self.handled) >= self._stop_after:
            self.stop.set()
        return [Outgoing("out", r.key, r.value, also=(Outgoing("side", None, r.value),)) for r in batch]

    def committed(self) -> None:
        self.commits += 1

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        return Outgoing("dlq", record.key, f"aside {record.value!r}: {detail}".encode())


def broker_with_requests(count: int) -> InMemoryBroker:
    """Two request partitions holding ``count`` records between them, and the output topics."""
    broker = InMemoryBroker()
    broker.create_topic("req.a", 2)
    for name in ("out", "side", "dlq"):
        broker.create_topic(name, 1)
    for n in range(count):
        broker.append(TopicPartition("req.a", n % 2), [(b"k", f"r{n}".encode(), (), None)])
    return broker


def committed_values(broker: InMemoryBroker, topic: str) -> list[bytes]:
    """Every committed value of ``topic``."""
    return [r.value or b"" for r in broker.committed_records(topic)]


async def serve(
    broker: InMemoryBroker,
    handler: Echo,
    quarantine: Quarantine | None = None,
    events: WorkerEvents = NO_EVENTS,
) -> None:
    """Run one worker of group ``g`` until the handler sets its stop event."""
    options = dataclasses.replace(OPTIONS, events=events)
    async with running_transactional_worker(
        MemoryClients(broker), "g", handler, options, quarantine or Quarantine(), Transactions("g.one")
    ) as worker:
        await asyncio.wait_for(worker.run(handler.stop), 10)


async def test_answers_their_side_records_and_offsets_commit_together() -> None:
    """Every record is answered once, its side record beside it, and the group's offsets follow."""
    broker = broker_with_requests(6)
    handler, registry = Echo(stop_after=6), CollectorRegistry()
    await serve(broker, handler, events=WorkerMetrics(registry, "w"))
    assert sorted(committed_values(broker, "out")) == sorted(f"r{n}".encode() for n in range(6))
    assert sorted(committed_values(broker, "side")) == sorted(committed_values(broker, "out"))
    assert [broker.committed("g", TopicPartition("req.a", p)) for p in (0, 1)] == [3, 3]
    # The worker reported what it did: each batch handled and committed, the partitions it got.
    assert registry.get_sample_value("w_batch_size_sum") == 6
    assert registry.get_sample_value("w_transaction_seconds_count") == handler.commits > 0
    assert registry.get_sample_value("w_rebalances_total", {"change": "assigned"}) == 2


async def test_a_rebalance_before_the_commit_aborts_the_batch_and_it_is_answered_once_after() -> None:
    """Offsets sent with the generation a new member ended are refused: the batch aborts and is read again."""
    broker = broker_with_requests(6)
    joined: list[str] = []
    # A member joins while the first batch is being handled, and leaves at once: a new generation.
    handler = Echo(during=lambda: joined.append(broker.join("g", PATTERN, None)), stop_after=9)
    handler.during = _then(handler.during, lambda: broker.leave("g", joined[0]))
    registry = CollectorRegistry()
    await serve(broker, handler, events=WorkerMetrics(registry, "w"))
    assert sorted(committed_values(broker, "out")) == sorted(f"r{n}".encode() for n in range(6))
    assert len(handler.handled) == 9  # the aborted batch of three was handled again
    # The coordinator refused the old generation's offsets: an abort, counted as fencing.
    assert registry.get_sample_value("w_transactions_aborted_total", {"cause": "fenced"}) == 1
    assert registry.get_sample_value("w_fenced_total") == 1


async def test_a_poisoned_record_is_set_aside_and_its_offset_committed() -> None:
    """A record that failed alone is dead-lettered with the failure instead of handled a third time."""
    broker = broker_with_requests(2)
    quarantine = Quarantine()
    quarantine.hold([Incoming("req.a", 0, 0, 0, b"k", b"r0", ())])
    quarantine.failed("ValueError: boom")
    handler, registry = Echo(stop_after=1), CollectorRegistry()
    await serve(broker, handler, quarantine, WorkerMetrics(registry, "w"))
    assert committed_values(broker, "dlq") == [b"aside b'r0': ValueError: boom"]
    assert registry.get_sample_value("w_quarantined_records_total") == 1
    assert handler.handled == [b"r1"]
    assert broker.committed("g", TopicPartition("req.a", 0)) == 1


def _then(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        if first is not None:
            first()
        second()

    return both
