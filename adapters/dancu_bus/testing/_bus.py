"""A running bus for tests: the resolver and the audit consumer, the agencies' clients, what they wrote.

``InMemoryBus`` runs them on an in-memory broker, ``KafkaBus`` on the cluster the settings name (as
FastStream's ``TestKafkaBroker`` runs with or without ``with_real``): one behaviour suite, two brokers.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka import Producer

from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import AgencyDirectory
from dancu_bus.audit import run_audit
from dancu_bus.catalogues import packaged_view
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord, DeadLetter
from dancu_bus.resolver import run_resolver
from dancu_bus.resolver.service import Edges
from dancu_bus.sdk import AsyncClient, Client, ClientConfig
from dancu_bus.sdk.connector import LIBRDKAFKA, Connector
from dancu_bus.settings import Settings
from dancu_bus.store import PopulationStore
from dancu_bus.testing._aio import MemoryClients
from dancu_bus.testing._broker import LOG_APPEND_TIME, InMemoryBroker
from dancu_bus.testing._confluent import MemoryConnector
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import expand, packaged_topics
from dancu_bus.transport import KafkaClients, TopicPartition

__all__ = ["Bus", "InMemoryBus", "KafkaBus"]

_STOP_S = 60.0


class Bus(ABC):
    """Resolver and audit serving ``directory``'s agencies from ``store``, in a thread and loop of their own.

    Their own loop, as in production their own process: an agency's synchronous ``Client`` may block
    its caller's loop without stalling them. The catalogues are the packaged ones, the health and
    metrics servers listen on free ports.
    """

    def __init__(
        self, settings: Settings, *, directory: AgencyDirectory, store: PopulationStore, codec: Codec
    ) -> None:
        self.settings = settings.model_copy(
            update={
                "resolver": settings.resolver.model_copy(update={"metrics_port": 0}),
                "audit": settings.audit.model_copy(update={"metrics_port": 0}),
            }
        )
        self.directory = directory
        self.codec = codec
        self._store = store
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None

    @property
    def names(self) -> TopicNames:
        """The bus's topic names."""
        return TopicNames(self.settings.kafka.topic_prefix)

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self._prepare)
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="dancu-bus-services")
        self._thread.start()
        await asyncio.to_thread(started.wait)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await asyncio.to_thread(self._halt)
        finally:
            await asyncio.to_thread(self._clean_up)
        if self._failure is not None and exc is None:
            raise self._failure

    def client(self, agency: str, *, answer_keys: Path | None = None, timeout_s: float = 30.0) -> Client:
        """The SDK's client of ``agency`` on this bus; sealed answers open with ``answer_keys``."""
        return Client(self._config(agency, answer_keys, timeout_s), self.codec)

    def async_client(
        self, agency: str, *, answer_keys: Path | None = None, timeout_s: float = 30.0
    ) -> AsyncClient:
        """``client`` for asyncio code."""
        return AsyncClient(self._config(agency, answer_keys, timeout_s), self.codec)

    def audit_log(self) -> list[TopicRecord]:
        """The committed records of the audit topic so far, as ``audit.verify_log`` reads them."""
        return self.records(self.names.audit)

    def audit_records(self) -> list[AuditRecord]:
        """The audit records written so far, decoded."""
        return [self.codec.decode_audit(r.value) for r in self.audit_log() if r.value is not None]

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters written so far, decoded."""
        records = self.records(self.names.dead_letters)
        return [self.codec.decode_dead_letter(r.value) for r in records if r.value is not None]

    @abstractmethod
    def send_raw(self, agency: str, value: bytes, key: bytes | None = None) -> None:
        """Put bytes on ``agency``'s request topic as that agency could, whatever they are."""

    @abstractmethod
    def _prepare(self) -> None:
        """Make the topics."""

    @abstractmethod
    def _clean_up(self) -> None:
        """Remove what ``_prepare`` made."""

    @abstractmethod
    def records(self, topic: str) -> list[TopicRecord]:
        """Every committed record of ``topic`` now, partition by partition."""

    @property
    @abstractmethod
    def _connector(self) -> Connector:
        """Who makes the agencies' clients."""

    @property
    @abstractmethod
    def _clients(self) -> KafkaClients | None:
        """Who makes the services' clients; None: aiokafka's on ``settings.kafka``."""

    def _config(self, agency: str, answer_keys: Path | None, timeout_s: float) -> ClientConfig:
        return ClientConfig(
            agency,
            self.settings.kafka,
            timeout_s=timeout_s,
            answer_keys=answer_keys,
            connector=self._connector,
        )

    def _serve(self, started: threading.Event) -> None:
        try:
            asyncio.run(self._services(started))
        # The thread's outermost frame: the test that started the bus is told on the way out.
        except BaseException as exc:  # noqa: BLE001
            self._failure = exc
        finally:
            started.set()

    async def _services(self, started: threading.Event) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        started.set()
        settings, stop, clients = self.settings, self._stop, self._clients
        await asyncio.gather(
            run_resolver(
                settings, self.directory, self._store, self.codec, stop, Edges(packaged_view(), clients)
            ),
            run_audit(settings, self.codec, stop, clients),
        )

    def _halt(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(_STOP_S)
            if self._thread.is_alive():
                raise RuntimeError(f"the resolver and audit did not stop within {_STOP_S:g} s")


class InMemoryBus(Bus):
    """The bus on an in-memory broker: every topic of ``topics.yaml`` for the directory's agencies.

    ACLs are not modelled: every client may read and write every topic.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        directory: AgencyDirectory,
        store: PopulationStore,
        codec: Codec,
        broker: InMemoryBroker | None = None,
    ) -> None:
        super().__init__(settings, directory=directory, store=store, codec=codec)
        self.broker = broker or InMemoryBroker()

    def send_raw(self, agency: str, value: bytes, key: bytes | None = None) -> None:
        """Append bytes to ``agency``'s request topic where librdkafka would put them."""
        topic = self.names.request(agency)
        partition = zlib.crc32(key) % self.broker.partitions(topic) if key is not None else 0
        self.broker.append(TopicPartition(topic, partition), [(key, value, (), None)])

    def _prepare(self) -> None:
        declared = packaged_topics()
        for spec in expand(declared, self.directory.ids(), prefix=self.names.prefix):
            broker_time = spec.configs.get("message.timestamp.type") == "LogAppendTime"
            self.broker.create_topic(spec.name, spec.partitions, log_append_time=broker_time)

    def _clean_up(self) -> None:
        """The broker goes with the bus."""

    def records(self, topic: str) -> list[TopicRecord]:
        """Every committed record of ``topic`` now."""
        return [
            TopicRecord(
                r.partition,
                r.offset,
                r.key,
                r.value,
                r.topic,
                r.timestamp_ms,
                r.timestamp_type == LOG_APPEND_TIME,
            )
            for r in self.broker.committed_records(topic)
        ]

    @property
    def _connector(self) -> Connector:
        return MemoryConnector(self.broker)

    @property
    def _clients(self) -> KafkaClients:
        return MemoryClients(self.broker)


class KafkaBus(Bus):
    """The bus on the cluster ``settings.kafka`` names, under its topic prefix: applied, then deleted."""

    def send_raw(self, agency: str, value: bytes, key: bytes | None = None) -> None:
        """Produce bytes to ``agency``'s request topic with librdkafka."""
        producer = Producer(client_config(self.settings.kafka))
        producer.produce(self.names.request(agency), value, key=key)
        if producer.flush(30):
            raise RuntimeError(f"the broker did not take a record for {agency} within 30 s")

    def _prepare(self) -> None:
        apply_topics(self.settings.kafka, self.directory.ids(), replication_factor=1)

    def _clean_up(self) -> None:
        kafka = self.settings.kafka
        delete_topics(kafka, describe(kafka, self.names.prefix + "."))

    def records(self, topic: str) -> list[TopicRecord]:
        """Every committed record of ``topic`` now."""
        return read_to_end(self.settings.kafka, topic)

    @property
    def _connector(self) -> Connector:
        return LIBRDKAFKA

    @property
    def _clients(self) -> None:
        return None
