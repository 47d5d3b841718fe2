"""Load for checks: raw records produced at a steady rate, and the keys of topics counted as they commit.

Both run in a thread of their own, so a fault harness can kill processes and restart the broker
meanwhile; librdkafka reconnects by itself. The producer is idempotent, so a broker restart does not
duplicate a request; the tally reads ``read_committed``, so it counts only what consumers would see.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Self

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from dancu_bus.admin.config import client_config
from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings

__all__ = ["KeyTally", "PacedProducer", "Record"]

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes]
"""Topic, key and value of a record to produce."""


class PacedProducer:
    """Produces records at about ``rate`` per second in a background thread: ``with PacedProducer(...)``."""

    def __init__(self, kafka: KafkaSettings, records: Iterable[Record], rate: float) -> None:
        self._producer = Producer(
            {
                **client_config(kafka),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "log_level": 2,
            },
            logger=log,
        )
        self._records = records
        self._rate = rate
        self._thread = threading.Thread(target=self._run, name="paced-producer", daemon=True)
        self._failures: list[str] = []
        self.sent = 0

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._thread.join()

    def wait(self, timeout_s: float) -> None:
        """Wait until every record is delivered; BrokerError if one was not."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise BrokerError(f"the records were not all delivered within {timeout_s:g} s")
        if self._failures:
            raise BrokerError(f"{len(self._failures)} records not delivered, e.g. {self._failures[0]}")

    def _run(self) -> None:
        started = time.monotonic()
        for topic, key, value in self._records:
            self._produce(topic, key, value)
            self.sent += 1
            ahead = self.sent / self._rate - (time.monotonic() - started)
            if ahead > 0.01:
                self._producer.poll(ahead)
        # Retries through a broker restart end well within librdkafka's 300 s delivery timeout.
        self._producer.flush(600)

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key=key, on_delivery=self._delivered)
                return
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full while the broker is away

    def _delivered(self, err: KafkaError | None, _message: object) -> None:
        if err is not None:
            self._failures.append(str(err))


class KeyTally:
    """Counts the keys of every committed record of some topics, from their beginning, in a thread.

    ``key_of`` may count another key taken from each record (its key and value) instead.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topics: Sequence[str],
        key_of: Callable[[bytes | None, bytes | None], bytes | None] | None = None,
    ) -> None:
        self._key_of = key_of
        self._consumer = Consumer(
            {
                **client_config(kafka),
                "group.id": f"dancu.tally.{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "log_level": 2,  # connection failures while a fault harness restarts the broker are expected
            },
            logger=log,
        )
        self._topics = topics
        self._counts: Counter[bytes | None] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="key-tally", daemon=True)

    def __enter__(self) -> Self:
        partitions = []
        for topic in self._topics:
            metadata = self._consumer.list_topics(topic, timeout=30).topics[topic]
            partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        self._consumer.assign(partitions)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(30)
        self._consumer.close()

    def distinct(self) -> int:
        """How many distinct keys have a committed record."""
        with self._lock:
            return sum(1 for key, count in self._counts.items() if key is not None and count)

    def seen(self, keys: Iterable[bytes]) -> int:
        """How many of ``keys`` have at least one committed record."""
        with self._lock:
            return sum(1 for key in keys if self._counts[key])

    def _run(self) -> None:
        while not self._stopping.is_set():
            messages = self._consumer.consume(num_messages=2000, timeout=0.2)
            found = [m for m in messages if m.error() is None]
            keys = (
                [self._key_of(m.key(), m.value()) for m in found]
                if self._key_of
                else [m.key() for m in found]
            )
            with self._lock:
                self._counts.update(keys)
            for message in messages:
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.debug("tally: %s", error)  # transient while the broker restarts
