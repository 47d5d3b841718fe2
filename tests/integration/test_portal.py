"""The portal adapter on the real broker: levels' field sets, another person's id refused, who read my data.

One deployment (resolver, audit) for the module, the portal adapter beside it as agency ``portal``, and
the portal's side as a plain producer of ``portal.req`` and consumer of ``portal.res``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_topic
from dancu_bus.agencies import Purpose
from dancu_bus.audit.indexer import IndexOptions, run_index
from dancu_bus.contracts import AuditRecord
from dancu_bus.operations.self_record import PORTAL_PURPOSE, SelfFields
from dancu_bus.portal import (
    PORTAL_REQUEST,
    PORTAL_RESPONSE,
    AccountType,
    HistoryAsk,
    PortalRequest,
    Service,
    portal_adapter,
    request_record,
    resolver_asker,
    run_portal,
    self_query,
)
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import AsyncClient, Client, ClientConfig, Context, LookupQuery
from dancu_bus.settings import AuditIndexSettings, PortalSettings, Settings
from dancu_bus.transport import DeadLetters
from tests.contexts import KYC
from tests.contexts import PUBLIC_SERVICE as PROVINCE
from tests.integration.audit_env import audited_exchanges, exchange
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sample_agencies, sdk_keys

pytestmark = [pytest.mark.integration, pytest.mark.citizen, pytest.mark.timeout(180)]
INVESTIGATION_BASIS = "Bộ luật Tố tụng hình sự 2015, Điều 88"
# How long the investigation's request stays hidden: long enough to see it absent, short for the suite.
HIDDEN_S = 10.0


@dataclass
class Portal:
    """The portal's side of a running adapter: send a request, await its one answer."""

    deployment: Deployment
    settings: Settings
    producer: Producer
    consumer: Consumer
    answers: dict[str, dict[str, Any]]

    def ask(self, requests: Sequence[PortalRequest], timeout_s: float = 60) -> list[dict[str, Any]]:
        """Write the requests to portal.req; their decoded answers from portal.res, in the same order."""
        schemas = self.deployment.codec.schemas
        for request in requests:
            value = schemas.encode(PORTAL_REQUEST, request_record(request))
            self.producer.produce(self.topic("req"), value, key=request.session_id.encode())
        assert self.producer.flush(30) == 0
        wanted = {r.request_id for r in requests}
        deadline = time.monotonic() + timeout_s
        while not wanted <= self.answers.keys() and time.monotonic() < deadline:
            message = self.consumer.poll(0.1)
            if message is None or message.error() is not None or message.value() is None:
                continue
            name, record = schemas.decode(message.value())
            assert name == PORTAL_RESPONSE
            self.answers[record["request_id"]] = record
        return [self.answers[r.request_id] for r in requests]

    def topic(self, end: str) -> str:
        return f"{self.settings.kafka.topic_prefix}.portal.{end}"


def serve_portal(
    settings: Settings,
    deployment: Deployment,
    stop: asyncio.Event,
    started: threading.Event,
    failed: list[Exception],
) -> Callable[[], None]:
    """The adapter's main, to run in a thread of its own; ``started`` is set once it serves, or has failed."""

    async def main() -> None:
        portal = settings.portal
        config = ClientConfig(
            portal.agency, settings.kafka, timeout_s=portal.answer_timeout_s, answer_keys=portal.answer_keys
        )
        letters = DeadLetters(deployment.codec, None, failed_by="portal")
        async with (
            AsyncClient(config, deployment.codec) as client,
            portal_adapter(settings, deployment.codec.schemas, resolver_asker(client, portal)) as adapter,
        ):
            started.set()
            await run_portal(settings, adapter, letters, stop)

    def run() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(main())
        except Exception as exc:  # noqa: BLE001 - the thread's outermost frame: the fixture reports it
            failed.append(exc)
        finally:
            started.set()
            loop.close()

    return run


@pytest.fixture(scope="module")
def portal(kafka_settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """A deployment, an (empty, created) audit index, and the portal adapter answering on its topics."""
    data = tmp_path_factory.mktemp("portal")
    with running_deployment(kafka_settings, data) as deployment:
        prefix = deployment.settings.kafka.topic_prefix
        settings = deployment.settings.model_copy(
            update={
                "audit_index": AuditIndexSettings(path=data / "audit-index.sqlite3"),
                "portal": PortalSettings(group_id=f"portal.{prefix}", answer_keys=sdk_keys("portal")),
            }
        )
        asyncio.run(run_index(settings, deployment.codec, IndexOptions(once=True, timeout_s=30)))
        stop, started, failed = asyncio.Event(), threading.Event(), list[Exception]()
        thread = threading.Thread(target=serve_portal(settings, deployment, stop, started, failed))
        thread.start()
        assert started.wait(60) and not failed, failed
        producer = Producer(client_config(settings.kafka))
        consumer = Consumer(
            {
                **client_config(settings.kafka),
                "group.id": f"portal.side.{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([f"{prefix}.portal.res"])
        try:
            side = Portal(deployment, settings, producer, consumer, {})
            served(side)
            yield side
        finally:
            consumer.close()
            stop.set()
            thread.join(60)


def served(portal: Portal, timeout_s: float = 60) -> None:
    """Wait until the resolver serves the portal: its audit gate starts closed for an agency first seen."""
    warm_up = portal.deployment.people[-1].personal_id
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        (answer,) = portal.ask([citizen_info(warm_up, 1)])
        if answer["reason_code"] != "AUDIT_UNAVAILABLE":
            return
        time.sleep(0.5)
    raise AssertionError("the resolver refused the portal AUDIT_UNAVAILABLE for a minute")


def citizen_info(person: str, level: int, asked: str | None = None) -> PortalRequest:
    """A CITIZEN_INFO request of a VNeID session bound to ``person``."""
    return PortalRequest(
        str(uuid.uuid4()),
        f"s-{uuid.uuid4().hex[:12]}",
        AccountType.VNEID,
        level,
        person,
        Service.CITIZEN_INFO,
        asked or person,
        None,
        datetime.now(UTC),
    )


def history(person: str, start: datetime, end: datetime, cursor: str | None, level: int = 2) -> PortalRequest:
    """An ACCESS_HISTORY request of ``person`` for [start, end), two entries a page."""
    return PortalRequest(
        str(uuid.uuid4()),
        f"s-{uuid.uuid4().hex[:12]}",
        AccountType.VNEID,
        level,
        person,
        Service.ACCESS_HISTORY,
        person,
        HistoryAsk(start, end, cursor, 2),
        datetime.now(UTC),
    )


def configured(person: str, level: int) -> list[str]:
    """The field names the resolver's settings (here its defaults) give the portal at ``level``."""
    (portal,) = (a for a in sample_agencies() if a.id == "portal")
    fields = SelfFields.parse(None).within(
        self_query(citizen_info(person, level)), portal.purposes[PORTAL_PURPOSE]
    )
    return [f.name for f in fields]


def test_each_level_gets_its_configured_field_set(portal: Portal) -> None:
    """Level 1 the reduced set, level 2 the full one, each exactly as the resolver's settings name them."""
    person = portal.deployment.people[0].personal_id
    one, two = portal.ask([citizen_info(person, 1), citizen_info(person, 2)])
    assert (one["status"], two["status"]) == ("OK", "OK")
    assert [f["name"] for f in one["fields"]] == configured(person, 1)
    assert [f["name"] for f in two["fields"]] == configured(person, 2)
    assert len(two["fields"]) > len(one["fields"])


def test_another_persons_id_is_refused(portal: Portal) -> None:
    """The account bound to one person asking for another's record: REJECTED NOT_OWN_RECORD, no field."""
    me, other = (p.personal_id for p in portal.deployment.people[1:3])
    (answer,) = portal.ask([citizen_info(me, 2, asked=other)])
    assert (answer["status"], answer["reason_code"], answer["fields"]) == ("REJECTED", "NOT_OWN_RECORD", [])
    assert answer["message_vi"] and answer["message_en"]


def test_level_one_is_refused_the_history(portal: Portal) -> None:
    """ACCESS_HISTORY at level 1: REJECTED LEVEL_2_REQUIRED."""
    person = portal.deployment.people[3].personal_id
    now = datetime.now(UTC)
    (answer,) = portal.ask([history(person, now - timedelta(days=1), now, None, level=1)])
    assert (answer["status"], answer["reason_code"]) == ("REJECTED", "LEVEL_2_REQUIRED")


def audited_about(portal: Portal, person: str, count: int) -> list[AuditRecord]:
    """The audit topic's records about ``person``, once it holds at least ``count``."""
    codec = portal.deployment.codec
    found: dict[str, AuditRecord] = {}

    def done(records: Sequence[TopicRecord]) -> bool:
        for record in records:
            if record.value is not None:
                audit = codec.decode_audit(record.value)
                if audit.personal_id == person:
                    found[audit.exchange_id] = audit
        return len(found) >= count

    read_topic(portal.settings.kafka, f"{portal.settings.kafka.topic_prefix}.audit", done, 60)
    return list(found.values())


def investigating(portal: Portal) -> Context:
    """demo-province registered again with an investigation's purpose, which may hide its requests."""
    (province,) = (a for a in sample_agencies() if a.id == "demo-province")
    purpose = Purpose(
        legal_basis=INVESTIGATION_BASIS,
        operations=frozenset({"LOOKUP"}),
        fields=frozenset({"full_name"}),
        may_hide_from_citizen=True,
    )
    changed = province.model_copy(update={"purposes": {**province.purposes, "INVESTIGATION": purpose}})
    registry = AgencyAdmin(portal.settings.kafka, RegistryCodec(portal.deployment.codec.schemas))
    registry.import_agencies([changed], by="integration-tests")
    return Context("dieu-tra-vien-1", "VA-2026-7", "INVESTIGATION", INVESTIGATION_BASIS)


def lookup_as_province(portal: Portal, person: str, context: Context) -> None:
    """One LOOKUP of ``person`` by demo-province under ``context``, answered."""
    config = ClientConfig(
        "demo-province", portal.settings.kafka, timeout_s=60, answer_keys=sdk_keys("demo-province")
    )
    with Client(config, portal.deployment.codec) as province:
        answer = province.lookup(LookupQuery(person), context)
    assert answer.ok, (answer.reason_code, answer.message_en)


def whole_history(
    portal: Portal, person: str, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], int]:
    """Every entry of the person's history in the period, following cursors, and how many pages it took."""
    entries: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        (answer,) = portal.ask([history(person, start, end, cursor)])
        assert answer["status"] == "OK", answer
        entries += answer["history"]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            return entries, pages


def seen(entry: dict[str, Any]) -> tuple[object, ...]:
    """What identifies an exchange in a history entry."""
    return (
        entry["received_at"],
        entry["agency"],
        entry["operation"],
        entry["purpose_code"],
        entry["status"],
        entry["reason_code"],
        tuple(entry["fields_disclosed"]),
    )


def recorded(record: AuditRecord) -> tuple[object, ...]:
    """The same of an audit record."""
    return (
        record.received_at,
        record.agency,
        record.operation,
        record.purpose_code,
        record.status,
        record.reason_code,
        record.fields_disclosed,
    )


def newest_first(records: Sequence[AuditRecord]) -> list[tuple[object, ...]]:
    return [recorded(r) for r in sorted(records, key=lambda r: (r.received_at, r.exchange_id), reverse=True)]


def test_the_history_lists_the_audited_exchanges_newest_first_hidden_ones_after_their_date(
    portal: Portal,
) -> None:
    """Two agencies' exchanges, a hidden one and the citizen's own: exactly the audit's, newest first, the
    hidden one only once its date has passed."""
    people = portal.deployment.people
    index = 10
    person = people[index].personal_id
    start = datetime.now(UTC) - timedelta(seconds=1)
    context = investigating(portal)
    exchange(portal.deployment, "demo-bank", KYC, 1, index)
    exchange(portal.deployment, "demo-province", PROVINCE, 1, index)
    own = [
        citizen_info(person, 2),
        citizen_info(person, 1),
        citizen_info(person, 2, asked=people[11].personal_id),
    ]
    assert [a["status"] for a in portal.ask(own)] == ["OK", "OK", "REJECTED"]
    audited_about(portal, person, 4)
    # The hidden one last, so that little time passes between it and the history read before its date.
    until = datetime.now(UTC) + timedelta(seconds=HIDDEN_S)
    lookup_as_province(
        portal,
        person,
        dataclasses.replace(context, hidden_until=until, hiding_legal_basis=INVESTIGATION_BASIS),
    )
    audited = audited_about(portal, person, 5)
    asyncio.run(run_index(portal.settings, portal.deployment.codec, IndexOptions(once=True, timeout_s=30)))
    end = datetime.now(UTC) + timedelta(minutes=1)
    assert [r.hidden_until is not None for r in audited].count(True) == 1
    before, pages = whole_history(portal, person, start, end)
    assert datetime.now(UTC) < until, "the hidden exchange's date passed before its absence was seen"
    assert [seen(e) for e in before] == newest_first([r for r in audited if r.hidden_until is None])
    assert pages == 2  # four entries, two a page
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.1)
    after, _ = whole_history(portal, person, start, end)
    assert [seen(e) for e in after] == newest_first(audited)
    by_operation = {(e["agency"], e["purpose_code"]): e for e in after}
    bank = by_operation[("demo-bank", KYC.purpose_code)]
    assert (bank["agency_name"], bank["agency_code"]) == next(
        (a.name, a.code) for a in sample_agencies() if a.id == "demo-bank"
    )
    assert {e["operation"] for e in after} == {"SELF", "VERIFY", "LOOKUP"}


def test_every_portal_exchange_has_its_audit_record_with_the_fields_it_disclosed(portal: Portal) -> None:
    """Each request the adapter sent the resolver, answered or refused, is audited as agency portal, SELF,
    fee 0, with exactly the fields its answer disclosed."""
    me, other = (p.personal_id for p in portal.deployment.people[4:6])
    asked = [citizen_info(me, 1), citizen_info(me, 2), citizen_info(me, 2, asked=other)]
    portal.ask(asked)
    audited = audited_exchanges(portal.settings.kafka, "portal", portal.deployment.codec)
    for request, response, audit in audited.values():
        assert (audit.operation, audit.fee, audit.personal_id) == ("SELF", 0, request.personal_id)
        assert audit.fields_disclosed == response.fields_disclosed
    by_session = {audit.case_no: audit for _, _, audit in audited.values()}
    one, two, refused = (by_session[a.session_id] for a in asked)
    assert configured(me, 1) == list(one.fields_disclosed)
    assert configured(me, 2) == list(two.fields_disclosed)
    assert (refused.status, refused.reason_code, refused.fields_disclosed) == (
        "REJECTED",
        "NOT_OWN_RECORD",
        (),
    )
    assert one.officer_id == "citizen.vneid.level1" and two.officer_id == "citizen.vneid.level2"
