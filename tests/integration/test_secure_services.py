"""The real services on the secured broker, each as its own principal with only its own ACLs.

The registry user loads the catalogues and the agencies, the resolver and the audit consumer run as
``dancu-resolver`` and ``dancu-audit``, and the sample bank asks with the credentials step 10 issued.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from dancu_bus.access import AUDIT, PLATFORM_PRINCIPALS, REGISTRY, RESOLVER, PlatformIds, platform_ids
from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.catalogues import load_catalogues
from dancu_bus.admin.security import (
    ensure_platform_principals,
    issue_agency_credentials,
    revoke_agency_credentials,
    withdraw_platform_grants,
)
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import Agency, Category, FocalPoint, Purpose, load_directory
from dancu_bus.audit import run_audit
from dancu_bus.catalogues import load_entries
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Citizen, Operation, ResponseStatus
from dancu_bus.demo import read_audit
from dancu_bus.errors import RefusedChange
from dancu_bus.registry import RegistryCodec
from dancu_bus.resolver import agency_directory, run_resolver
from dancu_bus.sdk import Client, ClientConfig, Context, Verdict, VerifyQuery
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.store import open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.topic_names import TopicNames
from tests.contexts import KYC
from tests.integration.exchange_env import AGENCIES_FILE, deployment_settings

pytestmark = [pytest.mark.security, pytest.mark.timeout(240)]

BANK = "demo-bank"


@dataclass(frozen=True)
class Services:
    """The running deployment: its settings as the super user, and the bank's client settings."""

    admin: Settings
    bank: KafkaSettings
    person: Citizen


def _login(admin: KafkaSettings, user: str, password: str) -> KafkaSettings:
    return admin.model_copy(update={"username": user, "password": SecretStr(password)})


def _as(settings: Settings, kafka: KafkaSettings) -> Settings:
    return settings.model_copy(update={"kafka": kafka})


def _platform(settings: Settings) -> tuple[PlatformIds, dict[str, KafkaSettings]]:
    """The platform users' ids (the services' own group ids) and their logins, set up on the broker."""
    prefix = settings.kafka.topic_prefix
    ids = platform_ids(settings)  # the audit's fenced writers' transactional ids start with its group
    passwords = {user: secrets.token_urlsafe(24) for user in PLATFORM_PRINCIPALS}
    ensure_platform_principals(settings.kafka, TopicNames(prefix), passwords, ids)
    return ids, {user: _login(settings.kafka, user, pw) for user, pw in passwords.items()}


async def _seed(settings: Settings) -> Citizen:
    async with open_store(settings.store) as store:
        await seed_store(store, 500, seed=11)
        return (await store.sample(1))[0]


async def _serve(resolver: Settings, audit: Settings, stop: asyncio.Event, started: threading.Event) -> None:
    codec = Codec(load_schemas())
    async with agency_directory(resolver, codec.schemas) as directory, open_store(resolver.store) as store:
        started.set()
        await asyncio.gather(
            run_resolver(resolver, directory, store, codec, stop), run_audit(audit, codec, stop)
        )


def _prepare(settings: Settings, logins: dict[str, KafkaSettings]) -> tuple[Citizen, KafkaSettings]:
    """Topics and the bank's credentials as the super user; catalogues and agencies as the registry."""
    agencies = load_directory(AGENCIES_FILE).agencies()
    apply_topics(settings.kafka, [a.id for a in agencies], replication_factor=1)
    registry = logins[REGISTRY]
    load_catalogues(registry, Codec(load_schemas()), load_entries())
    AgencyAdmin(registry, RegistryCodec(load_schemas())).import_agencies(agencies, by="security-tests")
    names = TopicNames(settings.kafka.topic_prefix)
    bank = _login(settings.kafka, BANK, issue_agency_credentials(settings.kafka, names, BANK))
    return asyncio.run(_seed(settings)), bank


@contextmanager
def _running(secure_kafka: KafkaSettings, data_dir: Path) -> Iterator[Services]:
    """The services running in a background event loop, each as its own principal."""
    settings = deployment_settings(secure_kafka, data_dir)
    ids, logins = _platform(settings)
    person, bank = _prepare(settings, logins)
    resolver, audit = _as(settings, logins[RESOLVER]), _as(settings, logins[AUDIT])
    loop, stop, started = asyncio.new_event_loop(), asyncio.Event(), threading.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(_serve(resolver, audit, stop, started),))
    thread.start()
    try:
        assert started.wait(30), "the services did not start"
        yield Services(settings, bank, person)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
        names = TopicNames(settings.kafka.topic_prefix)
        revoke_agency_credentials(settings.kafka, names, BANK)
        withdraw_platform_grants(settings.kafka, names, ids)
        delete_topics(settings.kafka, describe(settings.kafka, names.prefix + "."))


@pytest.fixture(scope="module")
def services(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """One secured deployment with the real services for this module."""
    with _running(secure_kafka, tmp_path_factory.mktemp("secure-services")) as running:
        yield running


def test_real_services_serve_and_audit_a_request_as_their_own_principals(services: Services) -> None:
    """The bank's VERIFY is answered by dancu-resolver and recorded by dancu-audit, with only their ACLs."""
    person = services.person
    with Client(ClientConfig(BANK, services.bank, timeout_s=60)) as bank:
        request = bank.build(VerifyQuery(person.personal_id, person.full_name, person.birth_date), KYC)
        answer = bank.request(request)
    assert answer.status is ResponseStatus.OK and answer.verify is not None
    assert answer.verify.verdict is Verdict.MATCH
    records = read_audit(services.admin.kafka, Codec(load_schemas()), [request.request_id])
    assert [r.request_id for r in records] == [request.request_id]


def _newcomer() -> Agency:
    purpose = Purpose(
        legal_basis="Luật Công chứng 2024, Điều 42",
        operations=frozenset({Operation.VERIFY}),
        fields=frozenset({"full_name", "birth_date"}),
    )
    return Agency(
        id="new-notary",
        name="Văn phòng công chứng Mới",
        code="000.00.00.H77",
        category=Category.NOTARY_OR_BAILIFF,
        focal_point=FocalPoint(
            name="Vũ Thị Lan",
            position="Trưởng văn phòng",
            phone="+84 24 3999 7777",
            email="lan.vt@new-notary.vn",
        ),
        readiness="Sẵn sàng kết nối",
        operations=frozenset({Operation.VERIFY}),
        purposes={"NOTARISATION": purpose},
    )


def _record_steps(admin: AgencyAdmin, steps: range) -> None:
    for step in steps:
        confirmations = ("INFOSEC_LEVEL", "PERSONAL_DATA_PROTECTION") if step == 6 else ()
        admin.record_step(
            "new-notary", step, f"CV-{step}/2026", date(2026, 11, step), "can-bo-c06", confirmations
        )


def test_step_ten_refused_until_steps_one_to_nine_then_the_new_agency_verifies(services: Services) -> None:
    """Step 10 lists the missing steps; after steps 1–9 it issues credentials that complete a VERIFY."""
    admin = AgencyAdmin(services.admin.kafka, RegistryCodec(load_schemas()))
    admin.register(_newcomer(), "CV-0/2026", "can-bo-c06")
    _record_steps(admin, range(1, 6))
    with pytest.raises(RefusedChange) as refused:
        admin.issue("new-notary", "QD-10/2026", "cuc-truong")
    assert all(f"step {n}:" in str(refused.value) for n in (6, 7, 8, 9))
    _record_steps(admin, range(6, 10))
    issued = admin.issue("new-notary", "QD-10/2026", "cuc-truong")
    assert issued.secret is not None
    time.sleep(1.0)  # the issue's bound for a registry change to reach running resolvers
    login = _login(services.admin.kafka, "new-notary", issued.secret)
    person = services.person
    with Client(ClientConfig("new-notary", login, timeout_s=60)) as notary:
        answer = notary.verify(
            VerifyQuery(person.personal_id, person.full_name, person.birth_date),
            Context("ccv-1", "CC-2026-1", "NOTARISATION", "Luật Công chứng 2024, Điều 42"),
        )
    assert answer.ok and answer.verdict is Verdict.MATCH
    revoke_agency_credentials(
        services.admin.kafka, TopicNames(services.admin.kafka.topic_prefix), "new-notary"
    )
