"""The audit consumer: its own group over request and response topics, one chained record per exchange."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.admin.lag_monitor import GroupLag, LagMonitor
from dancu_bus.audit.chain import START, ChainHead, audit_partition, head_of, is_intact, seal
from dancu_bus.audit.checkpointing import Checkpointer
from dancu_bus.audit.checkpoints import CheckpointCodec
from dancu_bus.audit.signing import SigningKey, read_signing_key
from dancu_bus.audit.witness import Pairing, SeenRequest, request_half, request_items, response_half
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditPending, AuditRecord
from dancu_bus.errors import BrokerError, CodecError, ConfigError
from dancu_bus.exchanges import exchange_id
from dancu_bus.health import HealthServer
from dancu_bus.metrics import AuditMetrics, LagMetrics, ServiceMetrics, agency_label
from dancu_bus.operations import registry_of
from dancu_bus.settings import AuditSettings, Settings
from dancu_bus.timestamps import from_epoch_ms
from dancu_bus.topic_names import TopicNames
from dancu_bus.tracing import trace_id_of
from dancu_bus.transport import (
    ClusterClients,
    DeadLetters,
    FencedTopics,
    FencedWorker,
    Incoming,
    KafkaClients,
    Outgoing,
    Quarantine,
    TopicPartition,
    WorkerOptions,
    operator_key,
    partition_count,
    running_fenced_worker,
    sleep_unless,
    supervise,
)

__all__ = ["AuditHandler", "AuditLimits", "AuditOutputs", "run_audit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditLimits:
    """When a waiting half is recorded UNANSWERED or forgotten; how many may wait before reading pauses."""

    unanswered_after_s: float = 300.0
    forget_after_s: float = 86_400.0
    max_pending: int = 100_000

    @classmethod
    def of(cls, audit: AuditSettings) -> AuditLimits:
        """The limits the settings give."""
        return cls(audit.unanswered_after_s, audit.lone_response_after_s, audit.max_pending)


@dataclass(frozen=True, slots=True)
class AuditOutputs:
    """What the handler writes besides audit records and its state: dead letters, signed checkpoints."""

    dead_letters: DeadLetters | None = None
    checkpoints: Checkpointer | None = None  # None: no checkpoints (no signing key)


class AuditHandler:
    """Witnesses exchanges and writes their sealed records to the audit topic; never raises for input."""

    def __init__(
        self,
        codec: Codec,
        names: TopicNames,
        metrics: AuditMetrics,
        limits: AuditLimits,
        partitions: int,
        outputs: AuditOutputs | None = None,
    ) -> None:
        outputs = outputs or AuditOutputs()
        self._codec = codec
        self._operations = registry_of(codec)
        self._dead_letters = outputs.dead_letters or DeadLetters(codec, None, "audit")
        self._names = names
        self._metrics = metrics
        self._limits = limits
        self._partitions = partitions
        self._pairings: dict[int, Pairing] = {}
        self._heads: dict[int, ChainHead] = {}
        self._held = False
        # Signed checkpoints of each partition's committed head (``audit.checkpoints``), when keyed.
        self._checkpoints = outputs.checkpoints
        self._sealed: dict[int, AuditRecord] = {}  # each partition's last record written

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
        if self._checkpoints is not None:
            self._checkpoints.committed(partition, last.offset, record)
        return True

    def restore(self, partition: int, state: Sequence[Incoming]) -> None:
        """The halves of ``partition`` still waiting when its last writer committed."""
        pairing = Pairing()
        pairing.restore(self._pending_of(record) for record in state)
        self._pairings[partition] = pairing
        log.info("audit partition %d: %d halves of exchanges waiting", partition, len(pairing))

    def forget(self, partitions: Collection[int]) -> None:
        """Drop the waiting halves and chain heads of partitions this consumer no longer writes."""
        for partition in partitions:
            self._pairings.pop(partition, None)
            self._heads.pop(partition, None)
            self._sealed.pop(partition, None)
        if self._checkpoints is not None:
            self._checkpoints.forget(partitions)

    def written(self, partition: int, last: Mapping[TopicPartition, int]) -> None:
        """The partition's transaction committed: its last audit record is its head, at that offset."""
        offset = last.get(TopicPartition(self._names.audit, partition))
        record = self._sealed.get(partition)
        if self._checkpoints is not None and offset is not None and record is not None:
            self._checkpoints.committed(partition, offset, record)

    def held(self, topic: str) -> bool:
        """Request topics wait while too many halves wait; responses are always read (they finish them)."""
        split = self._names.split(topic)
        return self._held and split is not None and split[0] == "req"

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """Audit records of the exchanges this batch completes (and of requests left unanswered too long).

        Besides them: the state changes of every waiting half and the dead letters of unreadable batches.
        """
        now = datetime.now(UTC)
        outgoing: list[Outgoing] = []
        for record in batch:
            outgoing.extend(self._witness(record, now))
        for partition, pairing in self._pairings.items():
            for audit in pairing.expire(now, self._limits.unanswered_after_s, self._limits.forget_after_s):
                outgoing.extend(self._emit(partition, audit))
            outgoing.extend(self._state_changes(partition, pairing))
        if self._checkpoints is not None:
            outgoing.extend(self._checkpoints.due(now))
        self._measure(now)
        return outgoing

    def _witness(self, record: Incoming, now: datetime) -> list[Outgoing]:
        split = self._names.split(record.topic)
        if split is None:
            return []
        kind, agency = split
        partition = self.output_partition(record.topic)
        if record.unreadable is not None:
            return [self._unreadable(record, partition)]
        try:
            audits = (
                self._pair_request(record, agency, partition, now)
                if kind == "req"
                else self._pair_response(record, agency, partition, now)
            )
        except CodecError as exc:
            return self._undecodable(record, kind, partition, exc)
        return [out for audit in audits for out in self._emit(partition, audit)]

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        """The dead letter of a record whose handling failed alone (our fault): the chain steps over it."""
        return self._dead(record, self.output_partition(record.topic), "HANDLER_FAILED", detail)

    def _undecodable(self, record: Incoming, kind: str, partition: int, exc: CodecError) -> list[Outgoing]:
        """Nothing for a request (the resolver dead-letters those); a dead letter for a response."""
        self._metrics.undecodable.labels(exc.code).inc()
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        log.warning("undecodable record %s: %s", where, exc)
        if kind == "req":
            return []  # a second dead letter of the same request would only be noise
        # Only the resolver writes responses, so nobody else will account for this one.
        return [self._dead(record, partition, exc.code, exc.detail)]

    def _dead(self, record: Incoming, partition: int, code: str, detail: str) -> Outgoing:
        self._metrics.dead_letters.labels(code).inc()
        return self._dead_letters.outgoing(self._names.dead_letters, record, code, detail, writer=partition)

    def _pair_request(
        self, record: Incoming, agency: str, partition: int, now: datetime
    ) -> list[AuditRecord]:
        request = self._codec.decode_request(record.value)
        exchange = exchange_id(record.topic, record.partition, record.offset, record.timestamp_ms)
        # The log's clock is the broker's; a topic that keeps producers' times gets ours instead.
        received_at = from_epoch_ms(record.timestamp_ms) if record.log_append_time else now
        trace = trace_id_of(record.headers)
        fee = self._operations.fee_of(request.body)
        seen = SeenRequest(agency, exchange, request, record.tp, record.offset, received_at, trace, fee)
        return self._pairings[partition].add_request(request_half(seen), now, request_items(request))

    def _pair_response(
        self, record: Incoming, agency: str, partition: int, now: datetime
    ) -> list[AuditRecord]:
        response = self._codec.decode_response(record.value)
        half = response_half(agency, response)
        return self._pairings[partition].add_response(response.exchange_id, half, now)

    def _unreadable(self, record: Incoming, partition: int) -> Outgoing:
        assert record.unreadable is not None
        unreadable = record.unreadable
        detail = f"offsets {unreadable.first_offset}–{unreadable.last_offset}: {unreadable.detail}"
        self._metrics.undecodable.labels("UNREADABLE_BATCH").inc()
        return self._dead(record, partition, "UNREADABLE_BATCH", detail)

    def _emit(self, partition: int, audit: AuditRecord) -> list[Outgoing]:
        # The worker resumes every partition a batch can write to before handing the batch over.
        sealed = seal(audit, self._heads[partition])
        try:
            value = self._codec.encode_audit(sealed)
        except CodecError as exc:
            # The head moves only with records that reach the topic, or the next would chain from nothing.
            log.error("cannot encode the audit record of exchange %s: %s", audit.exchange_id, exc)
            return []
        self._heads[partition] = head_of(sealed)
        self._sealed[partition] = sealed
        self._metrics.records.labels(agency_label(audit.agency), audit.status).inc()
        return [Outgoing(self._names.audit, audit.exchange_id.encode(), value, partition=partition)]

    def _state_changes(self, partition: int, pairing: Pairing) -> list[Outgoing]:
        upserts, deletes = pairing.changes()
        topic = self._names.audit_pending
        records = [
            Outgoing(topic, half.exchange_id.encode(), self._codec.encode_pending(half), partition=partition)
            for half in upserts
        ]
        return records + [Outgoing(topic, e.encode(), None, partition=partition) for e in deletes]

    def _pending_of(self, record: Incoming) -> AuditPending | str:
        """A state record: the waiting half, or the exchange id a tombstone finished."""
        key = (record.key or b"").decode("utf-8", errors="replace")
        if record.value is None:
            return key
        try:
            return self._codec.decode_pending(record.value)
        except CodecError as exc:
            log.error("audit state record %s@%d is unreadable, dropped: %s", key, record.offset, exc)
            return key

    def _measure(self, now: datetime) -> None:
        waiting = sum(len(p) for p in self._pairings.values())
        requests = sum(p.requests_waiting() for p in self._pairings.values())
        oldest = min((o for p in self._pairings.values() if (o := p.oldest()) is not None), default=now)
        self._metrics.pending.set(waiting)
        self._metrics.pending_oldest.set((now - oldest).total_seconds())
        # Pause reading requests past the bound, read them again once half of it is left.
        self._held = requests >= self._limits.max_pending or (
            self._held and requests > self._limits.max_pending // 2
        )
        self._metrics.held.set(1 if self._held else 0)


async def _partitions(clients: KafkaClients, topic: str, stop: asyncio.Event) -> int | None:
    """The audit topic's partition count, waiting (a line every 10 s) until it exists; None once stopped."""
    waited = 0.0
    while not stop.is_set():
        try:
            return await partition_count(clients, topic)
        except BrokerError as exc:
            if waited % 10 == 0:
                log.warning("the audit consumer waits for topic %s (%.0f s so far): %s", topic, waited, exc)
        await sleep_unless(stop, 2.0)
        waited += 2.0
    return None


def _signing_key(settings: Settings) -> SigningKey | None:
    """The key checkpoints are signed with (ConfigError naming the file if unusable); None: logged once."""
    if settings.audit.signing_key_file is None:
        log.warning(
            "signed checkpoints are off: no DANCU_AUDIT__SIGNING_KEY_FILE to sign each partition's head with"
        )
        return None
    return read_signing_key(settings.audit.signing_key_file)


async def _checkpointer(
    settings: Settings, codec: Codec, clients: KafkaClients, audit: tuple[SigningKey, int, asyncio.Event]
) -> Checkpointer | None:
    """The signer of checkpoints, once its topic is there; None once stopped while waiting.

    ConfigError when the checkpoint topic has fewer partitions than the audit topic.
    """
    key, partitions, stop = audit
    topic = TopicNames(settings.kafka.topic_prefix).audit_checkpoints
    found = await _partitions(clients, topic, stop)
    if found is None:
        return None
    if found < partitions:
        raise ConfigError(
            f"{topic} has {found} partitions, fewer than the audit topic's {partitions}: give it as many"
        )
    interval = settings.audit.checkpoint_interval_s
    log.info("signing each audit partition's head every %g s with key %s", interval, key.key_id)
    return Checkpointer(key, interval, topic, CheckpointCodec(codec.schemas))


async def run_audit(
    settings: Settings, codec: Codec, stop: asyncio.Event, clients: KafkaClients | None = None
) -> None:
    """Witness exchanges until ``stop`` is set, with health and metrics on the configured port.

    A worker that fails is logged, counted and started again from the last commit
    (``transport.supervise``); the records it had in hand are retried one by one and one that fails
    alone is dead-lettered (``transport.quarantine``). Only ``stop`` ends this. ``clients`` default to
    aiokafka's on ``settings.kafka`` (an in-memory broker: ``dancu_bus.testing``).
    """
    given = clients
    key = _signing_key(settings)  # before anything else: a key that cannot be used stops the start
    clients = clients or ClusterClients(settings.kafka, ClusterWatch, client_config(settings.kafka))
    registry = CollectorRegistry()
    names = TopicNames(settings.kafka.topic_prefix)
    partitions = await _partitions(clients, names.audit, stop)
    if partitions is None:
        return
    service = ServiceMetrics(registry, "audit")
    metrics = AuditMetrics(registry)
    dead_letters = DeadLetters(codec, operator_key(settings.dead_letters), "audit")
    checkpoints = (
        None if key is None else await _checkpointer(settings, codec, clients, (key, partitions, stop))
    )
    if stop.is_set():
        return
    outputs = AuditOutputs(dead_letters, checkpoints)
    handler = AuditHandler(codec, names, metrics, AuditLimits.of(settings.audit), partitions, outputs)
    options = WorkerOptions(
        names.exchange_pattern,
        max_records=settings.audit.max_batch,
        tick_s=settings.audit.tick_s,
        events=metrics.worker,
    )
    topics = FencedTopics(names.audit, names.audit_pending)
    group = settings.audit.group_id
    quarantine = Quarantine()
    running: list[FencedWorker] = []

    async def run() -> None:
        async with running_fenced_worker(clients, group, topics, handler, options, quarantine) as worker:
            running.append(worker)
            try:
                await worker.run(stop)
            finally:
                running.remove(worker)

    async def ready() -> str | None:
        service.broker_reachable.set(0 if watch.problem is not None else 1)
        problem = (
            f"the cluster: {watch.problem}"
            if watch.problem is not None
            else None
            if running and running[0].assigned
            else "no partitions assigned yet"
        )
        service.ready.set(0 if problem else 1)
        return problem

    def failed(exc: BaseException) -> None:
        metrics.worker.worker_failures.labels(type(exc).__name__).inc()
        quarantine.failed(f"{type(exc).__name__}: {exc}")

    async with (
        clients.watch() as watch,
        HealthServer(registry, ready, settings.audit.metrics_port, settings.metrics_host),
        _lag_watched(settings, names, LagMetrics(registry), stop, watched=given is None),
    ):
        await supervise(run, stop, failed)


@contextlib.asynccontextmanager
async def _lag_watched(
    settings: Settings, names: TopicNames, metrics: LagMetrics, stop: asyncio.Event, watched: bool
) -> AsyncIterator[None]:
    """The audit group's lag, and its backlog: responses committed that the audit has not read yet."""
    if not watched:  # the broker in memory keeps no groups to read the lag of
        yield
        return

    def report(polled: GroupLag | None) -> None:
        metrics.polled(polled)
        if polled is not None:
            responses = (lag for (topic, _), lag in polled.lags.items() if _is_response(names, topic))
            metrics.report_backlog(responses)

    monitor = LagMonitor(settings.kafka, settings.audit.group_id, re.compile(names.exchange_pattern))
    async with monitor.running(stop, settings.lag_interval_s, report):
        yield


def _is_response(names: TopicNames, topic: str) -> bool:
    split = names.split(topic)
    return split is not None and split[0] == "res"
