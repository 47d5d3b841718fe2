"""The resolver process: its handler on the exactly-once worker, with health, metrics and supervision."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from dancu_bus.access import platform_ids
from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.admin.lag_monitor import GroupLag, LagMonitor
from dancu_bus.agencies import AgencyDirectory
from dancu_bus.catalogues import Catalogue, CatalogueSource
from dancu_bus.codec import Codec
from dancu_bus.corrections import TicketBook, TicketCodec
from dancu_bus.errors import StoreError
from dancu_bus.health import HealthServer
from dancu_bus.metrics import LagMetrics, ResolverMetrics, ServiceMetrics, ViewMetrics
from dancu_bus.resolver.audit_gate import AuditGate
from dancu_bus.resolver.catalogues import catalogue_source
from dancu_bus.resolver.handler import HandlerOptions, ResolverHandler
from dancu_bus.resolver.policy import AdmissionLimits
from dancu_bus.resolver.population import CheckedStore, Citizens
from dancu_bus.settings import Settings
from dancu_bus.store import PopulationStore
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import (
    ClusterClients,
    DeadLetters,
    Followed,
    KafkaClients,
    Quarantine,
    TransactionalWorker,
    Transactions,
    WorkerEvents,
    WorkerOptions,
    following,
    operator_key,
    running_transactional_worker,
    supervise,
)
from dancu_bus.transport.follower import Apply

__all__ = ["Edges", "run_resolver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Edges:
    """Where the resolver reads catalogues and gets its Kafka clients, when not the defaults."""

    # None: follow the catalogue topics (``catalogue_source``).
    catalogues: CatalogueSource | None = None
    # None: those of the cluster ``settings.kafka`` names (an in-memory broker: ``dancu_bus.testing``).
    clients: KafkaClients | None = None
    # The followed views' state, for their metrics; the caller's when it follows the registry itself.
    views: Followed | None = None


async def run_resolver(
    settings: Settings,
    directory: AgencyDirectory,
    store: PopulationStore,
    codec: Codec,
    stop: asyncio.Event,
    edges: Edges | None = None,
) -> None:
    """Serve requests until ``stop`` is set, with health and metrics on the configured port.

    A worker that fails is logged, counted and started again (``transport.quarantine``); only ``stop``
    ends this.
    """
    given = edges or Edges()
    views = given.views or Followed()
    catalogues = given.catalogues
    if catalogues is None:
        async with catalogue_source(settings, codec.schemas, views) as source:
            await run_resolver(settings, directory, store, codec, stop, Edges(source, given.clients, views))
        return
    clients = given.clients or ClusterClients(settings.kafka, ClusterWatch, client_config(settings.kafka))
    identity = await store.identity()
    log.info("serving store %s (%s citizens)", identity.store_id, f"{identity.citizens:,}")
    checked = CheckedStore(store, identity)
    registry = CollectorRegistry()
    service = ServiceMetrics(registry, "resolver")
    metrics = ResolverMetrics(registry)
    ViewMetrics(registry, views)
    resolver = settings.resolver
    limits = AdmissionLimits(
        resolver.max_clock_skew_s,
        resolver.max_lifetime_s,
        resolver.max_request_bytes,
        resolver.duplicate_window_s,
    )
    names = TopicNames(settings.kafka.topic_prefix)
    dead_letters = DeadLetters(codec, operator_key(settings.dead_letters), "resolver")
    # The correction tickets, followed like the registry: TICKET_STATE and CORRECT read them.
    tickets = TicketBook(TicketCodec(codec.schemas), names.corrections)
    gate = _audit_gate(settings, given, metrics)
    options = HandlerOptions(catalogues, limits, dead_letters, tickets, gate=gate)
    handler = ResolverHandler(codec, directory, checked, names, metrics, options)
    serving = _Serving(settings, clients, handler, Quarantine(), metrics.worker)

    async def ready() -> str | None:
        service.broker_reachable.set(0 if watch.problem is not None else 1)
        problem = (
            f"the cluster: {watch.problem}"
            if watch.problem is not None
            else await _readiness(serving.assigned, checked, catalogues, gate)
        )
        service.ready.set(0 if problem else 1)
        return problem

    def failed(exc: BaseException) -> None:
        metrics.worker.worker_failures.labels(type(exc).__name__).inc()
        serving.quarantine.failed(f"{type(exc).__name__}: {exc}")

    async with (
        _followed(settings, given, {names.corrections: tickets.apply}, views),
        clients.watch() as watch,
        HealthServer(registry, ready, settings.resolver.metrics_port, settings.metrics_host),
        _lag_watched(settings, given, LagMetrics(registry), stop),
        _audit_watched(settings, gate, stop),
    ):
        await supervise(lambda: serving.run(stop), stop, failed)


class _Serving:
    """One run of the exactly-once worker at a time, and whether the current one owns partitions."""

    def __init__(
        self,
        settings: Settings,
        clients: KafkaClients,
        handler: ResolverHandler,
        quarantine: Quarantine,
        events: WorkerEvents,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._handler = handler
        self.quarantine = quarantine
        self._events = events
        self._worker: TransactionalWorker | None = None

    @property
    def assigned(self) -> bool:
        """Whether a running worker owns at least one partition."""
        return self._worker is not None and self._worker.assigned

    async def run(self, stop: asyncio.Event) -> None:
        """Start a worker and run it until ``stop``; its transactional id has the resolver's prefix (ACLs)."""
        resolver = self._settings.resolver
        prefix = platform_ids(self._settings).resolver_transactional_id
        transactions = Transactions(
            f"{prefix}.{resolver.instance}", resolver.transaction_timeout_s, resolver.session_timeout_s
        )
        options = WorkerOptions(
            TopicNames(self._settings.kafka.topic_prefix).request_pattern,
            max_records=resolver.max_batch,
            linger_ms=resolver.linger_ms,
            events=self._events,
        )
        async with running_transactional_worker(
            self._clients, resolver.group_id, self._handler, options, self.quarantine, transactions
        ) as worker:
            self._worker = worker
            try:
                await worker.run(stop)
            finally:
                self._worker = None


async def _readiness(
    assigned: bool, store: Citizens, catalogues: CatalogueSource, gate: AuditGate | None
) -> str | None:
    if not assigned:
        return "no partitions assigned yet"
    if not catalogues.view.count(Catalogue.COMMUNE):
        return "the catalogue topics are empty: run `dancu-bus catalogue load`"
    try:
        await store.ping()
    except StoreError as exc:
        return f"store not ready: {exc}"
    # Alive and answering, but refusing every request: not serving, as an operator must see.
    return gate.problem() if gate is not None else None


@contextlib.asynccontextmanager
async def _lag_watched(
    settings: Settings, edges: Edges, metrics: LagMetrics, stop: asyncio.Event
) -> AsyncIterator[None]:
    """The resolver group's lag, read every interval on Kafka (the broker in memory keeps no groups)."""
    if edges.clients is not None:
        yield
        return
    pattern = re.compile(TopicNames(settings.kafka.topic_prefix).request_pattern)
    monitor = LagMonitor(settings.kafka, settings.resolver.group_id, pattern)
    async with monitor.running(stop, settings.lag_interval_s, metrics.polled):
        yield


def _audit_gate(settings: Settings, edges: Edges, metrics: ResolverMetrics) -> AuditGate | None:
    """The gate that refuses requests while the audit lags, on Kafka with a bound; None: always serving
    (the broker in memory keeps no groups, so the audit's lag could never be shown)."""
    bound = settings.resolver.audit_max_lag_s
    if edges.clients is not None or bound == 0:
        return None
    names = TopicNames(settings.kafka.topic_prefix)

    def agency_of(topic: str) -> str | None:
        split = names.split(topic)
        return split[1] if split else None

    gate = AuditGate(bound, time.monotonic, agency_of)
    metrics.gated(gate.closed, gate.lag_s)
    return gate


@contextlib.asynccontextmanager
async def _audit_watched(
    settings: Settings, gate: AuditGate | None, stop: asyncio.Event
) -> AsyncIterator[None]:
    """The audit group's lag over the request and response topics it reads, every interval, into ``gate``.

    The resolver's principal may describe the audit group and read those topics (topics.yaml), for the
    committed offsets and for the read that tells a transaction marker from lag.
    """
    if gate is None:
        yield
        return
    group = settings.audit.group_id
    closed = False

    def report(polled: GroupLag | None) -> None:
        nonlocal closed
        if polled is None:
            gate.polled(None)
        else:
            gate.polled(polled.lags)
        if gate.closed() != closed:
            closed = not closed
            if closed:
                log.error("%s", gate.problem())
            else:
                log.warning("the audit has caught up (%.0f s behind): serving again", gate.lag_s())

    pattern = re.compile(TopicNames(settings.kafka.topic_prefix).exchange_pattern)
    monitor = LagMonitor(settings.kafka, group, pattern)
    async with monitor.running(stop, settings.lag_interval_s, report):
        yield


def _followed(
    settings: Settings, edges: Edges, appliers: Mapping[str, Apply], views: Followed
) -> AbstractAsyncContextManager[None]:
    """The platform topics the resolver follows as views, on Kafka; none on the in-memory broker (whose
    tests give the views they need), as ``following`` reads cluster metadata the broker in memory lacks."""
    if edges.clients is not None:
        return contextlib.nullcontext()
    return following(settings.kafka, appliers, state=views.view("corrections"))
