"""The resolver process: batches of requests in, one response each out, bad bytes to the DLQ."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from prometheus_client import CollectorRegistry

from dancu_bus.access import platform_ids
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.agencies import AgencyDirectory
from dancu_bus.catalogues import Catalogue, CatalogueSource, CatalogueView, packaged_view
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen, Request, Response
from dancu_bus.errors import CodecError, StoreError
from dancu_bus.exchanges import exchange_id
from dancu_bus.health import HealthServer
from dancu_bus.metrics import ResolverMetrics, operation_label
from dancu_bus.reasons import Reason
from dancu_bus.resolver.answers import answer
from dancu_bus.resolver.catalogues import catalogue_source
from dancu_bus.resolver.duplicates import DuplicateWindow
from dancu_bus.resolver.policy import AdmissionLimits, Admitted, Rejection, admit
from dancu_bus.resolver.population import CheckedStore, Citizens
from dancu_bus.resolver.quota import QuotaBook
from dancu_bus.sealing import seal
from dancu_bus.settings import Settings
from dancu_bus.store import PopulationStore
from dancu_bus.timestamps import from_epoch_ms
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import (
    AioKafkaClients,
    DeadLetters,
    Incoming,
    KafkaClients,
    Lanes,
    LaneWorker,
    Outgoing,
    Quarantine,
    WorkerOptions,
    operator_key,
    running_lane_worker,
    supervise,
)

__all__ = ["HandlerLimits", "ResolverHandler", "response_headers", "run_resolver", "trace_context"]

log = logging.getLogger(__name__)
# Daily quotas reset at midnight in Vietnam (UTC+7, no daylight saving).
_VIETNAM = timezone(timedelta(hours=7))


@dataclass(frozen=True, slots=True)
class _Decoded:
    record: Incoming
    agency: str
    exchange_id: str
    received_at: datetime  # the broker's time of the record (the resolver's when the topic keeps producers')
    request: Request
    refusal: Rejection | None  # decided before admission: a duplicate id or an oversized request


@dataclass(frozen=True, slots=True)
class _StoreFailed:
    """An admitted request the store failed for good: dead-lettered, for operators to replay."""

    detail: str


_Decision = Admitted | Rejection | _StoreFailed


@dataclass(frozen=True, slots=True)
class HandlerLimits:
    """What the handler refuses before admission (oversized records, repeated ids) and admission's limits."""

    max_request_bytes: int = 1024 * 1024
    duplicate_window_s: float = 300.0
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)


class ResolverHandler:
    """Turns a batch of request records into one response or dead letter each; never raises for input."""

    def __init__(
        self,
        codec: Codec,
        directory: AgencyDirectory,
        store: Citizens,
        names: TopicNames,
        metrics: ResolverMetrics,
        catalogues: CatalogueSource | None = None,
        limits: HandlerLimits = HandlerLimits(),
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._codec = codec
        self._dead_letters = dead_letters or DeadLetters(codec, None, "resolver")
        self._catalogues = catalogues if catalogues is not None else packaged_view()
        self._directory = directory
        self._store = store
        self._names = names
        self._metrics = metrics
        self._limits = limits
        self._quotas = QuotaBook()
        self._duplicates = DuplicateWindow(limits.duplicate_window_s)
        self._admitted: Counter[str] = Counter()
        self._answered: Counter[tuple[str, str, str]] = Counter()
        self._rejected: Counter[tuple[str, str]] = Counter()

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """One output per record, in order: its response, or its dead letter when it cannot be answered.

        Retriable store errors go up, to be retried; quotas are spent only once the store has answered,
        so a retried batch does not spend them twice.
        """
        self._metrics.batch_size.observe(len(batch))
        now = datetime.now(UTC)
        slots = [self._decode(record, now) for record in batch]
        decoded = [slot for slot in slots if isinstance(slot, _Decoded)]
        view = self._catalogues.view  # one snapshot for the batch, however the topics change meanwhile
        decisions: list[_Decision] = [d.refusal or self._admit(d, now, view) for d in decoded]
        try:
            citizens = await self._citizens(decisions)
        except StoreError as exc:
            if exc.retriable:
                raise
            failed = _StoreFailed(str(exc))
            citizens, decisions = {}, [failed if isinstance(d, Admitted) else d for d in decisions]
        answers = iter(
            self._answer(d, self._within_quota(decision, now), citizens, now)
            for d, decision in zip(decoded, decisions, strict=True)
        )
        outgoing = [slot if isinstance(slot, Outgoing) else next(answers) for slot in slots]
        self._flush_counts()
        return outgoing

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        """The dead letter of a record whose handling failed alone too (our fault, not the agency's)."""
        return self._dead(record, "HANDLER_FAILED", detail)

    def _decode(self, record: Incoming, now: datetime) -> _Decoded | Outgoing:
        """The decoded request, or the dead letter of bytes that are no request of a connected agency."""
        if record.unreadable is not None:
            where = f"offsets {record.unreadable.first_offset}–{record.unreadable.last_offset}"
            return self._dead(record, "UNREADABLE_BATCH", f"{where}: {record.unreadable.detail}")
        split = self._names.split(record.topic)
        agency = split[1] if split else ""
        try:
            request = self._codec.decode_request(record.value)
        except CodecError as exc:
            return self._dead(record, exc.code, exc.detail)
        if self._directory.get(agency) is None:
            # No agency, so no response topic to answer on: keep the bytes for operators.
            return self._dead(record, "UNKNOWN_AGENCY", f"no connected agency {agency!r}")
        exchange = exchange_id(record.topic, record.partition, record.offset, record.timestamp_ms)
        received_at = from_epoch_ms(record.timestamp_ms) if record.log_append_time else now
        refusal = self._refusal(record, agency, exchange, request, now)
        return _Decoded(record, agency, exchange, received_at, request, refusal)

    def _refusal(
        self, record: Incoming, agency: str, exchange: str, request: Request, now: datetime
    ) -> Rejection | None:
        size = record.size
        if size > self._limits.max_request_bytes:
            limit = self._limits.max_request_bytes
            return Rejection(Reason.REQUEST_TOO_LARGE, f"{size} bytes with key and headers, at most {limit}")
        first = self._duplicates.first_of(agency, request.request_id, exchange, request.expires_at, now)
        if first is not None:
            return Rejection(
                Reason.DUPLICATE_REQUEST, f"request id {request.request_id} was exchange {first}"
            )
        return None

    def _admit(self, decoded: _Decoded, now: datetime, view: CatalogueView) -> Admitted | Rejection:
        return admit(
            decoded.request,
            decoded.agency,
            self._directory,
            now,
            view,
            received_at=decoded.received_at,
            limits=self._limits.admission,
        )

    def _within_quota(self, decision: _Decision, now: datetime) -> _Decision:
        if not isinstance(decision, Admitted):
            return decision
        agency = decision.agency
        exceeded = self._quotas.take(
            agency.id, agency.quota, time.monotonic(), now.astimezone(_VIETNAM).date()
        )
        if exceeded is not None:
            return Rejection(Reason.QUOTA_EXCEEDED, exceeded)
        self._admitted[agency.id] += 1
        return decision

    def _dead(self, record: Incoming, code: str, detail: str) -> Outgoing:
        self._metrics.dead_letters.labels(code).inc()
        return self._dead_letters.outgoing(self._names.dead_letters, record, code, detail)

    async def _citizens(self, decisions: Sequence[_Decision]) -> Mapping[str, Citizen]:
        ids = sorted({d.query.personal_id for d in decisions if isinstance(d, Admitted)})
        if not ids:
            return {}
        started = time.perf_counter()
        citizens = await self._store.get_many(ids)
        self._metrics.store_seconds.observe(time.perf_counter() - started)
        return citizens

    def _answer(
        self,
        decoded: _Decoded,
        decision: _Decision,
        citizens: Mapping[str, Citizen],
        now: datetime,
    ) -> Outgoing:
        if isinstance(decision, _StoreFailed):
            return self._dead(decoded.record, "STORE_FAILED", decision.detail)
        request = decoded.request
        citizen = citizens.get(decision.query.personal_id) if isinstance(decision, Admitted) else None
        response = answer(
            request,
            decision,
            citizen,
            now,
            self._catalogues.view,
            exchange_id=decoded.exchange_id,
            agency=decoded.agency,
        )
        if isinstance(decision, Admitted) and (key := decision.agency.answer_key) is not None:
            response = seal(response, key, self._codec)
        self._count(decoded.agency, response)
        return Outgoing(
            # The identity is the topic's: answer on the response topic of the agency that sent it.
            self._names.response(decoded.agency),
            request.request_id.encode(),
            self._codec.encode_response(response),
            response_headers(response, decoded.record.headers),
        )

    def _count(self, agency: str, response: Response) -> None:
        # Label values come from closed sets only: registered agencies, known operations, our codes.
        self._answered[agency, operation_label(response.operation), response.status.value] += 1
        if response.reason_code is not None:
            self._rejected[agency, response.reason_code] += 1

    def _flush_counts(self) -> None:
        """Add the batch's tallies to the metrics: one ``labels`` lookup per label set, not per request."""
        for agency, count in self._admitted.items():
            self._metrics.quota_used.labels(agency).inc(count)
        for answered, count in self._answered.items():
            self._metrics.requests.labels(*answered).inc(count)
        for rejected, count in self._rejected.items():
            self._metrics.rejections.labels(*rejected).inc(count)
        self._admitted.clear()
        self._answered.clear()
        self._rejected.clear()


def response_headers(
    response: Response, request_headers: Sequence[tuple[str, bytes]]
) -> tuple[tuple[str, bytes], ...]:
    """Correlation, content type, CloudEvents binary-mode attributes and the caller's trace context.

    Of the request's headers only a well-formed W3C ``traceparent`` (and a small ``tracestate`` beside
    it) is carried over: nothing else the agency sent, whatever its size, reaches the response.
    """
    headers = [
        ("correlation_id", response.request_id.encode()),
        ("content-type", b"application/vnd.apache.avro+binary; single-object"),
        ("ce_specversion", b"1.0"),
        ("ce_id", response.exchange_id.encode()),
        ("ce_type", b"vn.dancu.Response"),
        ("ce_source", b"dancu-bus/resolver"),
    ]
    return tuple(headers + trace_context(request_headers))


_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_TRACESTATE = re.compile(rb"[\x20-\x7e]{1,512}")


def trace_context(headers: Sequence[tuple[str, bytes | None]]) -> list[tuple[str, bytes]]:
    """The request's W3C trace context when well formed (the first ``traceparent``, its ``tracestate``)."""
    parent = next((v for k, v in headers if k == "traceparent"), None)
    if parent is None or not _TRACEPARENT.fullmatch(parent):
        return []
    state = next((v for k, v in headers if k == "tracestate"), None)
    kept = [("traceparent", parent)]
    if state is not None and _TRACESTATE.fullmatch(state):
        kept.append(("tracestate", state))
    return kept


async def run_resolver(
    settings: Settings,
    directory: AgencyDirectory,
    store: PopulationStore,
    codec: Codec,
    stop: asyncio.Event,
    catalogues: CatalogueSource | None = None,
    clients: KafkaClients | None = None,
) -> None:
    """Serve requests until ``stop`` is set, with health and metrics on the configured port.

    Without ``catalogues`` the resolver follows the catalogue topics (``catalogue_source``). A worker
    that fails is logged, counted and started again (``transport.quarantine``); only ``stop`` ends this.
    ``clients`` default to aiokafka's on ``settings.kafka`` (an in-memory broker: ``dancu_bus.testing``).
    """
    if catalogues is None:
        async with catalogue_source(settings, codec.schemas) as source:
            await run_resolver(settings, directory, store, codec, stop, source, clients)
        return
    clients = clients or AioKafkaClients(settings.kafka, ClusterWatch)
    identity = await store.identity()
    log.info("serving store %s (%s citizens)", identity.store_id, f"{identity.citizens:,}")
    checked = CheckedStore(store, identity)
    registry = CollectorRegistry()
    metrics = ResolverMetrics(registry)
    resolver = settings.resolver
    admission = AdmissionLimits(resolver.max_clock_skew_s, resolver.max_lifetime_s)
    limits = HandlerLimits(resolver.max_request_bytes, resolver.duplicate_window_s, admission)
    names = TopicNames(settings.kafka.topic_prefix)
    dead_letters = DeadLetters(codec, operator_key(settings.dead_letters), "resolver")
    handler = ResolverHandler(codec, directory, checked, names, metrics, catalogues, limits, dead_letters)
    serving = _Serving(settings, clients, handler, Quarantine())

    async def ready() -> str | None:
        if watch.problem is not None:
            return f"the cluster: {watch.problem}"
        return await _readiness(serving.assigned, checked, catalogues)

    def failed(exc: BaseException) -> None:
        metrics.worker_failures.labels(type(exc).__name__).inc()
        serving.quarantine.failed(f"{type(exc).__name__}: {exc}")

    async with (
        clients.watch() as watch,
        HealthServer(registry, ready, settings.resolver.metrics_port),
    ):
        await supervise(lambda: serving.run(stop), stop, failed)


class _Serving:
    """One run of the lane worker at a time, and whether the current one owns partitions."""

    def __init__(
        self, settings: Settings, clients: KafkaClients, handler: ResolverHandler, quarantine: Quarantine
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._handler = handler
        self.quarantine = quarantine
        self._worker: LaneWorker | None = None

    @property
    def assigned(self) -> bool:
        """Whether a running worker owns at least one partition."""
        return self._worker is not None and self._worker.assigned

    async def run(self, stop: asyncio.Event) -> None:
        """Start a worker and run it until ``stop``; its transactional ids are the resolver's (ACLs)."""
        resolver = self._settings.resolver
        lanes = Lanes(resolver.lanes, platform_ids(self._settings).resolver_transactional_id)
        options = WorkerOptions(
            TopicNames(self._settings.kafka.topic_prefix).request_pattern, max_records=resolver.max_batch
        )
        async with running_lane_worker(
            self._clients, resolver.group_id, self._handler, options, lanes, self.quarantine
        ) as worker:
            self._worker = worker
            try:
                await worker.run(stop)
            finally:
                self._worker = None


async def _readiness(assigned: bool, store: Citizens, catalogues: CatalogueSource) -> str | None:
    if not assigned:
        return "no partitions assigned yet"
    if not catalogues.view.count(Catalogue.COMMUNE):
        return "the catalogue topics are empty: run `dancu-bus catalogue load`"
    try:
        await store.ping()
    except StoreError as exc:
        return f"store not ready: {exc}"
    return None
