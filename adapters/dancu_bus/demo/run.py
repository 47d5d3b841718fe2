"""``dancu-bus demo``: a whole exchange on a secured local broker, start to finish, then stopped.

Starts a SASL/SCRAM broker, applies topics, creates the services' principals, loads the catalogues,
onboards the sample agencies through the ten steps of Art. 7, seeds the SQLite store, runs resolver
and audit as their own principals, sends sample requests with each agency's new credentials, shows
a suspension taking effect without a restart, prints answers and audit records and checks the
audit chain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.catalogues import load_catalogues
from dancu_bus.admin.cluster import wait_ready
from dancu_bus.admin.reader import read_to_end
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import AgencyDirectory, load_directory
from dancu_bus.audit import run_audit, verify_log
from dancu_bus.audit.indexer import IndexOptions, run_index
from dancu_bus.catalogues import load_entries
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import Citizen
from dancu_bus.demo.citizens import show_citizens
from dancu_bus.demo.keys import SampleKey, operator_keys, sample_keys
from dancu_bus.demo.platform import Logins, onboard_agencies, service_logins, set_up_principals
from dancu_bus.demo.report import describe_audit, describe_exchange, read_audit, sealed_on_the_broker
from dancu_bus.demo.samples import (
    AgencyLogin,
    Exchange,
    refused_by_the_sdk,
    send_samples,
    send_suspension_sample,
)
from dancu_bus.dev.broker import broker_home, broker_kafka, dev_ca, start_broker, stop_broker
from dancu_bus.lifecycle import stop_on_signals
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.operations.self_record import e164_digits
from dancu_bus.portal import serve_portal
from dancu_bus.registry import RegistryCodec
from dancu_bus.resolver import agency_directory, run_resolver
from dancu_bus.secret_files import write_private
from dancu_bus.settings import BrokerSettings, DeadLetterSettings, KafkaSettings, Settings
from dancu_bus.sms import run_sms
from dancu_bus.store import PopulationStore, open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.topic_names import TopicNames

__all__ = ["DEMO_CITIZENS", "run_demo"]

DEMO_CITIZENS = 100_000


async def run_demo(settings: Settings, out: TextIO, *, keep_running: bool = False) -> int:
    """Run the demonstration; return 0 when every step worked.

    ``keep_running`` leaves the broker and the services up until SIGINT or SIGTERM, with the sample
    agencies' secrets in files (``<broker home>/secrets``), so an SDK can be tried against them.
    """
    broker = settings.broker.model_copy(update={"secure": True})
    started = start_broker(broker)
    print(f"broker: secured (SASL_SSL, SCRAM-SHA-512, ACLs) on 127.0.0.1:{broker.port}", file=out)
    try:
        admin = broker_kafka(broker).model_copy(update={"topic_prefix": settings.kafka.topic_prefix})
        wait_ready(admin, timeout_s=60)
        keys_folder = broker_home(broker) / "secrets"
        if settings.dead_letters.operator_key is None:  # the demo's operators keep their dead letters
            operators, _ = operator_keys(keys_folder)
            settings = settings.model_copy(
                update={"dead_letters": DeadLetterSettings(operator_key=operators)}
            )
        cluster = _prepare_cluster(settings, admin, keys_folder, out)
        async with open_store(settings.store, create=True) as store:
            people = await _seed(store, out)
            stay = _stay(broker, cluster.agencies, cluster.keys, out) if keep_running else None
            return await _exchange_and_audit(cluster, store, people, out, stay)
    finally:
        if started:
            stop_broker(broker)
            print("broker: stopped", file=out)


@dataclass(frozen=True)
class _Cluster:
    """The demo's prepared cluster: its settings, the admin's login, every principal's login, the keys."""

    settings: Settings
    admin: KafkaSettings
    services: Logins
    agencies: Logins
    keys: dict[str, SampleKey]

    @property
    def logins(self) -> Logins:
        """The services' and the agencies' logins, by principal."""
        return {**self.services, **self.agencies}


def _prepare_cluster(settings: Settings, admin: KafkaSettings, keys_folder: Path, out: TextIO) -> _Cluster:
    agencies = load_directory(settings.resolver.agencies_file).agencies()
    keys = sample_keys(agencies, keys_folder, datetime.now(UTC).date())
    for line in apply_topics(admin, [a.id for a in agencies], replication_factor=1):
        print(f"topics: {line}", file=out)
    logins = set_up_principals(settings, admin, out)
    _, _, registry = service_logins(logins)
    loads = load_catalogues(registry, platform_codec(), load_entries())
    produced = sum(done.produced for done in loads)
    print(
        f"catalogues: {sum(d.entries for d in loads):,} entries on {len(loads)} topics, {produced:,} new",
        file=out,
    )
    return _Cluster(settings, admin, logins, onboard_agencies(admin, agencies, keys, out), keys)


async def _seed(store: PopulationStore, out: TextIO) -> list[Citizen]:
    count = await store.count()
    if count >= DEMO_CITIZENS:
        await store.record_population()  # a store seeded before stores had identities gets one
        print(f"store: {count:,} citizens already seeded", file=out)
    else:
        print(f"store: seeded {await seed_store(store, DEMO_CITIZENS, seed=2026):,} citizens", file=out)
    return list(await store.sample(3, offset=1234))


async def _exchange_and_audit(
    cluster: _Cluster,
    store: PopulationStore,
    people: Sequence[Citizen],
    out: TextIO,
    stay: Callable[[], Awaitable[None]] | None = None,
) -> int:
    codec = platform_codec()
    settings, admin = cluster.settings, cluster.admin
    resolver, audit, _ = service_logins(cluster.logins)
    stop = asyncio.Event()
    # The portal's history reads the audit index: made anew from the topic here, followed up later.
    indexing = settings.model_copy(update={"kafka": admin})
    await run_index(indexing, codec, IndexOptions(rebuild=True, once=True, timeout_s=60))
    async with agency_directory(settings.model_copy(update={"kafka": resolver}), codec.schemas) as directory:
        services = [
            asyncio.create_task(
                _resolver(settings, resolver, directory, store, codec, stop), name="resolver"
            ),
            asyncio.create_task(
                run_audit(settings.model_copy(update={"kafka": audit}), codec, stop), name="audit"
            ),
            asyncio.create_task(run_sms(_sms_settings(cluster), codec, stop), name="sms"),
            asyncio.create_task(serve_portal(_portal_settings(cluster), codec, stop), name="portal"),
        ]
        try:
            exchanges = await _exchanges(cluster, codec, people, out)
            # The report reads the audit topic synchronously; off the loop, so the audit keeps writing it.
            code = await asyncio.to_thread(_report, admin, codec, exchanges, out)
            code |= await show_citizens(settings, admin, codec, _with_phone(people), out)
            if stay is not None:
                await stay()
            return code
        finally:
            stop.set()
            for task in services:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _sms_settings(cluster: _Cluster) -> Settings:
    """The SMS adapter's: agency sms's login and answer key, its metrics on any free port."""
    settings = cluster.settings
    return settings.model_copy(
        update={
            "kafka": cluster.logins["sms"],
            "sdk": settings.sdk.model_copy(update={"answer_keys": cluster.keys["sms"].private_file}),
            "sms": settings.sms.model_copy(update={"metrics_port": 0}),
        }
    )


def _portal_settings(cluster: _Cluster) -> Settings:
    """The portal adapter's: agency portal's login and answer key (it serves no metrics here)."""
    settings = cluster.settings
    portal = settings.portal.model_copy(update={"answer_keys": cluster.keys["portal"].private_file})
    return settings.model_copy(update={"kafka": cluster.logins["portal"], "portal": portal})


def _with_phone(people: Sequence[Citizen]) -> Citizen:
    """The first sample person with a mobile number on the record (the SMS must come from it)."""
    return next((p for p in people if e164_digits(p.phone) is not None), people[0])


def _stay(
    broker: BrokerSettings, logins: Logins, keys: dict[str, SampleKey], out: TextIO
) -> Callable[[], Awaitable[None]]:
    """Write the agencies' secrets to files; a wait for Ctrl-C or SIGTERM that says how to connect."""
    folder = broker_home(broker) / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    for agency, login in logins.items():
        assert login.password is not None
        write_private(folder / f"{agency}.password", login.password.get_secret_value() + "\n", replace=True)

    async def stay() -> None:
        variables = (
            f"DANCU_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:{broker.port}",
            "DANCU_KAFKA__SECURITY_PROTOCOL=SASL_SSL",
            f"DANCU_KAFKA__SSL_CA={dev_ca(broker).certificate}",
            "DANCU_KAFKA__USERNAME=demo-bank",
            f"DANCU_KAFKA__PASSWORD_FILE={folder}/demo-bank.password",
            f"DANCU_SDK__ANSWER_KEYS={keys['demo-bank'].private_file}",
        )
        print("demo: still running (Ctrl-C stops it); the sample bank connects with", file=out)
        print(f"  export {' '.join(variables)}", file=out, flush=True)
        await stop_on_signals().wait()

    return stay


async def _resolver(
    settings: Settings,
    login: KafkaSettings,
    directory: AgencyDirectory,
    store: PopulationStore,
    codec: Codec,
    stop: asyncio.Event,
) -> None:
    await run_resolver(settings.model_copy(update={"kafka": login}), directory, store, codec, stop)


async def _exchanges(
    cluster: _Cluster, codec: Codec, people: Sequence[Citizen], out: TextIO
) -> list[Exchange]:
    registry = AgencyAdmin(cluster.admin, RegistryCodec(load_schemas(OPERATIONS)))
    logins = cluster.logins
    agencies = {agency: AgencyLogin(logins[agency], key.private_file) for agency, key in cluster.keys.items()}
    exchanges = await send_samples(agencies, codec, people)
    print(await refused_by_the_sdk(agencies["demo-bank"], codec, people[0]), file=out)
    exchanges += await send_suspension_sample(
        agencies["demo-province"],
        codec,
        people[0],
        suspend=lambda: registry.suspend("demo-province", "kiểm tra định kỳ", "DEMO-QD-11", "demo-operator"),
        resume=lambda: registry.resume("demo-province", "DEMO-QD-12", "demo-operator"),
    )
    return exchanges


def _report(admin: KafkaSettings, codec: Codec, exchanges: list[Exchange], out: TextIO) -> int:
    for request, response in exchanges:
        print(describe_exchange(request, response), file=out)
    audits = read_audit(admin, codec, [request.request_id for request, _ in exchanges])
    for record in audits:
        print(describe_audit(record), file=out)
    records = read_to_end(admin, TopicNames(admin.topic_prefix).audit)
    broken = [check for check in verify_log(records, codec) if check.finding is not None]
    print(f"audit verify: {len(records)} records, hash chains {'BROKEN' if broken else 'intact'}", file=out)
    sealed, line = sealed_on_the_broker(admin, codec, exchanges)
    print(line, file=out)
    return 0 if len(audits) == len(exchanges) and not broken and sealed else 1
