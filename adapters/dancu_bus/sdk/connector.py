"""Where the SDK's Kafka clients come from: librdkafka's, or an in-memory broker's (``dancu_bus.testing``)."""

from __future__ import annotations

from typing import Any, Protocol

from confluent_kafka import Consumer, Producer

from dancu_bus.admin.diagnosis import diagnose
from dancu_bus.settings import KafkaSettings

__all__ = ["LIBRDKAFKA", "Connector", "Librdkafka"]


class Connector(Protocol):
    """Checks the cluster and makes the clients an agency's exchange uses (confluent-kafka's interface)."""

    def diagnose(self, kafka: KafkaSettings, timeout_s: float) -> str | None:
        """None when the cluster answers within ``timeout_s``; else why not, in one line."""

    def consumer(self, config: dict[str, Any]) -> Consumer:
        """A consumer with this librdkafka configuration."""

    def producer(self, config: dict[str, Any]) -> Producer:
        """A producer with this librdkafka configuration."""


class Librdkafka:
    """confluent-kafka's clients on the cluster the configuration names."""

    def diagnose(self, kafka: KafkaSettings, timeout_s: float) -> str | None:
        """``admin.diagnosis.diagnose``."""
        return diagnose(kafka, timeout_s=timeout_s)

    def consumer(self, config: dict[str, Any]) -> Consumer:
        """A librdkafka consumer."""
        return Consumer(config)

    def producer(self, config: dict[str, Any]) -> Producer:
        """A librdkafka producer."""
        return Producer(config)


LIBRDKAFKA = Librdkafka()
"""What every client uses unless its ClientConfig names another connector."""
