"""Reads a whole topic from the beginning, for operators, the demo and tests (confluent-kafka)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message

from dancu_bus.admin.config import client_config
from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings

__all__ = ["TopicRecord", "read_topic"]


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """A record read back from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


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
    return TopicRecord(message.partition() or 0, message.offset() or 0, message.key(), message.value())
