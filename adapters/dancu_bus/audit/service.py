"""The audit consumer: its own group over request and response topics, one chained record per exchange."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from dancu_bus.audit.chain import START, ChainHead, audit_partition, head_of, is_intact, seal
from dancu_bus.audit.witness import Pairing, SeenRequest, SeenResponse
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import CodecError
from dancu_bus.health import HealthServer
from dancu_bus.metrics import AuditMetrics
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import (
    FencedWorker,
    Incoming,
    Outgoing,
    TopicPartition,
    WorkerOptions,
    partition_count,
    running_fenced_worker,
    supervise,
)

__all__ = ["AuditHandler", "run_audit"]

log = logging.getLogger(__name__)


class AuditHandler:
    """Witnesses exchanges and writes their sealed records to the audit topic; never raises for input."""

    def __init__(
        self,
        codec: Codec,
        names: TopicNames,
        metrics: AuditMetrics,
        unanswered_after_s: float,
        partitions: int,
    ) -> None:
        self._codec = codec
        self._names = names
        self._metrics = metrics
        self._unanswered_after_s = unanswered_after_s
        self._partitions = partitions
        self._pairing = Pairing()
        self._heads: dict[int, ChainHead] = {}

    def output_partition(self, topic: str) -> int:
        """The audit partition of an exchange topic: its agency's, so both halves meet in one member."""
        split = self._names.split(topic)
        return audit_partition(split[1] if split is not None else topic, self._partitions)

    def resume(self, partition: int, last: Incoming | None) -> bool:
        """Chain ``partition`` on from ``last`` if it is an intact audit record; from the start if None."""
        if last is None:
            self._heads[partition] = START
            return True
        try:
            record = self._codec.decode_audit(last.value)
        except CodecError as exc:
            log.error("audit partition %d: offset %d is not an audit record: %s", partition, last.offset, exc)
            return False
        if not is_intact(record):
            log.error(
                "audit partition %d: offset %d fails its hash, chaining past it", partition, last.offset
            )
            return False
        self._heads[partition] = head_of(record)
        return True

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """Audit records of the exchanges this batch completes (and of requests left unanswered too long)."""
        now = datetime.now(UTC)
        outgoing: list[Outgoing] = []
        for record in batch:
            outgoing.extend(self._witness(record, now))
        expired, lone = self._pairing.expire(now, self._unanswered_after_s)
        if lone:
            log.warning("%d responses had no request within %.0f s", lone, self._unanswered_after_s)
        for audit in expired:
            outgoing.extend(self._emit(audit))
        self._metrics.pending.set(len(self._pairing))
        return outgoing

    def committable(self, consumed: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """Offsets held back to the oldest exchange still waiting for its other half."""
        return self._pairing.committable(consumed)

    def on_revoked(self, partitions: Collection[TopicPartition]) -> None:
        """Forget halves of partitions that moved to another audit consumer."""
        self._pairing.forget(partitions)

    def _witness(self, record: Incoming, now: datetime) -> list[Outgoing]:
        split = self._names.split(record.topic)
        if split is None:
            return []
        kind, agency = split
        try:
            audit = (
                self._pair_request(record, agency, now)
                if kind == "req"
                else self._pair_response(record, agency, now)
            )
        except CodecError as exc:
            # The resolver dead-letters undecodable requests; a second copy here would only be noise.
            self._metrics.undecodable.labels(exc.code).inc()
            log.warning(
                "undecodable record %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc
            )
            return []
        return self._emit(audit) if audit is not None else []

    def _pair_request(self, record: Incoming, agency: str, now: datetime) -> AuditRecord | None:
        request = self._codec.decode_request(record.value)
        seen = SeenRequest(agency, request, record.tp, record.offset, record.timestamp_ms)
        return self._pairing.add_request(seen, now)

    def _pair_response(self, record: Incoming, agency: str, now: datetime) -> AuditRecord | None:
        response = self._codec.decode_response(record.value)
        return self._pairing.add_response(SeenResponse(agency, response, record.tp, record.offset), now)

    def _emit(self, audit: AuditRecord) -> list[Outgoing]:
        partition = audit_partition(audit.agency, self._partitions)
        # The worker resumes every partition a batch can write to before handing the batch over.
        sealed = seal(audit, self._heads[partition])
        try:
            value = self._codec.encode_audit(sealed)
        except CodecError as exc:
            # The head moves only with records that reach the topic, or the next would chain from nothing.
            log.error("cannot encode the audit record of %s: %s", audit.request_id, exc)
            return []
        self._heads[partition] = head_of(sealed)
        self._metrics.records.labels(audit.agency, audit.status).inc()
        return [Outgoing(self._names.audit, audit.request_id.encode(), value, partition=partition)]


async def run_audit(settings: Settings, codec: Codec, stop: asyncio.Event) -> None:
    """Witness exchanges until ``stop`` is set, with health and metrics on the configured port.

    A worker that fails is logged, counted and started again from the last commit
    (``transport.supervise``); only ``stop`` ends this.
    """
    registry = CollectorRegistry()
    names = TopicNames(settings.kafka.topic_prefix)
    partitions = await partition_count(settings.kafka, names.audit)
    metrics = AuditMetrics(registry)
    handler = AuditHandler(codec, names, metrics, settings.audit.unanswered_after_s, partitions)
    options = WorkerOptions(names.exchange_pattern, max_records=settings.audit.max_batch)
    group = settings.audit.group_id
    running: list[FencedWorker] = []

    async def run() -> None:
        async with running_fenced_worker(settings.kafka, group, names.audit, handler, options) as worker:
            running.append(worker)
            try:
                await worker.run(stop)
            finally:
                running.remove(worker)

    async def ready() -> str | None:
        return None if running and running[0].assigned else "no partitions assigned yet"

    def failed(exc: BaseException) -> None:
        metrics.worker_failures.labels(type(exc).__name__).inc()

    async with HealthServer(registry, ready, settings.audit.metrics_port):
        await supervise(run, stop, failed)
