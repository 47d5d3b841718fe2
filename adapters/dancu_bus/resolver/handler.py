"""The resolver's record handler: a batch of request records in, one response or dead letter each out."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer, get_tracer, set_span_in_context
from prometheus_client import Histogram

from dancu_bus import tracing
from dancu_bus.agencies import Agency, AgencyDirectory
from dancu_bus.catalogues import CatalogueSource, CatalogueView, packaged_view
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen, Request, Response, ResponseStatus
from dancu_bus.corrections import TicketBook, TicketCodec, Tickets
from dancu_bus.errors import CodecError, StoreError
from dancu_bus.exchanges import exchange_id
from dancu_bus.metrics import NO_REASON, ResolverMetrics, operation_label
from dancu_bus.operations import Asking, Emitted, Population, SealedOperation, registry_of
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.resolver.answers import reject, respond
from dancu_bus.resolver.audit_gate import AuditGate
from dancu_bus.resolver.policy import Admission, AdmissionLimits, Admitted
from dancu_bus.sealing import seal
from dancu_bus.text import shown
from dancu_bus.timestamps import from_epoch_ms
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import DeadLetters, Incoming, Outgoing

__all__ = ["HandlerOptions", "ResolverHandler", "response_headers", "trace_context"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Decoded:
    record: Incoming
    agency: str
    exchange_id: str
    received_at: datetime  # the broker's time of the record (the resolver's when the topic keeps producers')
    request: Request


@dataclass(frozen=True, slots=True)
class _StoreFailed:
    """An admitted request the store failed for good: dead-lettered, for operators to replay."""

    detail: str


_Decision = Admitted | Rejection | _StoreFailed


@dataclass(frozen=True, slots=True)
class HandlerOptions:
    """What the handler may be given: the catalogues (default: the packaged ones), admission's limits,
    where dead letters go (default: redacted, no operators' key), and the correction tickets."""

    catalogues: CatalogueSource | None = None
    limits: AdmissionLimits = field(default_factory=AdmissionLimits)
    dead_letters: DeadLetters | None = None
    # The correction tickets TICKET_STATE and CORRECT read (default: an empty book, not followed).
    tickets: Tickets | None = None
    # Where the resolver's spans go (default: the process's OpenTelemetry tracer, a no-op unless configured).
    tracer: Tracer | None = None
    # No exchange without a log: while it is closed every request is refused AUDIT_UNAVAILABLE (default:
    # none, always serving, as with DANCU_RESOLVER__AUDIT_MAX_LAG_S=0).
    gate: AuditGate | None = None


class ResolverHandler:
    """Turns a batch of request records into one response or dead letter each; never raises for input."""

    def __init__(
        self,
        codec: Codec,
        directory: AgencyDirectory,
        store: Population,
        names: TopicNames,
        metrics: ResolverMetrics,
        options: HandlerOptions | None = None,
    ) -> None:
        given = options or HandlerOptions()
        self._codec = codec
        # Without a view of the corrections topic (a test, a benchmark), tickets opened are still written.
        self._tickets = given.tickets or TicketBook(TicketCodec(codec.schemas), names.corrections)
        operations = registry_of(codec)
        self._names_of = frozenset(operations.names())
        self._admission = Admission(directory, operations, given.limits)
        self._dead_letters = given.dead_letters or DeadLetters(codec, None, "resolver")
        self._catalogues = given.catalogues if given.catalogues is not None else packaged_view()
        self._directory = directory
        self._store = store
        self._names = names
        self._metrics = metrics
        self._tracer = given.tracer or get_tracer("dancu_bus.resolver")
        self._gate = given.gate
        self._admitted: Counter[str] = Counter()
        self._spenders: dict[str, Agency] = {}
        self._answered: Counter[tuple[str, str, str, str]] = Counter()
        self._verdicts: Counter[tuple[str, str, str]] = Counter()
        # The batch in hand's answered requests: (agency, sent_at, received_at), timed once committed.
        self._timing: list[tuple[str, datetime, datetime]] = []

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """One output per record, in order: its response, or its dead letter when it cannot be answered.

        While the audit gate is closed for an agency its requests are answered REJECTED AUDIT_UNAVAILABLE
        (still an exchange, audited once the audit catches up, spending the agency's quota). Retriable
        store errors go up, to be retried; quotas are spent only once the store has answered, so a
        retried batch does not spend them twice.
        """
        now = datetime.now(UTC)
        self._timing = []  # a batch handled again (retried, or after an abort) is timed from scratch
        slots = [self._decode(record, now) for record in batch]
        decoded = [slot for slot in slots if isinstance(slot, _Decoded)]
        view = self._catalogues.view  # one snapshot for the batch, however the topics change meanwhile
        # A gate closed for an agency refuses its requests before admission: no request id kept as seen,
        # so it may send the same request again once the log has caught up (its quota is still spent).
        refusals = {a: self._gate.refusal(a) for a in {d.agency for d in decoded}} if self._gate else {}
        decisions: list[_Decision] = [refusals.get(d.agency) or self._admit(d, now, view) for d in decoded]
        try:
            citizens = await self._citizens(decisions)
            results = [
                await self._result(d, c, citizens, view, now) for d, c in zip(decoded, decisions, strict=True)
            ]
        except StoreError as exc:
            if exc.retriable:
                raise
            failed = _StoreFailed(str(exc))
            decisions = [failed if isinstance(d, Admitted) else d for d in decisions]
            results = [(None, [])] * len(decisions)
        answers = iter(
            self._answer(d, *self._spend(d.agency, decision, result, now), now)
            for d, decision, result in zip(decoded, decisions, results, strict=True)
        )
        outgoing = [slot if isinstance(slot, Outgoing) else next(answers) for slot in slots]
        self._flush_counts()
        return outgoing

    def committed(self) -> None:
        """The batch last handled is committed: its requests' latencies are now known."""
        now, metrics = datetime.now(UTC), self._metrics
        children: dict[str, Histogram] = {}  # one ``labels`` lookup per agency of the batch
        for agency, sent_at, received_at in self._timing:
            child = children.get(agency) or children.setdefault(
                agency, metrics.end_to_end_seconds.labels(agency)
            )
            # sent_at is the agency's clock, admitted within the skew allowed: its own series only.
            child.observe(max(0.0, (now - sent_at).total_seconds()))
            metrics.processing_seconds.observe(max(0.0, (now - received_at).total_seconds()))
        self._timing = []

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
        return _Decoded(record, agency, exchange, received_at, request)

    def _admit(self, decoded: _Decoded, now: datetime, view: CatalogueView) -> Admitted | Rejection:
        too_large = self._admission.record(decoded.record.size)
        if too_large is not None:
            return too_large
        request = decoded.request
        return self._admission.request(
            request, decoded.agency, decoded.exchange_id, now, view, decoded.received_at
        )

    def _spend(
        self, agency: str, decision: _Decision, answered: tuple[object, list[Emitted]], now: datetime
    ) -> tuple[_Decision, tuple[object, list[Emitted]]]:
        """The quota its answer spends: refused whole when it does not fit, or (itemized) the items beyond.

        A refusal of the audit gate spends one too, or is QUOTA_EXCEEDED when none is left: a flood
        while the gate is closed for the agency is not free, and cannot hold the gate closed for long.
        """
        if isinstance(decision, Rejection) and decision.reason is Reason.AUDIT_UNAVAILABLE:
            return self._charged(agency, decision, now), answered
        if not isinstance(decision, Admitted):
            return decision, answered
        result, emitted = answered
        operation = decision.operation
        granted, exceeded = self._admission.spend(decision, now, operation.spent(result))
        if granted:
            self._admitted[decision.agency.id] += granted
            self._spenders[decision.agency.id] = decision.agency
        if exceeded is None:
            # An answer only the record could refuse (SELF's NOT_BOUND) is a refusal, its store read spent.
            return (result, (None, [])) if isinstance(result, Rejection) else (decision, answered)
        partial = None if isinstance(result, Rejection) else operation.within_quota(result, granted, exceeded)
        return (exceeded, answered) if partial is None else (decision, (partial, emitted))

    def _charged(self, agency_id: str, refusal: Rejection, now: datetime) -> Rejection:
        """The gate's refusal once it spent one of the agency's quota, or the quota's refusal."""
        agency = self._directory.get(agency_id)
        if agency is None:
            return refusal
        exceeded = self._admission.charge(agency, now)
        if exceeded is None:
            self._admitted[agency.id] += 1
            self._spenders[agency.id] = agency
        return exceeded or refusal

    async def _citizens(self, decisions: Sequence[_Decision]) -> Mapping[str, Citizen]:
        """The records every admitted query of the batch names, in one store call."""
        ids = sorted(
            {i for d in decisions if isinstance(d, Admitted) for i in d.operation.personal_ids(d.query)}
        )
        if not ids:
            return {}
        started = time.perf_counter()
        citizens = await self._store.get_many(ids)
        self._metrics.store_seconds.observe(time.perf_counter() - started)
        return citizens

    async def _result(
        self,
        decoded: _Decoded,
        decision: _Decision,
        citizens: Mapping[str, Citizen],
        view: CatalogueView,
        now: datetime,
    ) -> tuple[object, list[Emitted]]:
        """The operation's result, and the records its answer adds to the response's transaction."""
        if not isinstance(decision, Admitted):
            return None, []
        asking = Asking(
            decision.purpose,
            view,
            citizens,
            self._store,
            decoded.agency,
            decoded.exchange_id,
            self._tickets,
            now,
        )
        return await decision.operation.answer(decision.query, asking), asking.emitted

    def _dead(self, record: Incoming, code: str, detail: str) -> Outgoing:
        self._metrics.dead_letters.labels(code).inc()
        return self._dead_letters.outgoing(self._names.dead_letters, record, code, detail)

    def _answer(
        self, decoded: _Decoded, decision: _Decision, answered: tuple[object, list[Emitted]], now: datetime
    ) -> Outgoing:
        result, emitted = answered
        if isinstance(decision, _StoreFailed):
            return self._dead(decoded.record, "STORE_FAILED", decision.detail)
        request = decoded.request
        where = {"exchange_id": decoded.exchange_id, "agency": decoded.agency}
        if isinstance(decision, Rejection):
            response = reject(request, decision, now, **where)
        else:
            response = self._sealed(request, decision, result, now, where)
        self._count(decoded.agency, response)
        trace = trace_context(self._tracer, decoded.record, response, now)
        _log_answer(response, trace)
        if isinstance(decision, Admitted):
            self._timing.append((decoded.agency, request.sent_at, decoded.received_at))
            if response.status is ResponseStatus.OK:
                self._count_verdicts(decoded.agency, decision, result)
        return Outgoing(
            # The identity is the topic's: answer on the response topic of the agency that sent it.
            self._names.response(decoded.agency),
            request.request_id.encode(),
            self._codec.encode_response(response),
            response_headers(response, trace),
            # Only an answered exchange writes what its answer adds (a quota refusal after it does not).
            also=tuple(Outgoing(e.topic, e.key, e.value) for e in emitted)
            if isinstance(decision, Admitted)
            else (),
        )

    def _sealed(
        self, request: Request, decision: Admitted, result: object, now: datetime, where: dict[str, str]
    ) -> Response:
        """The OK response, its values sealed to the agency's key as its operation says; never in clear."""
        response = respond(request, result, now, exchange_id=where["exchange_id"], agency=where["agency"])
        if not isinstance(decision.operation, SealedOperation):
            return response
        key = decision.agency.answer_key
        if key is None:  # admission refuses this (NO_ANSWER_KEY); should it ever not, nothing goes in clear
            refusal = Rejection(Reason.NO_ANSWER_KEY, f"{decision.operation.name} answers are sealed")
            return reject(request, refusal, now, exchange_id=where["exchange_id"], agency=where["agency"])
        return seal(response, key, self._codec, decision.operation)

    def _count(self, agency: str, response: Response) -> None:
        # Label values come from closed sets only: registered agencies, known operations, our codes.
        operation = operation_label(response.operation, self._names_of)
        reason = response.reason_code or NO_REASON
        self._answered[agency, operation, response.status.value, reason] += 1

    def _count_verdicts(self, agency: str, decision: Admitted, result: object) -> None:
        operation = decision.operation
        for verdict, count in operation.verdicts(result).items():
            self._verdicts[agency, operation.name, verdict] += count

    def _flush_counts(self) -> None:
        """Add the batch's tallies to the metrics: one ``labels`` lookup per label set, not per request."""
        metrics, now = self._metrics, datetime.now(UTC)
        for agency, count in self._admitted.items():
            metrics.quota_used.labels(agency).inc(count)
        for spender in self._spenders.values():
            metrics.quota_used_today.labels(spender.id).set(self._admission.quota_used(spender, now))
            metrics.quota_per_day.labels(spender.id).set(spender.quota.per_day)
        for answered, count in self._answered.items():
            metrics.requests.labels(*answered).inc(count)
        for verdict, count in self._verdicts.items():
            metrics.answers.labels(*verdict).inc(count)
        self._admitted.clear()
        self._spenders.clear()
        self._answered.clear()
        self._verdicts.clear()


def response_headers(response: Response, trace: Context | None) -> tuple[tuple[str, bytes], ...]:
    """Correlation, content type, CloudEvents binary-mode attributes and the trace the answer continues.

    Of the request's headers only its W3C trace context counts (``dancu_bus.tracing``, bounded): the
    answer carries its trace id, nothing else the agency sent, whatever its size.
    """
    headers = [
        ("correlation_id", response.request_id.encode()),
        ("content-type", b"application/vnd.apache.avro+binary; single-object"),
        ("ce_specversion", b"1.0"),
        ("ce_id", response.exchange_id.encode()),
        ("ce_type", b"vn.dancu.Response"),
        ("ce_source", b"dancu-bus/resolver"),
    ]
    return tuple(headers + (tracing.inject(trace) if trace is not None else []))


def trace_context(tracer: Tracer, record: Incoming, response: Response, started: datetime) -> Context | None:
    """The trace the answer to ``record`` continues: the request's, through the resolver's span; or None.

    The span (CONSUMER, a child of the request's context, a root without one) is recorded only when
    the process has an OpenTelemetry SDK (``DANCU_TRACING__OTLP_ENDPOINT``); otherwise the no-op API
    hands the request's own span back, and the answer names the caller's span as its parent.
    """
    parent = tracing.extract(record.headers) or Context()  # never the ambient context of the process
    span = tracer.start_span(
        f"process {record.topic}", parent, SpanKind.CONSUMER, start_time=_nanoseconds(started)
    )
    if span.is_recording():
        span.set_attributes(_span_attributes(record, response))
    span.end()
    return set_span_in_context(span, parent) if span.get_span_context().is_valid else None


def _log_answer(response: Response, trace: Context | None) -> None:
    """A debug line per answer, with the request's fields for JSON logs; nothing built without ``--debug``."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    fields = {
        "request_id": shown(response.request_id, 64),
        "agency": response.agency,
        "operation": shown(response.operation, 64),
        "trace_id": tracing.trace_id(trace),
    }
    outcome = response.reason_code or response.status.value
    log.debug("answered %s as %s: %s", fields["operation"], response.exchange_id, outcome, extra=fields)


def _span_attributes(record: Incoming, response: Response) -> dict[str, str | int]:
    """What a span says of an exchange: where it was read and how it was answered; never personal data."""
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "dancu.exchange_id": response.exchange_id,
        "dancu.operation": shown(response.operation, 64),
        "dancu.status": response.status.value,
        **({"dancu.reason": response.reason_code} if response.reason_code else {}),
    }


def _nanoseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000) * 1_000
