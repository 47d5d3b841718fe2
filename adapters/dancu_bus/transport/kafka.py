"""Builds the services' Kafka clients from settings (aiokafka's, and librdkafka's for exactly-once)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from aiokafka.producer import sender as _aiokafka_sender
from confluent_kafka import Consumer, Producer

from dancu_bus.errors import ConfigError
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.clients import ClusterState
from dancu_bus.transport.unreadable import install as _guard_unreadable_batches

__all__ = ["ClusterClients", "consumer", "kafka_options", "producer", "reader"]

_librdkafka_log = logging.getLogger("dancu_bus.transport.librdkafka")

# A transaction begun right after the previous one of the same id committed finds the coordinator
# still writing that one's markers (CONCURRENT_TRANSACTIONS), for a few milliseconds. aiokafka waits a
# fixed 20 ms before asking again, which made every transactional write of a steady stream take 25 ms
# (measured back to back: 25 ms per transaction at 20 ms, 5 ms at 2 ms). It has no setting for it.
_aiokafka_sender.BACKOFF_OVERRIDE = 0.002
# Every consumer built here steps over record batches it cannot unpack instead of fetching them for ever.
_guard_unreadable_batches()


def kafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection and security options common to consumers and producers."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol == "PLAINTEXT":
        return options
    if kafka.username is None or kafka.password is None:
        raise ConfigError(
            f"security protocol {kafka.security_protocol} needs a username and a password"
            " (DANCU_KAFKA__USERNAME, DANCU_KAFKA__PASSWORD)"
        )
    # aiokafka names every SASL login "sasl_plain_*", SCRAM included.
    options["sasl_mechanism"] = kafka.sasl_mechanism
    options["sasl_plain_username"] = kafka.username
    options["sasl_plain_password"] = kafka.password.get_secret_value()
    if kafka.security_protocol == "SASL_SSL":
        # aiokafka has no default TLS context. Without ssl_ca this one trusts the system's CAs, as
        # librdkafka does; it always checks the broker's name against its certificate.
        files = kafka.tls_files()
        options["ssl_context"] = create_ssl_context(
            cafile=files.get("ca"), certfile=files.get("cert"), keyfile=files.get("key")
        )
    return options


def consumer(
    kafka: KafkaSettings, group_id: str, max_records: int, assignors: tuple[type[Any], ...] = ()
) -> AIOKafkaConsumer:
    """A manually committing, read_committed consumer of a group (not yet started)."""
    return AIOKafkaConsumer(
        **kafka_options(kafka),
        **({"partition_assignment_strategy": assignors} if assignors else {}),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=max_records,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        # New agency topics must join a pattern subscription within seconds, not minutes.
        metadata_max_age_ms=5_000,
    )


def producer(kafka: KafkaSettings, transactional_id: str | None = None) -> AIOKafkaProducer:
    """An idempotent producer that batches briefly, transactional when given an id (not yet started)."""
    return AIOKafkaProducer(
        **kafka_options(kafka),
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        # A writer's next transaction often meets the broker still writing the markers of its last one
        # (CONCURRENT_TRANSACTIONS, or NOT_ENOUGH_REPLICAS from Kafka 4's partition verification):
        # those clear in milliseconds, and aiokafka's default of 100 ms per retry set the latency.
        retry_backoff_ms=10,
        max_batch_size=256 * 1024,
        # As large as the local broker's message.max.bytes: the audit of a 5 MB request, or its dead
        # letter, is refused by the broker if anyone, not silently by the client's 1 MiB default.
        max_request_size=8 * 1024 * 1024,
    )


def reader(kafka: KafkaSettings, fetch_max_wait_ms: int = 500) -> AIOKafkaConsumer:
    """A read_committed consumer in no group, for assigned partitions (not yet started)."""
    return AIOKafkaConsumer(
        **kafka_options(kafka),
        group_id=None,  # no group: it reads the partitions it is given, and commits nothing
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=fetch_max_wait_ms,
    )


class ClusterClients:
    """The clients of the cluster ``kafka`` names, and its watch (``admin.diagnosis.ClusterWatch``).

    The watch and the librdkafka connection properties (``admin.config.client_config``) are given by
    the service: transport does not import the administration code.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        watch: Callable[[KafkaSettings], AbstractAsyncContextManager[ClusterState]],
        librdkafka: Mapping[str, str],
    ) -> None:
        self.kafka = kafka
        self._watch = watch
        # librdkafka's own log goes to a logger of ours, not straight to stderr.
        self._librdkafka: dict[str, Any] = {**librdkafka, "logger": _librdkafka_log}

    def consumer(
        self, group_id: str, max_records: int, assignors: tuple[type[Any], ...] = ()
    ) -> AIOKafkaConsumer:
        """A manually committing, read_committed consumer of a group (``consumer``)."""
        return consumer(self.kafka, group_id, max_records, assignors)

    def producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        """An idempotent producer, transactional when given an id (``producer``)."""
        return producer(self.kafka, transactional_id)

    def group_consumer(self, group_id: str, max_records: int, session_timeout_ms: int) -> Consumer:
        """A librdkafka consumer of a group, for the exactly-once worker (``transport.exactly_once``)."""
        return Consumer(
            self._librdkafka
            | {
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": session_timeout_ms,
                "heartbeat.interval.ms": max(session_timeout_ms // 5, 100),
                # Prefetch enough for several batches, without holding more than a few MB per partition.
                "queued.max.messages.kbytes": 16 * 1024,
                "max.partition.fetch.bytes": 4 * 1024 * 1024,
                "fetch.wait.max.ms": 50,
                # New agency topics must join a pattern subscription within seconds, not minutes.
                "topic.metadata.refresh.interval.ms": 5_000,
            }
        )

    def transactional_producer(self, transactional_id: str, timeout_ms: int) -> Producer:
        """A librdkafka transactional producer, for the exactly-once worker."""
        return Producer(
            self._librdkafka
            | {
                "transactional.id": transactional_id,
                "transaction.timeout.ms": timeout_ms,
                "enable.idempotence": True,
                "linger.ms": 2,
                # After CONCURRENT_TRANSACTIONS (the coordinator still writing the last one's markers,
                # for milliseconds) librdkafka waits retry.backoff.ms, 100 ms by default, before asking
                # again: that set the latency of a steady stream (bench/transport.py, issue 14).
                "retry.backoff.ms": 2,
                # As large as the local broker's message.max.bytes (see ``producer``).
                "message.max.bytes": 8 * 1024 * 1024,
            }
        )

    def reader(self, fetch_max_wait_ms: int = 500) -> AIOKafkaConsumer:
        """A consumer in no group (``reader``)."""
        return reader(self.kafka, fetch_max_wait_ms)

    def watch(self) -> AbstractAsyncContextManager[ClusterState]:
        """The service's watch of the cluster."""
        return self._watch(self.kafka)
