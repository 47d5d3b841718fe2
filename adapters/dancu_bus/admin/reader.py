"""Reads a whole topic from the beginning, for operators, the demo and tests (confluent-kafka)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from dancu_bus.admin.config import client_config
from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings

__all__ = ["TopicRecord", "partition_count", "read_to_end", "read_topic", "watermarks"]


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """A record read back from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    topic: str = ""
    timestamp_ms: int = 0
    log_append_time: bool = False  # the timestamp is the broker's, not the producer's


def read_topic(
    kafka: KafkaSettings,
    topic: str,
    done: Callable[[Sequence[TopicRecord]], bool],
    timeout_s: float,
) -> list[TopicRecord]:
    """Committed records of ``topic`` from the start, until ``done(records)`` or the timeout."""
    consumer = Consumer(
        {
            **client_config(kafka),
            "group.id": f"dancu.reader.{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    records: list[TopicRecord] = []
    deadline = time.monotonic() + timeout_s
    try:
        consumer.subscribe([topic])
        while not done(records) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                error = message.error()
                if error is None:
                    records.append(_record(message))
                elif error.code() != KafkaError._PARTITION_EOF:
                    raise BrokerError(f"reading {topic}: {error}")
    finally:
        consumer.close()
    return records


def _record(message: Message) -> TopicRecord:
    # A consumed message without an error always has its partition and offset.
    kind, timestamp = message.timestamp()
    return TopicRecord(
        message.partition() or 0,
        message.offset() or 0,
        message.key(),
        message.value(),
        message.topic() or "",
        timestamp,
        kind == TIMESTAMP_LOG_APPEND_TIME,
    )


def read_to_end(
    kafka: KafkaSettings, topic: str, timeout_s: float = 30.0, *, partitions: Collection[int] | None = None
) -> list[TopicRecord]:
    """Every committed record of ``topic`` (of ``partitions`` only, when given) up to its end as of the
    call (no consumer group involved)."""
    with _reader(kafka) as consumer:
        deadline = time.monotonic() + timeout_s
        ends = _assign_from_start(consumer, topic, deadline, partitions)
        return _consume_until(consumer, ends, deadline)


def partition_count(kafka: KafkaSettings, topic: str, timeout_s: float = 30.0) -> int:
    """How many partitions ``topic`` has."""
    with _reader(kafka) as consumer:
        return len(watermarks(consumer, topic, time.monotonic() + timeout_s))


@contextmanager
def _reader(kafka: KafkaSettings) -> Iterator[Consumer]:
    consumer = Consumer(
        {
            **client_config(kafka),
            "group.id": f"dancu.reader.{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        yield consumer
    finally:
        consumer.close()


def _assign_from_start(
    consumer: Consumer, topic: str, deadline: float, partitions: Collection[int] | None
) -> dict[int, int]:
    marks = watermarks(consumer, topic, deadline)
    chosen = marks.keys() if partitions is None else marks.keys() & set(partitions)
    ends = {p: marks[p][1] for p in chosen if marks[p][1] > marks[p][0]}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    return ends


# Errors that only mean "not yet": leaders are still being elected just after a topic is created or
# a broker restarts, or the broker is slow to answer on a loaded machine.
_NOT_YET = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._UNKNOWN_PARTITION,
    }
)


def watermarks(consumer: Consumer, topic: str, deadline: float) -> dict[int, tuple[int, int]]:
    """Low and high offsets of every partition of ``topic``, retrying what only means "not yet"."""
    while True:
        try:
            return _watermarks(consumer, topic, max(1.0, deadline - time.monotonic()))
        except KafkaException as exc:
            error = exc.args[0]
            if time.monotonic() > deadline or not (error.retriable() or error.code() in _NOT_YET):
                raise BrokerError(f"cannot read {topic}: {exc}") from exc
            time.sleep(0.2)


def _watermarks(consumer: Consumer, topic: str, timeout_s: float) -> dict[int, tuple[int, int]]:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
    if metadata.error is not None:
        raise KafkaException(metadata.error)
    if not metadata.partitions:
        raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    return {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
        for p in metadata.partitions
    }


def _consume_until(consumer: Consumer, ends: dict[int, int], deadline: float) -> list[TopicRecord]:
    records: list[TopicRecord] = []
    remaining = dict(ends)
    while remaining:
        if time.monotonic() > deadline:
            raise BrokerError(f"partitions {sorted(remaining)} not read to their end in time")
        for message in consumer.consume(num_messages=1000, timeout=0.2):
            if message.error() is None:
                records.append(_record(message))
        # The position passes the end even when the last offsets are compacted away or are markers.
        for position in consumer.position([tp for tp in consumer.assignment() if tp.partition in remaining]):
            if position.offset >= remaining[position.partition]:
                remaining.pop(position.partition, None)
    return records
