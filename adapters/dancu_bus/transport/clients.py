"""Where the services' Kafka clients come from: the seam an in-memory broker (``dancu_bus.testing``) fills.

The workers ask a ``KafkaClients`` for unstarted clients instead of building them from settings, so
the same resolver and audit code runs on a cluster (``transport.kafka.ClusterClients``) or on a broker
in memory. The clients keep their library's interface (aiokafka's, or confluent-kafka's for the
resolver's exactly-once path); the seam only chooses who makes them.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

__all__ = ["ClusterState", "KafkaClients"]


class ClusterState(Protocol):
    """What ``/readyz`` asks of a running watch of the cluster."""

    @property
    def problem(self) -> str | None:
        """Why the cluster cannot be used now, or None while it answers."""


class KafkaClients(Protocol):
    """Makes unstarted clients of one cluster; each caller starts and stops its own."""

    def consumer(
        self, group_id: str, max_records: int, assignors: tuple[type[Any], ...] = ()
    ) -> AIOKafkaConsumer:
        """A manually committing, read_committed consumer of a group."""

    def producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        """An idempotent producer, transactional when given an id."""

    def group_consumer(self, group_id: str, max_records: int, session_timeout_ms: int) -> Consumer:
        """A librdkafka consumer of a group: read_committed, cooperative-sticky, committing nothing itself."""

    def transactional_producer(self, transactional_id: str, timeout_ms: int) -> Producer:
        """A librdkafka transactional producer; the broker aborts its transactions after ``timeout_ms``."""

    def reader(self, fetch_max_wait_ms: int = 500) -> AIOKafkaConsumer:
        """A read_committed consumer in no group, for assigned partitions; it commits nothing."""

    def watch(self) -> AbstractAsyncContextManager[ClusterState]:
        """A background check of the cluster for as long as the context lasts."""
