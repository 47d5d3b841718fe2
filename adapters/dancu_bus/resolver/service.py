"""The resolver process: batches of requests in, one response each out, bad bytes to the DLQ."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from prometheus_client import CollectorRegistry

from dancu_bus.access import platform_ids
from dancu_bus.agencies import AgencyDirectory
from dancu_bus.catalogues import Catalogue, CatalogueSource, packaged_view
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen, Request, Response
from dancu_bus.errors import CodecError, StoreError
from dancu_bus.health import HealthServer
from dancu_bus.metrics import ResolverMetrics
from dancu_bus.reasons import Reason
from dancu_bus.resolver.answers import answer
from dancu_bus.resolver.catalogues import catalogue_source
from dancu_bus.resolver.duplicates import DuplicateWindow
from dancu_bus.resolver.policy import Admitted, Rejection, admit
from dancu_bus.resolver.quota import QuotaBook
from dancu_bus.settings import Settings
from dancu_bus.store import PopulationStore
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import (
    Incoming,
    Lanes,
    LaneWorker,
    Outgoing,
    Quarantine,
    WorkerOptions,
    dead_letter,
    running_lane_worker,
    supervise,
)

__all__ = ["HandlerLimits", "ResolverHandler", "response_headers", "run_resolver"]

log = logging.getLogger(__name__)
# Daily quotas reset at midnight in Vietnam (UTC+7, no daylight saving).
_VIETNAM = timezone(timedelta(hours=7))
_SET_ASIDE_KEEPS = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Decoded:
    record: Incoming
    agency: str
    request: Request
    refusal: Rejection | None  # decided before admission: a duplicate id or an oversized request


@dataclass(frozen=True, slots=True)
class _StoreFailed:
    """An admitted request the store failed for good: dead-lettered, for operators to replay."""

    detail: str


_Decision = Admitted | Rejection | _StoreFailed


@dataclass(frozen=True, slots=True)
class HandlerLimits:
    """What the handler refuses before admission: oversized requests and repeated request ids."""

    max_request_bytes: int = 1024 * 1024
    duplicate_window_s: float = 300.0


class ResolverHandler:
    """Turns a batch of request records into one response or dead letter each; never raises for input."""

    def __init__(
        self,
        codec: Codec,
        directory: AgencyDirectory,
        store: PopulationStore,
        names: TopicNames,
        metrics: ResolverMetrics,
        catalogues: CatalogueSource | None = None,
        limits: HandlerLimits = HandlerLimits(),
    ) -> None:
        self._codec = codec
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
        decisions: list[_Decision] = [
            d.refusal or admit(d.request, d.agency, self._directory, now, view) for d in decoded
        ]
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
        """The dead letter of a record whose handling failed alone too (our fault, not the agency's).

        A large value is cut to its first 64 KiB, so that this record at least fits the broker
        (the failure may have been the broker refusing a record as too large).
        """
        value = record.value or b""
        if len(value) > _SET_ASIDE_KEEPS:
            digest = hashlib.sha256(value).hexdigest()
            detail = f"{detail}; value cut from {len(value)} bytes (sha256 {digest}) to {_SET_ASIDE_KEEPS}"
            record = dataclasses.replace(record, value=value[:_SET_ASIDE_KEEPS])
        return self._dead(record, "HANDLER_FAILED", detail)

    def _decode(self, record: Incoming, now: datetime) -> _Decoded | Outgoing:
        """The decoded request, or the dead letter of bytes that are no request of a connected agency."""
        split = self._names.split(record.topic)
        agency = split[1] if split else ""
        try:
            request = self._codec.decode_request(record.value)
        except CodecError as exc:
            return self._dead(record, exc.code, exc.detail)
        if self._directory.get(agency) is None:
            # No agency, so no response topic to answer on: keep the bytes for operators.
            return self._dead(record, "UNKNOWN_AGENCY", f"no connected agency {agency!r}")
        return _Decoded(record, agency, request, self._refusal(record, agency, request, now))

    def _refusal(self, record: Incoming, agency: str, request: Request, now: datetime) -> Rejection | None:
        size = len(record.value or b"")
        if size > self._limits.max_request_bytes:
            return Rejection(
                Reason.MALFORMED_REQUEST, f"{size} bytes, more than {self._limits.max_request_bytes}"
            )
        where = (record.tp, record.offset)
        if self._duplicates.is_duplicate(agency, request.request_id, where, request.expires_at, now):
            return Rejection(Reason.DUPLICATE_REQUEST, request.request_id)
        return None

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
        value = self._codec.encode_dead_letter(dead_letter(record, code, detail, "resolver"))
        return Outgoing(self._names.dead_letters, record.key, value)

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
        response = answer(request, decision, citizen, now, self._catalogues.view)
        self._count(decoded.agency, response, now)
        return Outgoing(
            # The identity is the topic's: answer on the response topic of the agency that sent it.
            self._names.response(decoded.agency),
            request.request_id.encode(),
            self._codec.encode_response(response),
            response_headers(request.request_id, decoded.record.headers),
        )

    def _count(self, agency: str, response: Response, now: datetime) -> None:
        self._answered[agency, response.operation, response.status.value] += 1
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
    request_id: str, request_headers: Sequence[tuple[str, bytes]]
) -> tuple[tuple[str, bytes], ...]:
    """Correlation, content type, CloudEvents binary-mode attributes and the caller's trace context."""
    headers = [
        ("correlation_id", request_id.encode()),
        ("content-type", b"application/vnd.apache.avro+binary; single-object"),
        ("ce_specversion", b"1.0"),
        ("ce_id", request_id.encode()),
        ("ce_type", b"vn.dancu.Response"),
        ("ce_source", b"dancu-bus/resolver"),
    ]
    headers += [(k, v) for k, v in request_headers if k == "traceparent"]
    return tuple(headers)


async def run_resolver(
    settings: Settings,
    directory: AgencyDirectory,
    store: PopulationStore,
    codec: Codec,
    stop: asyncio.Event,
    catalogues: CatalogueSource | None = None,
) -> None:
    """Serve requests until ``stop`` is set, with health and metrics on the configured port.

    Without ``catalogues`` the resolver follows the catalogue topics (``catalogue_source``). A worker
    that fails is logged, counted and started again (``transport.quarantine``); only ``stop`` ends this.
    """
    if catalogues is None:
        async with catalogue_source(settings, codec.schemas) as source:
            await run_resolver(settings, directory, store, codec, stop, source)
        return
    registry = CollectorRegistry()
    metrics = ResolverMetrics(registry)
    limits = HandlerLimits(settings.resolver.max_request_bytes, settings.resolver.duplicate_window_s)
    names = TopicNames(settings.kafka.topic_prefix)
    handler = ResolverHandler(codec, directory, store, names, metrics, catalogues, limits)
    serving = _Serving(settings, handler, Quarantine())

    async def ready() -> str | None:
        return await _readiness(serving.assigned, store, catalogues)

    def failed(exc: BaseException) -> None:
        metrics.worker_failures.labels(type(exc).__name__).inc()
        serving.quarantine.failed(f"{type(exc).__name__}: {exc}")

    async with HealthServer(registry, ready, settings.resolver.metrics_port):
        await supervise(lambda: serving.run(stop), stop, failed)


class _Serving:
    """One run of the lane worker at a time, and whether the current one owns partitions."""

    def __init__(self, settings: Settings, handler: ResolverHandler, quarantine: Quarantine) -> None:
        self._settings = settings
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
        kafka = self._settings.kafka
        async with running_lane_worker(
            kafka, resolver.group_id, self._handler, options, lanes, self.quarantine
        ) as worker:
            self._worker = worker
            try:
                await worker.run(stop)
            finally:
                self._worker = None


async def _readiness(assigned: bool, store: PopulationStore, catalogues: CatalogueSource) -> str | None:
    if not assigned:
        return "no partitions assigned yet"
    if not catalogues.view.count(Catalogue.COMMUNE):
        return "the catalogue topics are empty: run `dancu-bus catalogue load`"
    try:
        await store.ping()
    except StoreError as exc:
        return f"store unreachable: {exc}"
    return None
