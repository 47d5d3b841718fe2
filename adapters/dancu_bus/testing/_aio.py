"""aiokafka-shaped clients of the in-memory broker: what the resolver's and audit's workers call of them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from dancu_bus.errors import BrokerError
from dancu_bus.testing._broker import InMemoryBroker, StoredRecord, Transaction
from dancu_bus.testing._confluent import group_consumer, transactional_producer
from dancu_bus.transport import ClusterState, TopicPartition

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from confluent_kafka import Consumer, Producer

__all__ = ["MemoryClients", "MemoryConsumer", "MemoryProducer"]


def _tp(tp: Any) -> TopicPartition:
    """Our TopicPartition of aiokafka's (or any object with ``topic`` and ``partition``)."""
    return TopicPartition(tp.topic, tp.partition)


@dataclass(frozen=True, slots=True)
class _Message:
    """What aiokafka's ``getmany`` hands out, as far as ``transport.consuming.incoming`` reads it."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    checksum: None = None

    @classmethod
    def of(cls, record: StoredRecord) -> _Message:
        """The message of a stored record."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp_ms,
            record.timestamp_type,
            record.key,
            record.value,
            record.headers,
        )


class MemoryConsumer:
    """A read_committed consumer: of a group (``subscribe``) or of partitions it is given (``assign``)."""

    def __init__(
        self,
        broker: InMemoryBroker,
        group_id: str | None,
        max_records: int,
        assignor: type[Any] | None = None,
        reset: Literal["earliest", "latest"] = "earliest",
    ) -> None:
        self._broker = broker
        self._group_id = group_id
        self._max_records = max_records
        self._assignor = assignor
        self._reset = reset
        self._member: str | None = None
        self._listener: Any = None
        self._generation = 0
        self._assigned: set[TopicPartition] = set()
        self._paused: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Leave the group, if in one."""
        if self._group_id is not None and self._member is not None:
            self._broker.leave(self._group_id, self._member)
            self._member = None

    def subscribe(self, pattern: str, listener: Any = None) -> None:
        """Join the group with a pattern; the assignment comes with the next fetch."""
        if self._group_id is None:
            raise BrokerError("a consumer without a group cannot subscribe")
        self._listener = listener
        self._member = self._broker.join(self._group_id, pattern, self._assignor)

    def assign(self, partitions: Iterable[Any]) -> None:
        """Read these partitions, without a group."""
        self._assigned = {_tp(tp) for tp in partitions}

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads now."""
        return set(self._assigned)

    def paused(self) -> set[TopicPartition]:
        """The partitions not fetched for now."""
        return set(self._paused)

    def pause(self, *partitions: Any) -> None:
        """Stop fetching these partitions."""
        self._paused.update(_tp(tp) for tp in partitions)

    def resume(self, *partitions: Any) -> None:
        """Fetch these partitions again."""
        self._paused.difference_update(_tp(tp) for tp in partitions)

    def seek(self, tp: Any, offset: int) -> None:
        """Fetch ``tp`` from ``offset`` next."""
        self._positions[_tp(tp)] = offset

    async def seek_to_beginning(self, *partitions: Any) -> None:
        """Fetch these partitions (default: all assigned) from their first offset next."""
        for tp in partitions or tuple(self._assigned):
            self._positions[_tp(tp)] = 0

    async def position(self, tp: Any) -> int:
        """The offset fetched next from ``tp``."""
        return self._position(_tp(tp))

    async def committed(self, tp: Any) -> int | None:
        """The group's committed offset of ``tp``."""
        return self._broker.committed(self._group(), _tp(tp))

    async def commit(self, offsets: Mapping[Any, int]) -> None:
        """Commit offsets for the group, outside any transaction."""
        self._broker.commit(self._group(), {_tp(tp): offset for tp, offset in offsets.items()})

    async def beginning_offsets(self, partitions: Iterable[Any]) -> dict[Any, int]:
        """The first offset of each partition (nothing is ever deleted here)."""
        return {tp: 0 for tp in partitions}

    async def end_offsets(self, partitions: Iterable[Any]) -> dict[Any, int]:
        """The last stable offset of each partition, where a read_committed reader ends."""
        return {tp: self._broker.end_offset(_tp(tp), committed_only=True) for tp in partitions}

    async def getmany(
        self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[_Message]]:
        """The records fetched within ``timeout_ms``, by partition; taking up a new generation first."""
        deadline = time.monotonic() + timeout_ms / 1000
        wanted = {_tp(tp) for tp in partitions}
        while True:
            seen = self._broker.changes.version
            await self._follow_group()
            fetched = self._fetch(wanted, max_records or self._max_records)
            remaining = deadline - time.monotonic()
            if fetched or remaining <= 0:
                return fetched
            await self._broker.changes.wait_async(seen, remaining)

    def _fetch(self, wanted: set[TopicPartition], limit: int) -> dict[TopicPartition, list[_Message]]:
        fetched: dict[TopicPartition, list[_Message]] = {}
        for tp in sorted(self._assigned - self._paused):
            if (wanted and tp not in wanted) or limit <= 0:
                continue
            records, self._positions[tp] = self._broker.fetch(
                tp, self._position(tp), limit, committed_only=True
            )
            if records:
                fetched[tp] = [_Message.of(r) for r in records]
                limit -= len(records)
        return fetched

    async def _follow_group(self) -> None:
        """Take up the group's new generation, if any: revoke everything, then assign (eager protocol)."""
        if self._group_id is None or self._member is None:
            return
        generation, assigned = self._broker.assignment(self._group_id, self._member)
        if generation == self._generation:
            return
        revoked, self._assigned = set(self._assigned), set()
        if self._listener is not None:
            await self._listener.on_partitions_revoked(revoked)
        # Whoever owns a partition now starts at the group's last commit, as after any rebalance.
        self._generation, self._assigned, self._positions = generation, set(assigned), {}
        self._paused &= self._assigned
        if self._listener is not None:
            await self._listener.on_partitions_assigned(set(assigned))

    def _position(self, tp: TopicPartition) -> int:
        if tp not in self._positions:
            committed = self._broker.committed(self._group_id, tp) if self._group_id is not None else None
            if committed is not None:
                self._positions[tp] = committed
            elif self._reset == "earliest":
                self._positions[tp] = 0
            else:
                self._positions[tp] = self._broker.end_offset(tp, committed_only=True)
        return self._positions[tp]

    def _group(self) -> str:
        if self._group_id is None:
            raise BrokerError("a consumer without a group has no committed offsets")
        return self._group_id


@dataclass(slots=True)
class _Batch:
    """aiokafka's batch builder, as the writers fill it: records appended, then closed."""

    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int | None]] = field(
        default_factory=list
    )

    def append(
        self,
        *,
        timestamp: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> object:
        """Add a record; never full (a batch here has no size)."""
        self.records.append((key, value, headers, timestamp))
        return self

    def close(self) -> None:
        """Nothing to flush."""


class MemoryProducer:
    """An idempotent producer, transactional when given an id: starting it fences the id's older holders."""

    def __init__(self, broker: InMemoryBroker, transactional_id: str | None = None) -> None:
        self._broker = broker
        self._transactional_id = transactional_id
        self._epoch: int | None = None
        self._transaction: Transaction | None = None

    async def start(self) -> None:
        """Initialise the transactional id, if any."""
        if self._transactional_id is not None:
            self._epoch = self._broker.init_transactions(self._transactional_id)

    async def stop(self) -> None:
        """Nothing to disconnect; an open transaction is aborted by the id's next holder."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Commit what is sent inside, or abort it when the block raises."""
        if self._transactional_id is None or self._epoch is None:
            raise BrokerError("a producer without a started transactional id has no transactions")
        self._transaction = self._broker.begin(self._transactional_id, self._epoch)
        try:
            yield
        except BaseException:
            transaction, self._transaction = self._transaction, None
            if transaction is not None and transaction.state == "open":
                # Fenced meanwhile: the newer holder aborted it already.
                with contextlib.suppress(BrokerError):
                    self._broker.end_transaction(transaction, commit=False)
            raise
        transaction, self._transaction = self._transaction, None
        self._broker.end_transaction(transaction, commit=True)

    def create_batch(self) -> _Batch:
        """An empty batch."""
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[int]:
        """Append the batch to the partition now; the future holds its first offset."""
        if self._transactional_id is not None and self._transaction is None:
            raise BrokerError("a transactional producer sends only inside a transaction")
        offset = self._broker.append(TopicPartition(topic, partition), batch.records, self._transaction)
        delivered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        delivered.set_result(offset)
        return delivered

    async def partitions_for(self, topic: str) -> set[int]:
        """The partition numbers of ``topic``; UnknownTopic if it does not exist."""
        return set(range(self._broker.partitions(topic)))

    async def send_offsets_to_transaction(self, offsets: Mapping[Any, int], group_id: str) -> None:
        """Commit these offsets of ``group_id`` with the open transaction."""
        if self._transaction is None:
            raise BrokerError("offsets are sent only inside a transaction")
        self._broker.add_offsets(self._transaction, group_id, {_tp(tp): o for tp, o in offsets.items()})


@dataclass(frozen=True, slots=True)
class _Unwatched:
    """The in-memory broker always answers."""

    problem: str | None = None


class MemoryClients:
    """The services' ``transport.KafkaClients`` on an in-memory broker."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self._broker = broker

    def consumer(
        self, group_id: str, max_records: int, assignors: tuple[type[Any], ...] = ()
    ) -> AIOKafkaConsumer:
        """A consumer of ``group_id`` using the first assignor given."""
        made = MemoryConsumer(self._broker, group_id, max_records, assignors[0] if assignors else None)
        return cast("AIOKafkaConsumer", made)

    def producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        """A producer, transactional when given an id."""
        return cast("AIOKafkaProducer", MemoryProducer(self._broker, transactional_id))

    def group_consumer(self, group_id: str, max_records: int, session_timeout_ms: int) -> Consumer:
        """A librdkafka-shaped consumer of ``group_id``."""
        return group_consumer(self._broker, group_id)

    def transactional_producer(self, transactional_id: str, timeout_ms: int) -> Producer:
        """A librdkafka-shaped transactional producer."""
        return transactional_producer(self._broker, transactional_id)

    def reader(self, fetch_max_wait_ms: int = 500) -> AIOKafkaConsumer:
        """A consumer in no group, starting at the end of what it is assigned unless it seeks."""
        return cast("AIOKafkaConsumer", MemoryConsumer(self._broker, None, 500, reset="latest"))

    def watch(self) -> AbstractAsyncContextManager[ClusterState]:
        """No problem to watch for."""
        return _watched()


@asynccontextmanager
async def _watched() -> AsyncIterator[ClusterState]:
    yield _Unwatched()
