"""Each principal does its job on the secured broker with its own credentials and nothing more.

The registry user publishes the registry and a catalogue, which the resolver's and the audit's users
read with the services' aiokafka consumer; the resolver's user answers and commits in one transaction.
The real services serving the SDK as their own principals: ``test_secure_services.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from confluent_kafka import Producer

from dancu_bus.access import AUDIT, REGISTRY, RESOLVER
from dancu_bus.admin.config import client_config
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport.kafka import consumer, kafka_options
from tests.integration.secured_env import QUIET, Secured, secured_deployment

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def secured(secure_kafka: KafkaSettings) -> Iterator[Secured]:
    """A secured deployment: topics, users and ACLs under a prefix of this module's."""
    with secured_deployment(secure_kafka) as deployment:
        yield deployment


def test_registry_user_publishes_what_the_services_read(secured: Secured) -> None:
    """The registry user writes the registry and a catalogue; resolver and audit read the registry."""
    registry = f"{secured.names.prefix}.registry"
    for topic in (registry, secured.catalogue):
        producer = Producer({**client_config(secured.as_user(REGISTRY))}, logger=QUIET)
        producer.produce(topic, b"value", key=b"key", on_delivery=_must_deliver)
        assert producer.flush(15) == 0
    views = [(RESOLVER, secured.ids.resolver_group), (AUDIT, secured.ids.audit_group)]
    for user, group in views:
        seen = asyncio.run(_read_one(secured.as_user(user), registry, f"{group}.registry-view"))
        assert seen == b"value", user


def _must_deliver(err: object, _msg: object) -> None:
    assert err is None, err


async def _read_one(kafka: KafkaSettings, topic: str, group: str) -> bytes | None:
    """The first value of ``topic`` read in ``group`` with the services' aiokafka consumer."""
    reader = consumer(kafka, group, 10)
    await reader.start()
    try:
        reader.subscribe([topic])
        fetched = await reader.getmany(timeout_ms=15_000, max_records=1)
        return next((m.value for messages in fetched.values() for m in messages), None)
    finally:
        await reader.stop()


def test_resolver_answers_and_commits_in_one_transaction(secured: Secured) -> None:
    """The resolver's user may produce and commit its group's offsets in one Kafka transaction."""
    resolver, ids = secured.as_user(RESOLVER), secured.ids
    # A group of its own under the resolver's prefix: the running stand-in owns the main one.
    group = f"{ids.resolver_group}.txn-probe"
    asyncio.run(_transact(resolver, secured.names, secured.agency, group, ids.resolver_transactional_id))


async def _transact(kafka: KafkaSettings, names: TopicNames, agency: str, group: str, txn: str) -> None:
    producer = AIOKafkaProducer(**kafka_options(kafka), transactional_id=f"{txn}-0", enable_idempotence=True)
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(names.response(agency), b"answer", key=b"request")
            offsets = {KafkaTopicPartition(names.request(agency), 0): 0}
            await producer.send_offsets_to_transaction(offsets, group)
    finally:
        await producer.stop()
