"""``dancu-bus demo``: a whole exchange on a real local broker, start to finish, then everything stopped.

Starts the broker, applies topics, seeds the SQLite store, runs resolver and audit, sends VERIFY and
LOOKUP requests as a sample bank and a sample province, prints the answers and the audit records.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import TextIO

from dancu_bus.admin.catalogues import load_catalogues
from dancu_bus.admin.cluster import wait_ready
from dancu_bus.admin.devbroker import start_broker, stop_broker
from dancu_bus.admin.reader import TopicRecord, read_topic
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import load_directory
from dancu_bus.audit import run_audit
from dancu_bus.catalogues import load_entries
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import (
    Address,
    AuditRecord,
    Citizen,
    DisclosedField,
    LookupQuery,
    Request,
    Response,
    VerifyQuery,
)
from dancu_bus.resolver import run_resolver
from dancu_bus.sdk import AsyncClient, ClientConfig, Context
from dancu_bus.settings import Settings
from dancu_bus.store import PopulationStore, open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.topic_names import TopicNames

__all__ = ["DEMO_CITIZENS", "run_demo"]

DEMO_CITIZENS = 100_000
_BANK = Context("can-bo-0042", "HS-KYC-2026-0001", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9")
_BANK_LOOKUP = Context(
    "can-bo-0042", "HS-KYC-2026-0002", "KYC-LOOKUP", "Luật Các tổ chức tín dụng 2024, Điều 11"
)
_PROVINCE = Context("can-bo-1107", "HS-DVC-2026-0815", "PUBLIC-SERVICE", "Nghị định 45/2020/NĐ-CP, Điều 11")


async def run_demo(settings: Settings, out: TextIO) -> int:
    """Run the demonstration; return 0 when every step worked."""
    started = start_broker(settings.broker)
    try:
        wait_ready(settings.kafka, timeout_s=60)
        directory = load_directory(settings.resolver.agencies_file)
        for line in apply_topics(settings.kafka, directory.ids(), replication_factor=1):
            print(f"topics: {line}", file=out)
        loads = load_catalogues(settings.kafka, Codec(load_schemas()), load_entries())
        produced = sum(done.produced for done in loads)
        print(
            f"catalogues: {sum(d.entries for d in loads):,} entries on {len(loads)} topics, {produced:,} new",
            file=out,
        )
        async with open_store(settings.store) as store:
            await _seed(store, out)
            people = list(await store.sample(3, offset=1234))
            return await _exchange_and_audit(settings, store, people, out)
    finally:
        if started:
            stop_broker(settings.broker)
            print("broker: stopped", file=out)


async def _seed(store: PopulationStore, out: TextIO) -> None:
    if await store.count() >= DEMO_CITIZENS:
        print(f"store: {await store.count():,} citizens already seeded", file=out)
        return
    written = await seed_store(store, DEMO_CITIZENS, seed=2026)
    print(f"store: seeded {written:,} citizens", file=out)


async def _exchange_and_audit(
    settings: Settings, store: PopulationStore, people: Sequence[Citizen], out: TextIO
) -> int:
    codec = Codec(load_schemas())
    directory = load_directory(settings.resolver.agencies_file)
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_resolver(settings, directory, store, codec, stop), name="resolver"),
        asyncio.create_task(run_audit(settings, codec, stop), name="audit"),
    ]
    try:
        exchanges = await _send_samples(settings, codec, people)
        for request, response in exchanges:
            print(describe_exchange(request, response), file=out)
        audits = await asyncio.to_thread(read_audit, settings, codec, [r.request_id for r, _ in exchanges])
        for record in audits:
            print(describe_audit(record), file=out)
        return 0 if len(audits) == len(exchanges) else 1
    finally:
        stop.set()
        for task in services:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _send_samples(
    settings: Settings, codec: Codec, people: Sequence[Citizen]
) -> list[tuple[Request, Response]]:
    a, b, c = people
    bank = ClientConfig("demo-bank", settings.kafka, timeout_s=30)
    province = ClientConfig("demo-province", settings.kafka, timeout_s=30)
    async with AsyncClient(bank, codec) as bank_client, AsyncClient(province, codec) as province_client:
        samples: list[tuple[AsyncClient, Request]] = [
            (
                bank_client,
                bank_client.build(VerifyQuery(a.personal_id, a.full_name, a.birth_date, a.sex), _BANK),
            ),
            (
                bank_client,
                bank_client.build(VerifyQuery(b.personal_id, "Nguyễn Văn Sai", b.birth_date), _BANK),
            ),
            (
                bank_client,
                bank_client.build(
                    LookupQuery(c.personal_id, ("full_name", "permanent_address")), _BANK_LOOKUP
                ),
            ),
            (bank_client, bank_client.build(LookupQuery(c.personal_id, ("religion",)), _BANK_LOOKUP)),
            (bank_client, bank_client.build(VerifyQuery("00109001234X", "Trần Thị B"), _BANK)),
            (
                bank_client,
                dataclasses.replace(
                    bank_client.build(VerifyQuery(a.personal_id), _BANK), operation="TRANSFER"
                ),
            ),
            (province_client, province_client.build(LookupQuery(a.personal_id), _PROVINCE)),
            (
                province_client,
                province_client.build(
                    LookupQuery(c.personal_id, ("permanent_address",), "DVHC-2004"), _PROVINCE
                ),
            ),
            (
                province_client,
                dataclasses.replace(
                    province_client.build(VerifyQuery(b.personal_id), _PROVINCE), purpose_code=""
                ),
            ),
        ]
        answers = await asyncio.gather(*(client.request(req) for client, req in samples))
    return [(req, answer) for (_, req), answer in zip(samples, answers, strict=True)]


def read_audit(
    settings: Settings, codec: Codec, request_ids: Sequence[str], timeout_s: float = 60
) -> list[AuditRecord]:
    """The latest audit record of each request id, read back from the audit topic."""
    wanted = {rid.encode() for rid in request_ids}
    topic = TopicNames(settings.kafka.topic_prefix).audit

    def done(records: Sequence[TopicRecord]) -> bool:
        return wanted <= {r.key for r in records}

    latest = {r.key: r.value for r in read_topic(settings.kafka, topic, done, timeout_s) if r.key in wanted}
    return [codec.decode_audit(latest[rid.encode()]) for rid in request_ids if rid.encode() in latest]


def describe_exchange(request: Request, response: Response) -> str:
    """One readable block per exchange."""
    head = f"{request.agency} {request.operation} {request.personal_id} purpose={request.purpose_code or '∅'}"
    if response.reason_code is not None:
        return f"{head}\n    REJECTED {response.reason_code}: {response.message_vi} / {response.message_en}"
    if response.verify is not None:
        fields = ", ".join(
            f"{m.field}={m.outcome.value}"
            for m in response.verify.fields
            if m.outcome.value != "NOT_SUPPLIED"
        )
        return f"{head}\n    OK verdict={response.verify.verdict.value} [{fields}]"
    assert response.lookup is not None
    lines = [f"{head}\n    OK found={response.lookup.found}"]
    lines += [
        f"      {f.name} = {_text(f.value)}  (source {f.source}, updated {f.updated_on}){_conversion(f)}"
        for f in response.lookup.fields
    ]
    return "\n".join(lines)


def _conversion(field: DisclosedField) -> str:
    if field.converted_from is None:
        return ""
    others = f", {len(field.alternatives)} other candidate(s)" if field.alternatives else ""
    return f"\n        converted from {_text(field.converted_from)}{others}"


def _text(value: str | Address | None) -> str:
    if isinstance(value, Address):
        district = f"/{value.district_code}" if value.district_code else ""
        return f"{value.detail}, {value.scheme} {value.province_code}{district}/{value.commune_code}"
    return "∅" if value is None else value


def describe_audit(record: AuditRecord) -> str:
    """One line per audit record."""
    disclosed = ",".join(record.fields_disclosed) or "-"
    return (
        f"audit {record.request_id[:8]} {record.agency} officer={record.officer_id} case={record.case_no} "
        f"{record.operation} id={record.personal_id} {record.status} {record.reason_code or ''} "
        f"disclosed={disclosed}"
    )
