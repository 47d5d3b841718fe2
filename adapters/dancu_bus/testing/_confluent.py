"""confluent-kafka-shaped clients of the in-memory broker: what the SDK and the resolver call of them."""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
)
from confluent_kafka import TopicPartition as KafkaPartition

from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings
from dancu_bus.testing._broker import (
    LOG_APPEND_TIME,
    Fenced,
    InMemoryBroker,
    StaleMember,
    StoredRecord,
    Transaction,
    UnknownTopic,
)
from dancu_bus.transport import TopicPartition

__all__ = ["MemoryConnector", "group_consumer", "transactional_producer"]

DeliveryReport = Callable[[Any, Any], None]


@dataclass(frozen=True, slots=True)
class _Message:
    """A consumed record (or an undelivered one) with confluent-kafka's accessor methods."""

    record: StoredRecord

    def error(self) -> KafkaError | None:
        """A consumed record carries no error."""
        return None

    def topic(self) -> str:
        """Its topic."""
        return self.record.topic

    def partition(self) -> int:
        """Its partition."""
        return self.record.partition

    def offset(self) -> int:
        """Its offset."""
        return self.record.offset

    def key(self) -> bytes | None:
        """Its key."""
        return self.record.key

    def value(self) -> bytes | None:
        """Its value."""
        return self.record.value

    def headers(self) -> list[tuple[str, bytes]]:
        """Its headers."""
        return list(self.record.headers)

    def timestamp(self) -> tuple[int, int]:
        """(librdkafka's timestamp type, milliseconds)."""
        kind = (
            TIMESTAMP_LOG_APPEND_TIME
            if self.record.timestamp_type == LOG_APPEND_TIME
            else TIMESTAMP_CREATE_TIME
        )
        return kind, self.record.timestamp_ms


class _Consumer:
    """A consumer of assigned partitions, read_committed unless configured otherwise; it commits nothing."""

    def __init__(self, broker: InMemoryBroker, config: dict[str, Any]) -> None:
        self._broker = broker
        self._committed_only = config.get("isolation.level", "read_committed") == "read_committed"
        self._positions: dict[TopicPartition, int] = {}

    def list_topics(self, topic: str, timeout: float) -> Any:
        """The metadata of ``topic``: its partitions, or an error when it does not exist."""
        try:
            count = self._broker.partitions(topic)
        except UnknownTopic:
            missing = SimpleNamespace(error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), partitions={})
            return SimpleNamespace(topics={topic: missing})
        found = SimpleNamespace(error=None, partitions={p: SimpleNamespace(id=p) for p in range(count)})
        return SimpleNamespace(topics={topic: found})

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        """(low, high) watermarks: the high one is the log's end, as librdkafka reports it."""
        return 0, self._broker.end_offset(TopicPartition(tp.topic, tp.partition), committed_only=False)

    def assign(self, partitions: Sequence[Any]) -> None:
        """Read these partitions from the offsets given."""
        self._positions = {TopicPartition(tp.topic, tp.partition): tp.offset for tp in partitions}

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[_Message]:
        """Up to ``num_messages`` records, waiting up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            seen = self._broker.changes.version
            found = self._fetch(num_messages)
            if found or time.monotonic() >= deadline:
                return found
            self._broker.changes.wait(seen, deadline - time.monotonic())

    def _fetch(self, limit: int) -> list[_Message]:
        found: list[_Message] = []
        for tp, position in sorted(self._positions.items()):
            records, self._positions[tp] = self._broker.fetch(
                tp, position, limit - len(found), committed_only=self._committed_only
            )
            found += [_Message(r) for r in records]
        return found

    def close(self) -> None:
        """Nothing to disconnect."""


class _Producer:
    """Produces at once; a record for a topic that does not exist is reported undelivered at the next poll."""

    def __init__(self, broker: InMemoryBroker, config: dict[str, Any]) -> None:
        self._broker = broker
        self._lock = threading.Lock()
        self._reports: list[tuple[DeliveryReport, KafkaError, Any]] = []

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        on_delivery: DeliveryReport | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Append the record where librdkafka's partitioner would put it (CRC-32 of the key)."""
        try:
            count = self._broker.partitions(topic)
            partition = zlib.crc32(key) % count if key is not None else 0
            self._broker.append(TopicPartition(topic, partition), [(key, value, list(headers), None)])
        except UnknownTopic:
            if on_delivery is not None:
                undelivered = SimpleNamespace(key=lambda: key, value=lambda: value, topic=lambda: topic)
                with self._lock:
                    self._reports.append(
                        (on_delivery, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), undelivered)
                    )

    def poll(self, timeout: float = 0) -> int:
        """Serve the delivery reports due (only failures are reported)."""
        with self._lock:
            reports, self._reports = self._reports, []
        for report, error, message in reports:
            report(error, message)
        return len(reports)

    def flush(self, timeout: float = 0) -> int:
        """Serve the reports; nothing is ever left queued."""
        self.poll(0)
        return 0

    def purge(self, in_queue: bool = True, in_flight: bool = True) -> None:
        """Nothing is queued."""


Callback = Callable[[Any, list[KafkaPartition]], None]


class _GroupConsumer:
    """A read_committed consumer of a group: takes up each new generation at its next ``consume``, eagerly
    (every partition revoked, then the new ones assigned), starting where the group last committed."""

    def __init__(self, broker: InMemoryBroker, group_id: str) -> None:
        self._broker = broker
        self._group_id = group_id
        self._member: str | None = None
        self._generation = 0
        self._callbacks: tuple[Callback | None, Callback | None] = (None, None)
        self._positions: dict[TopicPartition, int] = {}

    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
    ) -> None:
        """Join the group with one pattern (librdkafka's ``^``-prefixed regular expression)."""
        self._callbacks = (on_assign, on_revoke)
        self._member = self._broker.join(self._group_id, topics[0], None)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[_Message]:
        """Up to ``num_messages`` records, waiting up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            seen = self._broker.changes.version
            self._follow_group()
            found: list[_Message] = []
            for tp in sorted(self._positions):
                records, self._positions[tp] = self._broker.fetch(
                    tp, self._positions[tp], num_messages - len(found), committed_only=True
                )
                found += [_Message(r) for r in records]
            if found or time.monotonic() >= deadline:
                return found
            self._broker.changes.wait(seen, deadline - time.monotonic())

    def _follow_group(self) -> None:
        if self._member is None:
            return
        generation, assigned = self._broker.assignment(self._group_id, self._member)
        if generation == self._generation:
            return
        on_assign, on_revoke = self._callbacks
        if on_revoke is not None and self._positions:
            on_revoke(self, [KafkaPartition(*tp) for tp in sorted(self._positions)])
        self._generation = generation
        self._positions = {tp: self._committed(tp) for tp in assigned}
        if on_assign is not None:
            on_assign(self, [KafkaPartition(*tp) for tp in sorted(assigned)])

    def _committed(self, tp: TopicPartition) -> int:
        return self._broker.committed(self._group_id, tp) or 0

    def assignment(self) -> list[KafkaPartition]:
        """The partitions this member reads now."""
        return [KafkaPartition(*tp) for tp in sorted(self._positions)]

    def committed(self, partitions: Sequence[Any], timeout: float = -1) -> list[KafkaPartition]:
        """The group's committed offsets of ``partitions`` (OFFSET_INVALID where none)."""
        found = [
            (tp, self._broker.committed(self._group_id, TopicPartition(tp.topic, tp.partition)))
            for tp in partitions
        ]
        return [KafkaPartition(tp.topic, tp.partition, OFFSET_INVALID if o is None else o) for tp, o in found]

    def seek(self, tp: Any) -> None:
        """Fetch an assigned partition from ``tp.offset`` next."""
        where = TopicPartition(tp.topic, tp.partition)
        if where not in self._positions:
            raise KafkaException(KafkaError(KafkaError._STATE, f"{where} is not assigned"))
        self._positions[where] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    def consumer_group_metadata(self) -> tuple[str, str | None, int]:
        """What a transaction's offsets carry: the group, this member and its generation."""
        return self._group_id, self._member, self._generation

    def close(self) -> None:
        """Leave the group."""
        if self._member is not None:
            self._broker.leave(self._group_id, self._member)
            self._member = None


def _abortable(exc: BrokerError) -> KafkaException:
    return KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION, str(exc), txn_requires_abort=True))


def _fatal(exc: BrokerError) -> KafkaException:
    return KafkaException(KafkaError(KafkaError._FENCED, str(exc), fatal=True))


class _TransactionalProducer:
    """A transactional producer: records go into the open transaction; KIP-447 offsets with the member's
    generation; librdkafka's error kinds (abortable, fatal) for what the broker refuses."""

    def __init__(self, broker: InMemoryBroker, transactional_id: str) -> None:
        self._broker = broker
        self._transactional_id = transactional_id
        self._epoch: int | None = None
        self._transaction: Transaction | None = None
        self._failed: KafkaError | None = None

    def init_transactions(self, timeout: float = -1) -> None:
        """A new epoch of the id: its previous holder's open transaction aborts, and it is fenced."""
        self._epoch = self._broker.init_transactions(self._transactional_id)

    def begin_transaction(self) -> None:
        """Open a transaction."""
        if self._epoch is None:
            raise KafkaException(KafkaError(KafkaError._STATE, "init_transactions was not called"))
        try:
            self._transaction = self._broker.begin(self._transactional_id, self._epoch)
        except Fenced as exc:
            raise _fatal(exc) from exc
        self._failed = None

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        on_delivery: DeliveryReport | None = None,
        partition: int | None = None,
    ) -> None:
        """Append to the open transaction; a record the broker refuses fails the transaction's commit."""
        if self._transaction is None:
            raise KafkaException(KafkaError(KafkaError._STATE, "no transaction is open"))
        try:
            count = self._broker.partitions(topic)
            where = partition if partition is not None else zlib.crc32(key or b"") % count
            self._broker.append(
                TopicPartition(topic, where), [(key, value, list(headers), None)], self._transaction
            )
        except UnknownTopic as exc:
            self._failed = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, str(exc), txn_requires_abort=True)
        except Fenced as exc:
            self._failed = _fatal(exc).args[0]

    def send_offsets_to_transaction(
        self, positions: Sequence[Any], metadata: Any, timeout: float = -1
    ) -> None:
        """Offsets that commit with the transaction, refused from a member whose generation is over."""
        group_id, member, generation = metadata
        offsets = {TopicPartition(tp.topic, tp.partition): tp.offset for tp in positions}
        if self._transaction is None:
            raise KafkaException(KafkaError(KafkaError._STATE, "no transaction is open"))
        try:
            self._broker.add_offsets(self._transaction, group_id, offsets, (member, generation))
        except StaleMember as exc:
            raise _abortable(exc) from exc
        except Fenced as exc:
            raise _fatal(exc) from exc

    def commit_transaction(self, timeout: float = -1) -> None:
        """Commit, unless a record of it was refused (then the transaction must be aborted)."""
        if self._transaction is None:
            raise KafkaException(KafkaError(KafkaError._STATE, "no transaction is open"))
        if self._failed is not None:
            raise KafkaException(self._failed)
        transaction, self._transaction = self._transaction, None
        try:
            self._broker.end_transaction(transaction, commit=True)
        except Fenced as exc:
            raise _fatal(exc) from exc

    def abort_transaction(self, timeout: float = -1) -> None:
        """Abort the open transaction, if the broker still has it open."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None and transaction.state == "open":
            with contextlib.suppress(BrokerError):
                self._broker.end_transaction(transaction, commit=False)

    def poll(self, timeout: float = 0) -> int:
        """Nothing is ever waiting for a delivery report."""
        return 0

    def flush(self, timeout: float = 0) -> int:
        """Nothing is ever queued."""
        return 0


def group_consumer(broker: InMemoryBroker, group_id: str) -> Consumer:
    """A librdkafka-shaped consumer of ``group_id`` on ``broker``."""
    return cast(Consumer, _GroupConsumer(broker, group_id))


def transactional_producer(broker: InMemoryBroker, transactional_id: str) -> Producer:
    """A librdkafka-shaped transactional producer on ``broker``."""
    return cast(Producer, _TransactionalProducer(broker, transactional_id))


class MemoryConnector:
    """The SDK's ``sdk.connector.Connector`` on an in-memory broker."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self._broker = broker

    def diagnose(self, kafka: KafkaSettings, timeout_s: float) -> str | None:
        """The in-memory broker always answers."""
        return None

    def consumer(self, config: dict[str, Any]) -> Consumer:
        """A consumer of assigned partitions."""
        return cast(Consumer, _Consumer(self._broker, config))

    def producer(self, config: dict[str, Any]) -> Producer:
        """A producer."""
        return cast(Producer, _Producer(self._broker, config))
