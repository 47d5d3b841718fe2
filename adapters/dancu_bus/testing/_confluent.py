"""confluent-kafka-shaped clients of the in-memory broker: what the SDK's exchange calls of them."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Producer

from dancu_bus.settings import KafkaSettings
from dancu_bus.testing._broker import InMemoryBroker, StoredRecord, UnknownTopic
from dancu_bus.transport import TopicPartition

__all__ = ["MemoryConnector"]

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
        """(timestamp type, milliseconds)."""
        return self.record.timestamp_type, self.record.timestamp_ms


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
