"""Pairs each request record with its response and makes the audit record of the exchange. Pure.

An exchange is one request record (``dancu_bus.exchanges``): the audit pairs by exchange id, which
the response carries, never by the request id the agency chose. What waits for its other half is
an ``AuditPending``; ``Pairing`` keeps those of one audit partition and says which changed since the
last batch, so that the worker writes them (and tombstones the finished ones) in the batch's
transaction: after a restart the halves still waiting are exactly those the committed offsets left.

A request of several items (``Itemized``: VERIFY_BATCH) is paired as one record, and recorded as one
exchange per item (``exchanges.item_exchange_id``), each with its item's personal id and the status
its answer gives that item; a whole refusal gives every item the refusal. What the items are is the
request's alone, so ``audit verify`` names every exchange a request record should have made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dancu_bus.contracts import (
    AuditPending,
    AuditRecord,
    Itemized,
    ItemizedResult,
    ItemStatus,
    Request,
    Response,
    ResponseHalf,
    Searching,
)
from dancu_bus.exchanges import item_exchange_id
from dancu_bus.text import bounded
from dancu_bus.transport.records import TopicPartition

__all__ = [
    "PENDING",
    "UNANSWERED",
    "Pairing",
    "SeenRequest",
    "audit_record",
    "audit_records",
    "exchange_ids",
    "request_half",
    "request_items",
    "response_half",
]

PENDING = "PENDING"
UNANSWERED = "UNANSWERED"
# Text the agency sent is kept whole up to this many characters (more than the resolver accepts),
# then cut with its length and hash: an audit record stays small whatever the request held.
_TEXT = 256
_ID = 64


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request record as read from its agency's topic: the exchange it is, and when it arrived."""

    agency: str
    exchange_id: str
    request: Request
    tp: TopicPartition
    offset: int
    received_at: datetime
    trace_id: str | None = None  # of the record's traceparent header (``dancu_bus.tracing``)
    # What the exchange costs, as its operation states it (``Operation.fee``: SELF's 0); None otherwise.
    fee: int | None = None


def request_half(seen: SeenRequest) -> AuditRecord:
    """The exchange's record as far as its request tells it (status PENDING), every text bounded."""
    request = seen.request
    personal_id = request.personal_id
    return AuditRecord(
        exchange_id=seen.exchange_id,
        request_id=request.request_id,
        received_at=seen.received_at,
        agency=seen.agency,
        claimed_agency=bounded(request.agency, _ID),
        officer_id=bounded(request.officer_id, _TEXT),
        case_no=bounded(request.case_no, _TEXT),
        purpose_code=bounded(request.purpose_code, _TEXT),
        legal_basis=bounded(request.legal_basis, _TEXT),
        operation=bounded(request.operation, _ID),
        personal_id=None if personal_id is None else bounded(personal_id, _ID),
        status=PENDING,
        reason_code=None,
        fields_disclosed=(),
        answered_at=seen.received_at,
        request_topic=seen.tp.topic,
        request_partition=seen.tp.partition,
        request_offset=seen.offset,
        criteria=request.body.criteria if isinstance(request.body, Searching) else (),
        trace_id=seen.trace_id,
        fee=seen.fee,
        hidden_until=request.hidden_until,
        hiding_legal_basis=None if (basis := request.hiding_legal_basis) is None else bounded(basis, _TEXT),
    )


def request_items(request: Request) -> tuple[str, ...]:
    """The personal ids of an itemized request's items, each bounded; empty for any other request."""
    body = request.body
    return tuple(bounded(i, _ID) for i in body.item_personal_ids) if isinstance(body, Itemized) else ()


def exchange_ids(exchange: str, request: Request) -> tuple[str, ...]:
    """The exchanges request record ``exchange`` is: one per item of an itemized request, else itself."""
    count = len(request_items(request))
    return tuple(item_exchange_id(exchange, i) for i in range(count)) if count else (exchange,)


def response_half(agency: str, response: Response) -> ResponseHalf:
    """What the exchange's record takes from ``response``, read on ``agency``'s response topic."""
    result = response.result
    return ResponseHalf(
        agency=agency,
        request_id=response.request_id,
        status=response.status.value,
        reason_code=response.reason_code,
        fields_disclosed=response.fields_disclosed,
        answered_at=response.answered_at,
        items=result.item_statuses if isinstance(result, ItemizedResult) else (),
    )


def audit_record(request: AuditRecord, response: ResponseHalf) -> AuditRecord:
    """The record of a whole exchange: who asked what about whom, and what was disclosed."""
    return dataclasses.replace(
        request,
        status=response.status,
        reason_code=response.reason_code,
        fields_disclosed=response.fields_disclosed,
        answered_at=response.answered_at,
    )


def audit_records(request: AuditRecord, items: tuple[str, ...], response: ResponseHalf) -> list[AuditRecord]:
    """The records of a whole request record: one per item of an itemized request, else one.

    Each item takes its own status from an answer with a status per item; from any other answer (a
    refusal of the whole batch) the answer's.
    """
    whole = audit_record(request, response)
    if not items:
        return [whole]
    statuses = response.items if len(response.items) == len(items) else None
    return [
        _item(whole, i, personal_id, None if statuses is None else statuses[i])
        for i, personal_id in enumerate(items)
    ]


def _item(whole: AuditRecord, index: int, personal_id: str, status: ItemStatus | None) -> AuditRecord:
    exchange = item_exchange_id(whole.exchange_id, index)
    if status is None:
        return dataclasses.replace(whole, exchange_id=exchange, personal_id=personal_id)
    return dataclasses.replace(
        whole,
        exchange_id=exchange,
        personal_id=personal_id,
        status=status.status,
        reason_code=None if status.reason_code is None else bounded(status.reason_code, _ID),
    )


def _unanswered(half: AuditPending, now: datetime) -> list[AuditRecord]:
    assert half.request is not None
    unanswered = dataclasses.replace(half.request, status=UNANSWERED, answered_at=now)
    if not half.items:
        return [unanswered]
    return [_item(unanswered, i, personal_id, None) for i, personal_id in enumerate(half.items)]


class Pairing:
    """The halves of one audit partition's exchanges waiting for each other, by exchange id."""

    def __init__(self) -> None:
        self._waiting: dict[str, AuditPending] = {}
        self._stored: set[str] = set()  # exchange ids whose half is in the state topic
        self._changed: set[str] = set()

    def __len__(self) -> int:
        return len(self._waiting)

    def restore(self, halves: Iterable[AuditPending | str]) -> None:
        """Take up the state topic's records in order: a half, or (a tombstone) the id of a finished one."""
        for half in halves:
            if isinstance(half, str):
                self._waiting.pop(half, None)
                self._stored.discard(half)
            else:
                self._waiting[half.exchange_id] = half
                self._stored.add(half.exchange_id)

    def add_request(
        self, record: AuditRecord, now: datetime, items: tuple[str, ...] = ()
    ) -> list[AuditRecord]:
        """The records of the exchange (of each item) if its response was waiting; else the request waits."""
        waiting = self._waiting.get(record.exchange_id)
        if waiting is not None and waiting.response is not None:
            self._finish(record.exchange_id)
            return audit_records(record, items, waiting.response)
        if waiting is None:  # a request half already waiting is this very record, read again
            self._put(AuditPending(record.exchange_id, now, request=record, items=items))
        return []

    def add_response(self, exchange_id: str, half: ResponseHalf, now: datetime) -> list[AuditRecord]:
        """The records of the exchange if its request was waiting (or already recorded UNANSWERED)."""
        waiting = self._waiting.get(exchange_id)
        if waiting is not None and waiting.request is not None:
            self._finish(exchange_id)
            return audit_records(waiting.request, waiting.items, half)
        if waiting is None:
            self._put(AuditPending(exchange_id, now, response=half))
        return []

    def expire(self, now: datetime, unanswered_after_s: float, forget_after_s: float) -> list[AuditRecord]:
        """UNANSWERED records of requests waiting too long (each kept for a late answer); halves forgotten.

        A request half whose UNANSWERED record is written waits on, until ``forget_after_s``: a late
        response still gives the exchange its true record, which then supersedes the UNANSWERED one.
        """
        unanswered, forget = timedelta(seconds=unanswered_after_s), timedelta(seconds=forget_after_s)
        records: list[AuditRecord] = []
        for exchange, half in list(self._waiting.items()):
            age = now - half.seen_at
            if age > forget:
                self._finish(exchange)
            elif half.request is not None and not half.unanswered_recorded and age > unanswered:
                records.extend(_unanswered(half, now))
                self._put(dataclasses.replace(half, unanswered_recorded=True))
        return records

    def changes(self) -> tuple[list[AuditPending], list[str]]:
        """Since the last call: halves to write to the state topic, and exchange ids to tombstone there."""
        upserts = [self._waiting[e] for e in sorted(self._changed) if e in self._waiting]
        deletes = [e for e in sorted(self._changed) if e not in self._waiting and e in self._stored]
        self._stored.update(h.exchange_id for h in upserts)
        self._stored.difference_update(deletes)
        self._changed.clear()
        return upserts, deletes

    def requests_waiting(self) -> int:
        """Request halves not yet recorded at all."""
        return sum(1 for h in self._waiting.values() if h.request is not None and not h.unanswered_recorded)

    def oldest(self) -> datetime | None:
        """When the oldest half still waiting was first read."""
        return min((h.seen_at for h in self._waiting.values()), default=None)

    def _put(self, half: AuditPending) -> None:
        self._waiting[half.exchange_id] = half
        self._changed.add(half.exchange_id)

    def _finish(self, exchange_id: str) -> None:
        self._waiting.pop(exchange_id, None)
        self._changed.add(exchange_id)
