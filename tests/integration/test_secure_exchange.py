"""Each principal does its job on the secured broker with its own credentials and nothing more.

The SDK runs as agency A; stand-ins for the resolver and the audit consumer run the services' own
transport (aiokafka, pattern subscription, consumer group, commits) as ``dancu-resolver`` and
``dancu-audit``; the registry user publishes the registry and a catalogue.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from confluent_kafka import Producer

from dancu_bus.access import AUDIT, REGISTRY, RESOLVER
from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.admin.reader import read_topic
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Response, ResponseStatus, Verdict, VerifyQuery, VerifyResult
from dancu_bus.exchanges import exchange_id
from dancu_bus.operations import OPERATIONS
from dancu_bus.sdk import Client, ClientConfig
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport.kafka import AioKafkaClients, consumer, kafka_options
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.worker import WorkerOptions, running_worker
from tests.contexts import KYC
from tests.integration.secured_env import QUIET, Secured, secured_deployment

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]


class _Answerer:
    """Stand-in resolver: answers every request NOT_FOUND on the requesting agency's response topic."""

    def __init__(self, names: TopicNames, codec: Codec) -> None:
        self._names = names
        self._codec = codec

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        return [self._answer(record) for record in batch]

    def _answer(self, record: Incoming) -> Outgoing:
        request = self._codec.decode_request(record.value)
        _, agency = self._names.split(record.topic) or ("req", request.agency)
        response = Response(
            request.request_id,
            exchange_id(record.topic, record.partition, record.offset, record.timestamp_ms),
            agency,
            request.operation,
            ResponseStatus.OK,
            datetime.now(UTC),
            result=VerifyResult(Verdict.NOT_FOUND, ()),
        )
        return Outgoing(self._names.response(agency), record.key, self._codec.encode_response(response))

    def committable(self, consumed: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        return consumed

    def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        return None


class _Witness(_Answerer):
    """Stand-in audit: copies every request and response it reads to the audit topic, keyed alike."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        return [Outgoing(self._names.audit, r.key, r.value or b"") for r in batch]


async def _serve(secured: Secured, stop: asyncio.Event, ready: threading.Event) -> None:
    """Run both stand-ins, each as its own principal, until ``stop``."""
    names, codec, ids = secured.names, Codec(load_schemas(OPERATIONS)), secured.ids
    resolver, audit = secured.as_user(RESOLVER), secured.as_user(AUDIT)
    answering = WorkerOptions(pattern=names.request_pattern, poll_timeout_ms=50)
    witnessing = WorkerOptions(pattern=names.exchange_pattern, poll_timeout_ms=50)
    async with (
        running_worker(
            AioKafkaClients(resolver, ClusterWatch), ids.resolver_group, _Answerer(names, codec), answering
        ) as answerer,
        running_worker(
            AioKafkaClients(audit, ClusterWatch), ids.audit_group, _Witness(names, codec), witnessing
        ) as witness,
    ):
        ready.set()
        await asyncio.gather(answerer.run(stop), witness.run(stop))


@pytest.fixture(scope="module")
def secured(secure_kafka: KafkaSettings) -> Iterator[Secured]:
    """A secured deployment with the two stand-in services running in a background event loop."""
    with secured_deployment(secure_kafka) as deployment:
        loop, stop, ready = asyncio.new_event_loop(), asyncio.Event(), threading.Event()
        thread = threading.Thread(target=loop.run_until_complete, args=(_serve(deployment, stop, ready),))
        thread.start()
        assert ready.wait(30), "the stand-in services did not start"
        try:
            yield deployment
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(30)
            loop.close()


def test_sdk_resolver_and_audit_complete_an_exchange(secured: Secured) -> None:
    """A's SDK gets its answer from the resolver's user, and the audit user logs both halves."""
    config = ClientConfig(secured.agency, secured.as_user(secured.agency), timeout_s=60)
    with Client(config) as bank:
        answer = bank.verify(VerifyQuery("001090012345", "Nguyễn Văn An", date(1990, 1, 1)), KYC)
    assert answer.ok and answer.verdict is Verdict.NOT_FOUND
    logged = read_topic(secured.admin, secured.names.audit, lambda records: len(records) >= 2, 30.0)
    assert len(logged) >= 2


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
