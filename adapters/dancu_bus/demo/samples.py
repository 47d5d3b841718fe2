"""The demo's sample exchanges: a bank and a province asking, matching, mismatching and refused."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen, LookupQuery, Request, Response, VerifyQuery
from dancu_bus.errors import UnknownOperation
from dancu_bus.sdk import AsyncClient, ClientConfig, Context
from dancu_bus.settings import KafkaSettings
from dancu_bus.text import without_diacritics

__all__ = ["AgencyLogin", "Exchange", "refused_by_the_sdk", "send_samples", "send_suspension_sample"]

Exchange = tuple[Request, Response]
BANK = Context("can-bo-0042", "HS-KYC-2026-0001", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9")
BANK_LOOKUP = Context(
    "can-bo-0042", "HS-KYC-2026-0002", "KYC-LOOKUP", "Luật Các tổ chức tín dụng 2024, Điều 11"
)
PROVINCE = Context("can-bo-1107", "HS-DVC-2026-0815", "PUBLIC-SERVICE", "Nghị định 45/2020/NĐ-CP, Điều 11")


@dataclass(frozen=True)
class AgencyLogin:
    """What a sample agency's client needs: its login, and its private answer keys."""

    kafka: KafkaSettings
    answer_keys: Path


def _client(agency: str, login: AgencyLogin, codec: Codec) -> AsyncClient:
    config = ClientConfig(agency, login.kafka, timeout_s=30, answer_keys=login.answer_keys)
    return AsyncClient(config, codec)


def _bank_requests(bank: AsyncClient, people: Sequence[Citizen]) -> list[Request]:
    a, b, c = people
    legacy_name = without_diacritics(a.full_name).upper()  # as a legacy core-banking system keeps it
    return [
        bank.build(VerifyQuery(a.personal_id, a.full_name, a.birth_date, a.sex), BANK),
        bank.build(VerifyQuery(b.personal_id, "Nguyễn Văn Sai", b.birth_date), BANK),
        bank.build(LookupQuery(c.personal_id, ("full_name", "permanent_address")), BANK_LOOKUP),
        bank.build(LookupQuery(c.personal_id, ("religion",)), BANK_LOOKUP),
        bank.build(VerifyQuery("00109001234X", "Trần Thị B"), BANK),
        bank.build(VerifyQuery(a.personal_id, legacy_name, a.birth_date), BANK),
    ]


async def refused_by_the_sdk(login: AgencyLogin, codec: Codec, person: Citizen) -> str:
    """What the SDK says, before sending anything, to a request of an operation nobody registered."""
    async with _client("demo-bank", login, codec) as bank:
        request = dataclasses.replace(bank.build(VerifyQuery(person.personal_id), BANK), operation="TRANSFER")
        try:
            await bank.request(request)
        except UnknownOperation as exc:
            return f"demo-bank TRANSFER {person.personal_id}\n    refused by the SDK, nothing sent: {exc}"
    return "demo-bank TRANSFER was sent: the SDK should have refused it"


def _province_requests(province: AsyncClient, people: Sequence[Citizen]) -> list[Request]:
    a, b, c = people
    no_purpose = dataclasses.replace(province.build(VerifyQuery(b.personal_id), PROVINCE), purpose_code="")
    return [
        province.build(LookupQuery(a.personal_id), PROVINCE),
        province.build(LookupQuery(c.personal_id, ("permanent_address",), "DVHC-2004"), PROVINCE),
        no_purpose,
    ]


async def send_samples(
    logins: Mapping[str, AgencyLogin], codec: Codec, people: Sequence[Citizen]
) -> list[Exchange]:
    """Each agency with its own credentials: matching, mismatching, in and out of scope, refused."""
    async with (
        _client("demo-bank", logins["demo-bank"], codec) as bank,
        _client("demo-province", logins["demo-province"], codec) as province,
    ):
        pairs = [(bank, r) for r in _bank_requests(bank, people)]
        pairs += [(province, r) for r in _province_requests(province, people)]
        answers = await asyncio.gather(*(client.request(request) for client, request in pairs))
    return [(request, answer) for (_, request), answer in zip(pairs, answers, strict=True)]


async def send_suspension_sample(
    login: AgencyLogin,
    codec: Codec,
    person: Citizen,
    suspend: Callable[[], object],
    resume: Callable[[], object],
) -> list[Exchange]:
    """The province asks while suspended (answered SUSPENDED) and again after it is resumed."""
    async with _client("demo-province", login, codec) as province:
        exchanges = []
        for change in (suspend, resume):
            await asyncio.to_thread(change)
            await asyncio.sleep(1.2)  # registry changes reach running resolvers within about a second
            request = province.build(VerifyQuery(person.personal_id, person.full_name), PROVINCE)
            exchanges.append((request, await province.request(request)))
    return exchanges
