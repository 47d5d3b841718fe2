"""Builds aiokafka clients from settings; the only module that constructs them."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dancu_bus.settings import KafkaSettings

__all__ = ["consumer", "kafka_options", "producer"]


def kafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection and security options common to consumers and producers."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol != "PLAINTEXT":
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.username
        options["sasl_plain_password"] = kafka.password.get_secret_value() if kafka.password else None
    return options


def consumer(kafka: KafkaSettings, group_id: str, max_records: int) -> AIOKafkaConsumer:
    """A manually committing, read_committed consumer of a group (not yet started)."""
    return AIOKafkaConsumer(
        **kafka_options(kafka),
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


def producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    """An idempotent producer that batches briefly (not yet started)."""
    return AIOKafkaProducer(
        **kafka_options(kafka),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
