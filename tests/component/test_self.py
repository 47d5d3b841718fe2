"""SELF through the SDK, the resolver and the audit (in memory): a citizen's own record, bound by phone
(sms) or account (portal), sealed, its field set the resolver's, refusals that reveal nothing, fee 0."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Citizen, Response, ResponseStatus, VerifyQuery
from dancu_bus.operations import platform_operations
from dancu_bus.operations.self_record import (
    ACCOUNT,
    DEFAULT_SELF_FIELDS,
    PHONE,
    PORTAL_LEGAL_BASIS,
    PORTAL_PURPOSE,
    SMS_LEGAL_BASIS,
    SMS_PURPOSE,
    SelfQuery,
    SelfResult,
    e164_digits,
)
from dancu_bus.sdk import Context
from dancu_bus.settings import KafkaSettings
from dancu_bus.store import PopulationStore
from dancu_bus.testing import InMemoryBus
from tests.component.test_behaviour import eventually
from tests.contexts import KYC
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_directory, sdk_keys

pytestmark = pytest.mark.timeout(120)

SMS = Context("sms-gateway", "SMS-1", SMS_PURPOSE, SMS_LEGAL_BASIS)
PORTAL = Context("portal-session", "PORTAL-1", PORTAL_PURPOSE, PORTAL_LEGAL_BASIS)
# The portal's level 1 set, configured: what the resolver's settings say is what it answers.
LEVEL_1 = ("full_name", "birth_date", "personal_id:masked")
NOBODY = "001099999990"


@pytest.fixture
async def bus(tmp_path: Path, population: PopulationStore) -> AsyncIterator[InMemoryBus]:
    """The sample agencies (sms and portal among them) on a resolver with a configured PORTAL.1 set."""
    settings = deployment_settings(KafkaSettings(), tmp_path)
    codec = Codec(load_schemas(platform_operations({**DEFAULT_SELF_FIELDS, "PORTAL.1": LEVEL_1})))
    async with InMemoryBus(settings, directory=sample_directory(), store=population, codec=codec) as on:
        yield on


def _ask(bus: InMemoryBus, agency: str, query: object, context: Context) -> Response:
    with bus.client(agency, answer_keys=sdk_keys(agency)) as client:
        return client.request(client.build(query, context))  # type: ignore[arg-type]


def _phoned(people: list[Citizen]) -> Citizen:
    return next(p for p in people if p.phone is not None)


def _fields(response: Response) -> dict[str, object]:
    assert response.status is ResponseStatus.OK, response.message_en
    assert isinstance(response.result, SelfResult)
    return {f.name: f.value for f in response.result.fields}


async def test_an_sms_from_the_registered_phone_gets_the_record_sealed_and_audited_free(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """The phone on record, as the gateway writes it (E.164 digits), gets SMS's default set; on the
    response topic no value is in clear; the audit record names the fields and says fee 0."""
    person = _phoned(people)
    query = SelfQuery(person.personal_id, PHONE, phone=e164_digits(person.phone))
    response = await asyncio.to_thread(_ask, bus, "sms", query, SMS)
    fields = _fields(response)
    assert list(fields) == list(DEFAULT_SELF_FIELDS["SMS"])
    assert fields["full_name"] == person.full_name and fields["birth_date"] == person.birth_date
    (raw,) = bus.records(bus.names.response("sms"))
    assert raw.value is not None and person.full_name.encode() not in raw.value
    on_wire = bus.codec.decode_response(raw.value).result
    assert isinstance(on_wire, SelfResult) and on_wire.sealed is not None
    assert all(f.value is None and f.sealed for f in on_wire.fields)
    audits = await eventually(bus.audit_records, lambda found: len(found) == 1)
    (audit,) = audits
    assert (audit.operation, audit.agency, audit.personal_id, audit.status) == (
        "SELF",
        "sms",
        person.personal_id,
        "OK",
    )
    assert audit.fields_disclosed == DEFAULT_SELF_FIELDS["SMS"] and audit.fee == 0


async def test_another_phone_gets_the_same_bytes_for_an_existing_and_a_missing_id(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """NOT_BOUND for a stranger's phone on a real id and on an id nobody has: the encoded responses are
    equal once their request ids, exchange ids and times are set alike; both are audited, fee 0."""
    person = _phoned(people)
    assert NOBODY not in {p.personal_id for p in people}
    stranger = "84999999999"
    answers = [
        await asyncio.to_thread(_ask, bus, "sms", SelfQuery(pid, PHONE, phone=stranger), SMS)
        for pid in (person.personal_id, NOBODY)
    ]
    assert [a.reason_code for a in answers] == ["NOT_BOUND", "NOT_BOUND"]
    same = [
        bus.codec.encode_response(
            dataclasses.replace(
                a, request_id="0" * 36, exchange_id="1" * 36, answered_at=datetime(2026, 1, 1, tzinfo=UTC)
            )
        )
        for a in answers
    ]
    assert same[0] == same[1]
    audits = await eventually(bus.audit_records, lambda found: len(found) == 2)
    assert sorted((a.reason_code, a.fee, a.fields_disclosed) for a in audits) == [("NOT_BOUND", 0, ())] * 2


async def test_an_sms_field_group_gets_its_set_with_the_id_masked(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """DC <id> CCCD: the group's set, the personal id with its middle hidden."""
    person = _phoned(people)
    query = SelfQuery(person.personal_id, PHONE, phone=e164_digits(person.phone), field_group="cccd")
    fields = _fields(await asyncio.to_thread(_ask, bus, "sms", query, SMS))
    assert list(fields) == [f.split(":")[0] for f in DEFAULT_SELF_FIELDS["SMS.CCCD"]]
    pid = person.personal_id
    assert fields["personal_id"] == pid[:3] + "*" * 6 + pid[-3:]


async def test_the_portal_answers_each_level_its_configured_set(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """Level 1 gets the configured reduced set, level 2 the whole record; neither chose its fields."""
    person = people[7]

    def at(level: int) -> dict[str, object]:
        query = SelfQuery(person.personal_id, ACCOUNT, account_id=person.personal_id, assurance_level=level)
        return _fields(_ask(bus, "portal", query, PORTAL))

    level_1, level_2 = await asyncio.to_thread(at, 1), await asyncio.to_thread(at, 2)
    assert list(level_1) == ["full_name", "birth_date", "personal_id"]
    assert level_1["personal_id"] != person.personal_id and level_1["full_name"] == person.full_name
    assert level_2["personal_id"] == person.personal_id and level_2["household_id"] == person.household_id
    assert len(level_2) == len(DEFAULT_SELF_FIELDS["PORTAL.2"])


async def test_a_portal_account_asking_for_another_person_is_refused_and_audited(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """NOT_OWN_RECORD: still an exchange, in the audit with the id asked about and no field disclosed."""
    me, other = people[1], people[2]
    query = SelfQuery(other.personal_id, ACCOUNT, account_id=me.personal_id, assurance_level=2)
    response = await asyncio.to_thread(_ask, bus, "portal", query, PORTAL)
    assert response.reason_code == "NOT_OWN_RECORD" and response.result is None
    (audit,) = await eventually(bus.audit_records, lambda found: len(found) == 1)
    assert (audit.personal_id, audit.reason_code, audit.fields_disclosed, audit.fee) == (
        other.personal_id,
        "NOT_OWN_RECORD",
        (),
        0,
    )


async def test_self_is_for_the_adapters_only_and_other_operations_state_no_fee(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """A bank asking SELF is refused OPERATION_NOT_ALLOWED (a SELF exchange still, fee 0); a bank's VERIFY
    is audited with no fee."""
    person = _phoned(people)
    query = SelfQuery(person.personal_id, PHONE, phone=e164_digits(person.phone))
    refused = await asyncio.to_thread(_ask, bus, "demo-bank", query, KYC)
    assert refused.reason_code == "OPERATION_NOT_ALLOWED"
    verified = await asyncio.to_thread(
        _ask, bus, "demo-bank", VerifyQuery(person.personal_id, person.full_name), KYC
    )
    assert verified.status is ResponseStatus.OK
    audits = await eventually(bus.audit_records, lambda found: len(found) == 2)
    assert {a.operation: a.fee for a in audits} == {"SELF": 0, "VERIFY": None}
