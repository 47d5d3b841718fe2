"""One scenario's own deployment: topics under a fresh prefix, a seeded store, services as processes."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import load_directory
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen
from dancu_bus.dev import repo_root
from dancu_bus.errors import BrokerError
from dancu_bus.faults.application import QUERIES
from dancu_bus.faults.broker import free_port
from dancu_bus.faults.services import Application, Service, start_application, start_service
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import Context, VerifyQuery
from dancu_bus.sdk.requests import build_request
from dancu_bus.settings import KafkaSettings, Settings, kafka_environment
from dancu_bus.store import open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.topic_names import TopicNames

__all__ = ["AGENCIES", "SESSION_TIMEOUT_S", "Stage", "prepare_stage"]

# Two agencies, so requests spread over two topics, twelve partitions and two audit partitions.
AGENCIES = {
    "demo-bank": Context("can-bo-0042", "HS-FAULTS", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9"),
    "demo-telecom": Context("can-bo-0077", "SIM-FAULTS", "SIM-OWNER", "Nghị định 163/2024/NĐ-CP, Điều 17"),
}
_CITIZENS = 2_000
# How long a silent resolver stays in its group: short, so a frozen one is given up on within the run.
SESSION_TIMEOUT_S = 6.0


@dataclass
class Stage:
    """Where one scenario runs: its settings, work directory, seeded people and running services."""

    settings: Settings
    workdir: Path
    people: list[Citizen]
    codec: Codec
    services: list[Service] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    # More ``DANCU_*`` settings for the stage's services (a test's: a shorter lag interval, say).
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> TopicNames:
        """Topic names under the scenario's prefix."""
        return TopicNames(self.settings.kafka.topic_prefix)

    @property
    def kafka(self) -> KafkaSettings:
        """How the harness reaches the scenario's broker."""
        return self.settings.kafka

    def start(self, kind: str) -> Service:
        """Start one more ``dancu-bus resolver``, ``audit run``, ``sms`` or ``portal`` and wait until it is
        ready."""
        port = _free_port()
        number = sum(s.name == kind for s in self.services) + 1
        # A restarted resolver takes the name of the one it replaces, as a pod restarted in place does:
        # its transactional id aborts that one's open transaction at once.
        taken = {s.instance for s in self.running(kind)}
        instance = next(f"{kind}-{n}" for n in range(1, number + 1) if f"{kind}-{n}" not in taken)
        environment = self._environment(port) | {"DANCU_RESOLVER__INSTANCE": instance}
        service = start_service(kind, environment, port, self.workdir / f"{kind}-{number}.log")
        self.services.append(service)
        service.wait_ready()
        return service

    def running(self, kind: str) -> list[Service]:
        """The services of this kind still running."""
        return [s for s in self.services if s.name == kind and s.process.poll() is None]

    def requests(self, count: int) -> list[tuple[str, bytes, bytes]]:
        """``count`` VERIFY requests of the seeded people, alternating agencies, valid for an hour."""
        records = []
        agencies = list(AGENCIES.items())
        for n in range(count):
            agency, context = agencies[n % len(agencies)]
            person = self.people[n % len(self.people)]
            query = VerifyQuery(person.personal_id, person.full_name, person.birth_date)
            request = build_request(agency, context, query, 3600, OPERATIONS)
            records.append(
                (self.names.request(agency), request.request_id.encode(), self.codec.encode_request(request))
            )
        return records

    def start_applications(self, count: int, seconds: float) -> list[Application]:
        """One application per agency, together working through ``count`` VERIFYs in about ``seconds``."""
        agencies = list(AGENCIES.items())
        for index, (agency, context) in enumerate(agencies):
            job = self.workdir / f"job-{agency}"
            job.mkdir()
            numbers = range(index, count, len(agencies))
            lines = [self._query_line(n) for n in numbers]
            (job / QUERIES).write_text("".join(lines), encoding="utf-8")
            environment = {
                "DANCU_KAFKA__BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
                "DANCU_KAFKA__TOPIC_PREFIX": self.kafka.topic_prefix,
                "DANCU_FAULTS__AGENCY": agency,
                "DANCU_FAULTS__PURPOSE": context.purpose_code,
                "DANCU_FAULTS__LEGAL_BASIS": context.legal_basis,
                "DANCU_FAULTS__RATE": f"{len(lines) / seconds:.1f}",
            }
            self.applications.append(start_application(agency, job, environment))
        return self.applications

    def _query_line(self, n: int) -> str:
        person = self.people[n % len(self.people)]
        return f"{n}\t{person.personal_id}\t{person.full_name}\t{person.birth_date.isoformat()}\n"

    def stop_all(self) -> None:
        """SIGTERM every service still running, as an operator would: each drains, commits and exits 0."""
        for service in self.running("resolver") + self.running("audit"):
            service.stop()

    def tear_down(self, keep_workdir: bool) -> None:
        """Kill what still runs, delete the scenario's topics, and its work directory unless kept."""
        for service in self.services:
            if service.process.poll() is None:
                service.kill()
        for application in self.applications:
            if application.process.poll() is None:
                application.kill()
        with contextlib.suppress(BrokerError):  # the broker may be down after a failed restart
            delete_topics(self.kafka, describe(self.kafka, self.kafka.topic_prefix + "."))
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _environment(self, port: int) -> dict[str, str]:
        """The ``DANCU_*`` settings of a service process of this stage."""
        settings = self.settings
        # The cluster as the stage reaches it: a secured one's login and CA too (the metrics tests).
        return (
            kafka_environment(settings.kafka)
            | {
                "DANCU_STORE__BACKEND": "sqlite",
                "DANCU_STORE__PATH": str(settings.store.path),
                "DANCU_RESOLVER__GROUP_ID": settings.resolver.group_id,
                "DANCU_RESOLVER__AGENCIES_SOURCE": "registry",
                "DANCU_RESOLVER__CATALOGUES_SOURCE": "packaged",
                "DANCU_RESOLVER__SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
                "DANCU_RESOLVER__METRICS_PORT": str(port),
                "DANCU_AUDIT__GROUP_ID": settings.audit.group_id,
                "DANCU_AUDIT__METRICS_PORT": str(port),
                "DANCU_SMS__METRICS_PORT": str(port),
                "DANCU_PORTAL__METRICS_PORT": str(port),
                "DANCU_LOG_LEVEL": "INFO",
            }
            | self.environment
        )


def prepare_stage(
    settings: Settings, kafka: KafkaSettings, workdir: Path, *, replication_factor: int | None = 1
) -> Stage:
    """Topics, registry and a seeded SQLite store under a fresh prefix; no service started yet.

    ``replication_factor`` None: the topics as topics.yaml declares them (3 replicas, 2 in sync).
    """
    prefix = f"faults{uuid.uuid4().hex[:8]}.dancu"
    home = workdir / prefix
    home.mkdir(parents=True)
    own = settings.model_copy(
        update={
            "kafka": kafka.model_copy(update={"topic_prefix": prefix}),
            "store": settings.store.model_copy(
                update={"backend": "sqlite", "path": home / "population.sqlite3"}
            ),
            "resolver": settings.resolver.model_copy(update={"group_id": f"{prefix}.resolver"}),
            "audit": settings.audit.model_copy(update={"group_id": f"{prefix}.audit"}),
        }
    )
    agencies = load_directory(repo_root() / "deploy" / "agencies.yaml").agencies()
    apply_topics(own.kafka, [a.id for a in agencies], replication_factor=replication_factor)
    codec = platform_codec()
    AgencyAdmin(own.kafka, RegistryCodec(codec.schemas)).import_agencies(agencies, by="fault-harness")
    return Stage(own, home, asyncio.run(_seed(own)), codec)


async def _seed(settings: Settings) -> list[Citizen]:
    async with open_store(settings.store, create=True) as store:
        await seed_store(store, _CITIZENS, seed=5)
        return list(await store.sample(_CITIZENS))


def _free_port() -> int:
    return free_port()
