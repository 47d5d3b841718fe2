"""Writing a few records to a topic as an operator (or the demo's stand-in for a gateway) does."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Producer

from dancu_bus.admin.config import client_config
from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings

__all__ = ["write_records"]


def write_records(
    kafka: KafkaSettings, topic: str, records: Iterable[tuple[bytes, bytes]], timeout_s: float = 30.0
) -> None:
    """Write each (key, value) to ``topic`` and wait until the broker has them all."""
    producer = Producer(client_config(kafka))
    for key, value in records:
        producer.produce(topic, value, key=key)
    if producer.flush(timeout_s) != 0:
        raise BrokerError(f"records for {topic} were not delivered within {timeout_s:.0f} s")
