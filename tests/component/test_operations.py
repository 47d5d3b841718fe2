"""An operation is one module: a test-only one round-trips, an unregistered one is refused everywhere."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dancu_bus.agencies import FileAgencyDirectory, Purpose
from dancu_bus.audit import verify_log
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Citizen, Request, ResponseStatus, VerifyQuery
from dancu_bus.errors import CodecError, UnknownOperation
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import Context
from dancu_bus.settings import KafkaSettings
from dancu_bus.store import PopulationStore
from dancu_bus.testing import InMemoryBus
from tests.component.test_behaviour import eventually
from tests.contexts import KYC
from tests.echo_operation import WITH_ECHO, EchoQuery, EchoResult
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_agencies

pytestmark = pytest.mark.timeout(120)

BANK = "demo-bank"
ECHOING = Context("can-bo-1", "HS-ECHO", "ECHO-TEST", "Quyết định thử nghiệm 1/2026")


def _directory() -> FileAgencyDirectory:
    """The sample agencies, the bank also granted ECHO under a purpose of its own."""
    agencies = {a.id: a for a in sample_agencies()}
    bank = agencies[BANK]
    purpose = Purpose(legal_basis=ECHOING.legal_basis, operations=frozenset({"ECHO"}), fields=frozenset())
    agencies[BANK] = bank.model_copy(
        update={"operations": bank.operations | {"ECHO"}, "purposes": {**bank.purposes, "ECHO-TEST": purpose}}
    )
    return FileAgencyDirectory(agencies)


@pytest.fixture
async def echo_bus(tmp_path: Path, population: PopulationStore) -> AsyncIterator[InMemoryBus]:
    """The in-memory bus with the codec, resolver, audit and SDK all composed of ``WITH_ECHO``."""
    settings = deployment_settings(KafkaSettings(), tmp_path)
    codec = Codec(load_schemas(WITH_ECHO))
    async with InMemoryBus(settings, directory=_directory(), store=population, codec=codec) as bus:
        yield bus


@pytest.fixture
async def plain_bus(tmp_path: Path, population: PopulationStore) -> AsyncIterator[InMemoryBus]:
    """The same agencies (the bank granted ECHO) on the platform's operations alone: ECHO unregistered."""
    settings = deployment_settings(KafkaSettings(), tmp_path)
    codec = platform_codec()
    async with InMemoryBus(settings, directory=_directory(), store=population, codec=codec) as bus:
        yield bus


async def test_a_test_only_operation_round_trips_sdk_codec_resolver_audit(
    echo_bus: InMemoryBus, people: list[Citizen]
) -> None:
    """ECHO, defined in the test suite alone, is built by the SDK, answered by the resolver, audited."""
    person = people[0]

    def ask() -> object:
        with echo_bus.client(BANK) as bank:
            response = bank.request(bank.build(EchoQuery(person.personal_id, "xin chào"), ECHOING))
        assert response.status is ResponseStatus.OK, response.message_en
        return response.result

    assert await asyncio.to_thread(ask) == EchoResult(True, "oàhc nix")
    audits = await eventually(echo_bus.audit_records, lambda found: any(a.operation == "ECHO" for a in found))
    (echoed,) = [a for a in audits if a.operation == "ECHO"]
    assert (echoed.agency, echoed.personal_id, echoed.status) == (BANK, person.personal_id, "OK")
    assert echoed.fields_disclosed == ("status",)
    assert [c for c in verify_log(echo_bus.audit_log(), echo_bus.codec) if c.finding is not None] == []


async def test_an_agency_not_granted_the_operation_is_refused(
    echo_bus: InMemoryBus, people: list[Citizen]
) -> None:
    """The province holds no grant of ECHO: OPERATION_NOT_ALLOWED, like any other operation."""

    def ask() -> str | None:
        with echo_bus.client("demo-province") as province:
            context = dataclasses.replace(ECHOING, purpose_code="PUBLIC-SERVICE")
            return province.request(
                province.build(EchoQuery(people[1].personal_id, "a"), context)
            ).reason_code

    assert await asyncio.to_thread(ask) == "OPERATION_NOT_ALLOWED"


async def test_an_unregistered_operation_is_refused_by_sdk_codec_and_resolver(
    plain_bus: InMemoryBus, people: list[Citizen]
) -> None:
    """ECHO unregistered (though granted): the SDK refuses it before producing anything, the codec
    cannot encode it, and a request written by hand with that operation is answered UNKNOWN_OPERATION."""
    bus, person = plain_bus, people[0]

    def refused_by_the_sdk() -> Request:
        with bus.client(BANK) as bank:
            with pytest.raises(UnknownOperation, match="EchoQuery"):
                bank.build(EchoQuery(person.personal_id, "a"), ECHOING)
            renamed = dataclasses.replace(
                bank.build(VerifyQuery(person.personal_id, "A"), KYC), operation="ECHO"
            )
            with pytest.raises(UnknownOperation, match="'ECHO'"):
                bank.request(renamed)
            return renamed

    renamed = await asyncio.to_thread(refused_by_the_sdk)
    assert bus.records(bus.names.request(BANK)) == []  # nothing was produced
    with pytest.raises(CodecError, match="UNKNOWN_OPERATION"):
        bus.codec.encode_request(renamed)
    bus.send_raw(BANK, bus.codec.encode_foreign_request(renamed), renamed.request_id.encode())
    responses = await eventually(
        lambda: bus.records(bus.names.response(BANK)), lambda found: len(found) >= 1, timeout_s=30
    )
    answered = [bus.codec.decode_response(r.value) for r in responses if r.value is not None]
    assert [(a.request_id, a.reason_code) for a in answered] == [(renamed.request_id, "UNKNOWN_OPERATION")]
