"""Each principal does its job on the secured broker with its own credentials and nothing more.

The registry user publishes the registry and a catalogue, which the resolver's and the audit's users
read with the services' aiokafka consumer; the resolver's user answers and commits in one transaction.
The real services serving the SDK as their own principals: ``test_secure_services.py``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from confluent_kafka import Producer

from dancu_bus.access import AUDIT, REGISTRY, RESOLVER, Grant, Operation, Pattern, Resource, agency_grants
from dancu_bus.admin.config import client_config
from dancu_bus.admin.security import apply_acls, describe_agency_acls
from dancu_bus.cli.topics import run_apply, run_plan
from dancu_bus.settings import AuditSettings, KafkaSettings, ResolverSettings, Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import AclPlan, packaged_topics
from dancu_bus.transport.kafka import consumer, kafka_options
from tests.integration.secured_env import QUIET, Secured, secured_deployment
from tests.keys import AGENCIES_FILE

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]

Command = Callable[[argparse.Namespace, Settings], int]


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
    args = argparse.Namespace(
        file=None, replication_factor=1, agencies=None, delete_unknown=False, prune_acls=prune
    )
    assert run(args, settings) == 0
    return [line for line in capsys.readouterr().out.splitlines() if f"User:{agency} " in line]


def test_topics_plan_shows_a_missing_and_a_stray_acl_and_apply_restores_the_lane(
    secured: Secured, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plan shows A's lost grant (+) and a foreign one (-); apply adds it, --prune-acls removes the other."""
    agency, names = secured.agency, secured.names
    wanted = agency_grants(packaged_topics(), names, agency)
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
