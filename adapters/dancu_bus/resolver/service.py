"""The resolver process: batches of requests in, one response each out, bad bytes to the DLQ."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from prometheus_client import CollectorRegistry

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
from dancu_bus.resolver.policy import Admitted, Rejection, admit
from dancu_bus.resolver.quota import QuotaBook
from dancu_bus.settings import Settings
from dancu_bus.store import PopulationStore
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import (
    Incoming,
    Outgoing,
    TopicPartition,
    WorkerOptions,
    dead_letter,
    running_worker,
)

__all__ = ["ResolverHandler", "response_headers", "run_resolver"]

log = logging.getLogger(__name__)
# Daily quotas reset at midnight in Vietnam (UTC+7, no daylight saving).
_VIETNAM = timezone(timedelta(hours=7))


@dataclass(frozen=True, slots=True)
class _Decoded:
    record: Incoming
    agency: str
    request: Request


class ResolverHandler:
    """Turns a batch of request records into responses and dead letters; never raises for input."""

    def __init__(
        self,
        codec: Codec,
        directory: AgencyDirectory,
        store: PopulationStore,
        names: TopicNames,
        metrics: ResolverMetrics,
        catalogues: CatalogueSource | None = None,
    ) -> None:
        self._codec = codec
        self._catalogues = catalogues if catalogues is not None else packaged_view()
        self._directory = directory
        self._store = store
        self._names = names
        self._metrics = metrics
        self._quotas = QuotaBook()
        self._admitted: Counter[str] = Counter()
        self._answered: Counter[tuple[str, str, str]] = Counter()
        self._rejected: Counter[tuple[str, str]] = Counter()

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """One response per decodable request, one dead letter per undecodable record."""
        self._metrics.batch_size.observe(len(batch))
        decoded, dead = self._decode_all(batch)
        now = datetime.now(UTC)
        view = self._catalogues.view  # one snapshot for the batch, however the topics change meanwhile
        decisions = [
            self._within_quota(admit(d.request, d.agency, self._directory, now, view), now) for d in decoded
        ]
        citizens = await self._citizens(decisions)
        responses = [
            self._respond(d, decision, citizens, now) for d, decision in zip(decoded, decisions, strict=True)
        ]
        self._flush_counts()
        return dead + responses

    def _within_quota(self, decision: Admitted | Rejection, now: datetime) -> Admitted | Rejection:
        if isinstance(decision, Rejection):
            return decision
        agency = decision.agency
        exceeded = self._quotas.take(
            agency.id, agency.quota, time.monotonic(), now.astimezone(_VIETNAM).date()
        )
        if exceeded is not None:
            return Rejection(Reason.QUOTA_EXCEEDED, exceeded)
        self._admitted[agency.id] += 1
        return decision

    def committable(self, consumed: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """Everything consumed is answered by the time offsets are committed."""
        return consumed

    def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        """The resolver keeps no per-partition state."""

    def _decode_all(self, batch: Sequence[Incoming]) -> tuple[list[_Decoded], list[Outgoing]]:
        decoded: list[_Decoded] = []
        dead: list[Outgoing] = []
        for record in batch:
            split = self._names.split(record.topic)
            agency = split[1] if split else ""
            try:
                request = self._codec.decode_request(record.value)
            except CodecError as exc:
                dead.append(self._dead(record, exc.code, exc.detail))
                continue
            if self._directory.get(agency) is None:
                # No agency, so no response topic to answer on: keep the bytes for operators.
                dead.append(self._dead(record, "UNKNOWN_AGENCY", f"no connected agency {agency!r}"))
                continue
            decoded.append(_Decoded(record, agency, request))
        return decoded, dead

    def _dead(self, record: Incoming, code: str, detail: str) -> Outgoing:
        self._metrics.dead_letters.labels(code).inc()
        value = self._codec.encode_dead_letter(dead_letter(record, code, detail, "resolver"))
        return Outgoing(self._names.dead_letters, record.key, value)

    async def _citizens(self, decisions: Sequence[Admitted | Rejection]) -> Mapping[str, Citizen]:
        ids = sorted({d.query.personal_id for d in decisions if isinstance(d, Admitted)})
        if not ids:
            return {}
        started = time.perf_counter()
        citizens = await self._store.get_many(ids)
        self._metrics.store_seconds.observe(time.perf_counter() - started)
        return citizens

    def _respond(
        self,
        decoded: _Decoded,
        decision: Admitted | Rejection,
        citizens: Mapping[str, Citizen],
        now: datetime,
    ) -> Outgoing:
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

    Without ``catalogues`` the resolver follows the catalogue topics (``catalogue_source``).
    """
    if catalogues is None:
        async with catalogue_source(settings, codec.schemas) as source:
            await run_resolver(settings, directory, store, codec, stop, source)
        return
    registry = CollectorRegistry()
    names = TopicNames(settings.kafka.topic_prefix)
    handler = ResolverHandler(codec, directory, store, names, ResolverMetrics(registry), catalogues)
    options = WorkerOptions(names.request_pattern, max_records=settings.resolver.max_batch)
    async with running_worker(settings.kafka, settings.resolver.group_id, handler, options) as worker:

        async def ready() -> str | None:
            return await _readiness(worker.assigned, store, catalogues)

        async with HealthServer(registry, ready, settings.resolver.metrics_port):
            await worker.run(stop)


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
