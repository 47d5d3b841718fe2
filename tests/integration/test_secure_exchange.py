"""Each principal does its job on the secured broker with its own credentials and nothing more.

The SDK runs as agency A; stand-ins for the resolver and the audit consumer run the services' own
transport (aiokafka, pattern subscription, consumer group, commits) as ``dancu-resolver`` and
``dancu-audit``; the registry user publishes the registry and a catalogue.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from confluent_kafka import Producer

from dancu_bus.access import AUDIT, REGISTRY, RESOLVER, Grant, Operation, Pattern, Resource, agency_grants
from dancu_bus.admin import repo_root
from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_topic
from dancu_bus.admin.security import apply_acls, describe_agency_acls
from dancu_bus.cli.topics import run_apply, run_plan
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Response, ResponseStatus, Verdict, VerifyQuery, VerifyResult
from dancu_bus.exchanges import exchange_id
from dancu_bus.sdk import Client, ClientConfig
from dancu_bus.settings import AuditSettings, KafkaSettings, ResolverSettings, Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import AclPlan, load_topics
from dancu_bus.transport.kafka import consumer, kafka_options
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.worker import WorkerOptions, running_worker
from tests.contexts import KYC
from tests.integration.secured_env import QUIET, Secured, secured_deployment
from tests.keys import AGENCIES_FILE

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]

Command = Callable[[argparse.Namespace, Settings], int]


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
            verify=VerifyResult(Verdict.NOT_FOUND, ()),
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
    names, codec, ids = secured.names, Codec(load_schemas()), secured.ids
    resolver, audit = secured.as_user(RESOLVER), secured.as_user(AUDIT)
    answering = WorkerOptions(pattern=names.request_pattern, poll_timeout_ms=50)
    witnessing = WorkerOptions(pattern=names.exchange_pattern, poll_timeout_ms=50)
    async with (
        running_worker(resolver, ids.resolver_group, _Answerer(names, codec), answering) as answerer,
        running_worker(audit, ids.audit_group, _Witness(names, codec), witnessing) as witness,
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


# --- topics plan|apply and the ACLs topics.yaml gives ------------------------------------------------


def _cli_settings(secured: Secured, folder: Path) -> Settings:
    """The CLI's settings for this deployment: its prefix and ids, an agencies file of agency A only."""
    raw = yaml.safe_load(AGENCIES_FILE.read_text(encoding="utf-8"))
    agencies = folder / "agencies.yaml"
    agencies.write_text(yaml.safe_dump({"agencies": [{**raw["agencies"][0], "id": secured.agency}]}))
    return Settings(
        kafka=secured.admin,
        resolver=ResolverSettings(group_id=secured.ids.resolver_group, agencies_file=agencies),
        audit=AuditSettings(group_id=secured.ids.audit_group),
    )


def _lines_of(
    agency: str, run: Command, settings: Settings, capsys: pytest.CaptureFixture[str], prune: bool = False
) -> list[str]:
    """Run ``topics plan`` or ``apply``, which must exit 0; the lines it printed about ``agency``."""
    args = argparse.Namespace(file=None, replication_factor=1, delete_unknown=False, prune_acls=prune)
    assert run(args, settings) == 0
    return [line for line in capsys.readouterr().out.splitlines() if f"User:{agency} " in line]


def test_topics_plan_shows_a_missing_and_a_stray_acl_and_apply_restores_the_lane(
    secured: Secured, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plan shows A's lost grant (+) and a foreign one (-); apply adds, --prune-acls removes; A still asks."""
    agency, names = secured.agency, secured.names
    wanted = agency_grants(load_topics(repo_root() / "topics.yaml"), names, agency)
    lost = Grant(f"User:{agency}", Resource.TOPIC, names.response(agency), Pattern.LITERAL, Operation.READ)
    stray = Grant(f"User:{agency}", Resource.TOPIC, names.audit, Pattern.LITERAL, Operation.READ)
    assert lost in wanted and stray not in wanted
    settings = _cli_settings(secured, tmp_path)
    apply_acls(secured.admin, AclPlan(missing=(stray,), stray=(lost,)), prune=True)  # drift on the broker
    try:
        assert _lines_of(agency, run_plan, settings, capsys) == [
            f"+ acl User:{agency} READ TOPIC LITERAL {names.response(agency)}",
            f"- acl User:{agency} READ TOPIC LITERAL {names.audit}  (kept: apply --prune-acls removes it)",
        ]
        assert _lines_of(agency, run_apply, settings, capsys) == [
            f"+ acl User:{agency} READ TOPIC LITERAL {names.response(agency)}",
            f"- acl User:{agency} READ TOPIC LITERAL {names.audit}  (kept: apply --prune-acls removes it)",
        ]
        assert describe_agency_acls(secured.admin, agency) == wanted | {stray}
        assert _lines_of(agency, run_apply, settings, capsys, prune=True) == [
            f"- acl User:{agency} READ TOPIC LITERAL {names.audit}"
        ]
        assert describe_agency_acls(secured.admin, agency) == wanted
        assert _lines_of(agency, run_plan, settings, capsys) == []
    finally:
        apply_acls(secured.admin, AclPlan(missing=(lost,), stray=(stray,)), prune=True)
    config = ClientConfig(agency, secured.as_user(agency), timeout_s=60)
    with Client(config) as bank:
        answer = bank.verify(VerifyQuery("001090012346", "Trần Thị Bình", date(1991, 2, 2)), KYC)
    assert answer.ok and answer.verdict is Verdict.NOT_FOUND
