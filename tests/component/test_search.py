"""SEARCH through the SDK, the resolver and the audit (in memory): any form of a name, ids only, audited."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dancu_bus.agencies import FileAgencyDirectory, Purpose
from dancu_bus.contracts import Citizen
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import Context, SearchAnswer, SearchQuery
from dancu_bus.settings import KafkaSettings
from dancu_bus.store import PopulationStore
from dancu_bus.testing import InMemoryBus
from tests.component.test_behaviour import eventually
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_agencies, sdk_keys

pytestmark = pytest.mark.timeout(120)

BANK = "demo-bank"
SEARCHING = Context("can-bo-1", "HS-TIM-1", "KYC-SEARCH", "Luật Phòng, chống rửa tiền 2022, Điều 10")


def _directory() -> FileAgencyDirectory:
    """The sample agencies, the bank also granted SEARCH under a purpose of its own."""
    agencies = {a.id: a for a in sample_agencies()}
    bank = agencies[BANK]
    purpose = Purpose(legal_basis=SEARCHING.legal_basis, operations=frozenset({"SEARCH"}), fields=frozenset())
    agencies[BANK] = bank.model_copy(
        update={
            "operations": bank.operations | {"SEARCH"},
            "purposes": {**bank.purposes, "KYC-SEARCH": purpose},
        }
    )
    return FileAgencyDirectory(agencies)


@pytest.fixture
async def bus(tmp_path: Path, population: PopulationStore) -> AsyncIterator[InMemoryBus]:
    """The in-memory bus of the platform's operations, the bank allowed to search."""
    settings = deployment_settings(KafkaSettings(), tmp_path)
    codec = platform_codec()
    async with InMemoryBus(settings, directory=_directory(), store=population, codec=codec) as on:
        yield on


def _search(bus: InMemoryBus, agency: str, query: SearchQuery, context: Context) -> SearchAnswer:
    with bus.client(agency, answer_keys=sdk_keys(agency)) as client:
        return client.search(query, context)


@pytest.mark.parametrize("form", ["NFC", "NFD", "upper"])
async def test_a_name_in_nfc_nfd_or_upper_case_finds_its_candidate(
    bus: InMemoryBus, people: list[Citizen], form: str
) -> None:
    """Typed in NFC, NFD or upper case, a citizen's name and birth date find that citizen."""
    person = people[3]
    name = {
        "NFC": person.full_name,
        "NFD": unicodedata.normalize("NFD", person.full_name),
        "upper": person.full_name.upper(),
    }[form]
    answer = await asyncio.to_thread(_search, bus, BANK, SearchQuery(name, person.birth_date), SEARCHING)
    assert answer.ok, answer.message_en
    assert person.personal_id in [c.personal_id for c in answer.candidates]
    twins = [p for p in people if p.full_name == person.full_name and p.birth_date == person.birth_date]
    assert len(answer.candidates) == len(twins)


async def test_the_answer_carries_ids_only_and_is_audited_by_criteria_names(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """On the response topic nothing of the person is in clear, not even the ids; the audit keeps the
    names of the criteria and that a personal id was disclosed."""
    person = people[5]
    query = SearchQuery(person.full_name, person.birth_date, person.permanent_address)
    answer = await asyncio.to_thread(_search, bus, BANK, query, SEARCHING)
    assert answer.ok and answer.candidates[0].personal_id == person.personal_id
    assert answer.candidates[0].commune_matched and answer.candidates[0].rank == 1
    on_the_wire = b"".join(r.value or b"" for r in bus.records(bus.names.response(BANK)))
    detail = person.permanent_address.detail or person.full_name
    for value in (person.full_name, person.personal_id, detail, person.household_id):
        assert value.encode() not in on_the_wire
    audits = await eventually(bus.audit_records, lambda found: any(a.operation == "SEARCH" for a in found))
    (searched,) = [a for a in audits if a.operation == "SEARCH"]
    assert searched.personal_id is None and searched.status == "OK"
    assert searched.criteria == ("full_name", "birth_date", "commune")
    assert searched.fields_disclosed == ("personal_id",)
    assert person.full_name not in repr(searched)


async def test_an_agency_without_the_right_is_refused_and_audited(
    bus: InMemoryBus, people: list[Citizen]
) -> None:
    """The province holds no SEARCH grant: OPERATION_NOT_ALLOWED, no candidate, and the refusal audited."""
    person = people[7]
    context = Context("can-bo-1107", "HS-DVC-1", "PUBLIC-SERVICE", "Nghị định 45/2020/NĐ-CP, Điều 11")
    answer = await asyncio.to_thread(
        _search, bus, "demo-province", SearchQuery(person.full_name, person.birth_date), context
    )
    assert not answer.ok and answer.reason_code == "OPERATION_NOT_ALLOWED" and answer.candidates == ()
    audits = await eventually(
        bus.audit_records,
        lambda found: any(a.agency == "demo-province" and a.operation == "SEARCH" for a in found),
    )
    refused = [a for a in audits if a.agency == "demo-province" and a.operation == "SEARCH"]
    assert [(a.status, a.reason_code, a.fields_disclosed) for a in refused] == [
        ("REJECTED", "OPERATION_NOT_ALLOWED", ())
    ]
