"""A request hidden from the citizen, in memory and on the real broker (marked integration): admitted for a
purpose that may hide and audited with its mark; refused for one that may not, audited with it too."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dancu_bus.agencies import FileAgencyDirectory, Purpose
from dancu_bus.audit import verify_log
from dancu_bus.audit.trail import trail
from dancu_bus.contracts import AuditRecord, Citizen, Operation, ResponseStatus
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import LookupQuery
from dancu_bus.settings import KafkaSettings
from dancu_bus.store import PopulationStore
from dancu_bus.testing import Bus, InMemoryBus, KafkaBus
from tests.contexts import KYC_LOOKUP
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_agencies, sdk_keys

pytestmark = pytest.mark.timeout(180)

BANK = "demo-bank"
# A bank's anti-money-laundering case, registered as a purpose that may hide its requests (for the test).
AML_CASE = dataclasses.replace(
    KYC_LOOKUP, purpose_code="AML-CASE", legal_basis="Luật Phòng, chống rửa tiền 2022, Điều 35"
)
HIDING_BASIS = "Quyết định của cơ quan điều tra số 12/QĐ-CSĐT"


def _directory() -> FileAgencyDirectory:
    agencies = {a.id: a for a in sample_agencies()}
    bank = agencies[BANK]
    case = Purpose(
        legal_basis=AML_CASE.legal_basis,
        operations=frozenset({Operation.LOOKUP}),
        fields=frozenset({"full_name"}),
        may_hide_from_citizen=True,
    )
    agencies[BANK] = bank.model_copy(update={"purposes": {**bank.purposes, "AML-CASE": case}})
    return FileAgencyDirectory(agencies)


@pytest.fixture(
    params=["memory", pytest.param("kafka", marks=[pytest.mark.integration, pytest.mark.citizen])]
)
async def bus(
    request: pytest.FixtureRequest, tmp_path: Path, population: PopulationStore
) -> AsyncIterator[Bus]:
    """The sample agencies' bus (in memory, or on the secured broker); demo-bank's AML-CASE may hide."""
    kafka = request.getfixturevalue("secure_kafka") if request.param == "kafka" else KafkaSettings()
    settings = deployment_settings(kafka, tmp_path)
    kind = InMemoryBus if request.param == "memory" else KafkaBus
    async with kind(settings, directory=_directory(), store=population, codec=platform_codec()) as on:
        yield on


async def _records_of(bus: Bus, request_ids: set[str]) -> list[AuditRecord]:
    deadline = time.monotonic() + 60
    while True:
        found = [r for r in await asyncio.to_thread(bus.audit_records) if r.request_id in request_ids]
        if len(found) >= len(request_ids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_hidden_request_is_answered_and_audited_with_its_mark(
    bus: Bus, people: list[Citizen]
) -> None:
    """An allowed mark is answered OK and audited with its date and legal basis, on an intact chain; a
    mark the purpose may not give is refused HIDING_NOT_ALLOWED, audited with the mark it asked for."""
    person = people[3]
    until = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    hiding = dataclasses.replace(AML_CASE, hidden_until=until, hiding_legal_basis=HIDING_BASIS)
    not_allowed = dataclasses.replace(KYC_LOOKUP, hidden_until=until, hiding_legal_basis=HIDING_BASIS)
    async with bus.async_client(BANK, answer_keys=sdk_keys(BANK)) as bank:
        hidden = await bank.request(bank.build(LookupQuery(person.personal_id, ("full_name",)), hiding))
        refused = await bank.request(bank.build(LookupQuery(person.personal_id, ("full_name",)), not_allowed))
    assert hidden.status is ResponseStatus.OK
    assert (refused.status, refused.reason_code) == (ResponseStatus.REJECTED, "HIDING_NOT_ALLOWED")
    records = {r.request_id: r for r in await _records_of(bus, {hidden.request_id, refused.request_id})}
    for response in (hidden, refused):
        record = records[response.request_id]
        assert (record.hidden_until, record.hiding_legal_basis) == (until, HIDING_BASIS)
    assert records[hidden.request_id].fields_disclosed == ("full_name",)
    lines = [line.text for line in trail([], records.values(), BANK)]
    assert all(f"hidden from the citizen until {until.isoformat()}" in line for line in lines)
    checks = verify_log(bus.audit_log(), bus.codec)
    assert checks and all(check.finding is None for check in checks)
