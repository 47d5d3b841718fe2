"""A deployment on the secured broker, and probes that report what the broker answers a client.

Each probe acts with one principal's credentials through confluent-kafka (what the SDK uses) and
returns the broker's error, or None when the broker allowed the action.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import SecretStr

from dancu_bus.access import PLATFORM_PRINCIPALS, PlatformIds
from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.config import client_config
from dancu_bus.admin.security import (
    ensure_platform_principals,
    issue_agency_credentials,
    revoke_agency_credentials,
    withdraw_platform_grants,
)
from dancu_bus.admin.topics import apply_topics
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

# librdkafka's own log lines (failed logins, refused fetches) go here, where pytest captures them.
QUIET = logging.getLogger("tests.security.librdkafka")
PROBE_S = 15.0


@dataclass(frozen=True)
class Secured:
    """Topics under a unique prefix, the platform users and three agencies, each with its password."""

    admin: KafkaSettings
    names: TopicNames
    ids: PlatformIds
    agency: str
    neighbour: str
    leaver: str
    rotor: str
    passwords: dict[str, SecretStr]

    def as_user(self, user: str, password: SecretStr | None = None) -> KafkaSettings:
        """Client settings of ``user``, with its own password unless another is given."""
        secret = self.passwords[user] if password is None else password
        return self.admin.model_copy(update={"username": user, "password": secret})

    @property
    def catalogue(self) -> str:
        """A catalogue topic of this deployment."""
        return f"{self.names.prefix}.catalogue.gender"


def _platform_ids(prefix: str) -> PlatformIds:
    """Group and transactional id prefixes no other deployment uses."""
    return PlatformIds(
        resolver_group=f"{prefix}.resolver",
        resolver_transactional_id=f"{prefix}.resolver",
        audit_group=f"{prefix}.audit",
        audit_transactional_id=f"{prefix}.audit",
        registry_group=f"{prefix}.registry",
    )


def _create_catalogue(admin: KafkaSettings, topic: str) -> None:
    """A compacted catalogue topic; topics.yaml may not declare catalogues yet."""
    if describe(admin, [topic]):
        return
    client = AdminClient({**client_config(admin)}, logger=QUIET)
    new = NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})
    client.create_topics([new])[topic].result(timeout=PROBE_S)


@contextmanager
def secured_deployment(secure_kafka: KafkaSettings) -> Iterator[Secured]:
    """Topics, platform users and agencies set up as the super user; all removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    prefix = f"sec{tag}.dancu"
    admin = secure_kafka.model_copy(update={"topic_prefix": prefix})
    names, ids = TopicNames(prefix), _platform_ids(prefix)
    # The neighbour's id extends the agency's: prefix ACLs on topics would leak between them.
    agency, leaver, rotor = f"bank{tag}", f"gone{tag}", f"rota{tag}"
    neighbour = f"{agency}-2"
    agencies = [agency, neighbour, leaver, rotor]
    apply_topics(admin, agencies, replication_factor=1)
    _create_catalogue(admin, f"{prefix}.catalogue.gender")
    passwords = {user: SecretStr(secrets.token_urlsafe(24)) for user in PLATFORM_PRINCIPALS}
    ensure_platform_principals(admin, names, passwords, ids)
    for each in agencies:
        passwords[each] = issue_agency_credentials(admin, names, each, ids)
    try:
        yield Secured(admin, names, ids, agency, neighbour, leaver, rotor, passwords)
    finally:
        for each in agencies:
            revoke_agency_credentials(admin, names, each)
        withdraw_platform_grants(admin, names, ids)
        delete_topics(admin, describe(admin, prefix + "."))


def kafka_error(exc: KafkaException) -> KafkaError:
    """The KafkaError a KafkaException carries."""
    error = exc.args[0]
    assert isinstance(error, KafkaError), exc
    return error


def admin_error(future: Future[Any]) -> KafkaError | None:
    """The broker's error for one admin operation, or None when it was done."""
    try:
        future.result(timeout=PROBE_S)
    except KafkaException as exc:
        return kafka_error(exc)
    return None


def produce_error(kafka: KafkaSettings, topic: str, **extra: Any) -> KafkaError | None:
    """Produce one record as ``kafka``'s user; the delivery report's error, None when written."""
    producer = Producer({**client_config(kafka), "message.timeout.ms": 10_000, **extra}, logger=QUIET)
    reports: list[KafkaError | None] = []
    producer.produce(topic, b"probe", key=b"probe", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(PROBE_S)
    assert reports, f"no delivery report for {topic} within {PROBE_S} s"
    return reports[0]


def _first_error(consumer: Consumer, seconds: float) -> KafkaError | None:
    """The first error the consumer reports within ``seconds`` (end-of-partition is no error)."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            error = None if message is None else message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                return error
        return None
    finally:
        consumer.close()


def _consumer(kafka: KafkaSettings, group: str) -> Consumer:
    """A consumer of ``group`` from the earliest offset that commits nothing."""
    settings = {"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    return Consumer({**client_config(kafka), **settings}, logger=QUIET)


def subscribe_error(kafka: KafkaSettings, topic: str, group: str, seconds: float = 8.0) -> KafkaError | None:
    """Join ``group`` reading ``topic``; the broker's first error, None if it let the consumer read."""
    consumer = _consumer(kafka, group)
    consumer.subscribe([topic])
    return _first_error(consumer, seconds)


def fetch_error(kafka: KafkaSettings, topic: str, group: str, seconds: float = 8.0) -> KafkaError | None:
    """Fetch partition 0 of ``topic`` from the start without joining a group; the broker's first error."""
    consumer = _consumer(kafka, group)
    consumer.assign([TopicPartition(topic, 0, 0)])
    return _first_error(consumer, seconds)


def login_errors(config: dict[str, Any], seconds: float = 10.0) -> list[KafkaError]:
    """Errors a client with this librdkafka config gets while trying to log in and list topics."""
    errors: list[KafkaError] = []
    producer = Producer(config, logger=QUIET, error_cb=errors.append)
    deadline = time.monotonic() + seconds
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    try:
        producer.list_topics(timeout=2.0)
    except KafkaException as exc:
        errors.append(kafka_error(exc))
    return errors
