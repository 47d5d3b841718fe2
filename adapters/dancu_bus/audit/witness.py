"""Pairs each request with its response and makes the audit record of the exchange. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dancu_bus.contracts import AuditRecord, Request, Response
from dancu_bus.transport.records import TopicPartition

__all__ = ["Pairing", "SeenRequest", "SeenResponse", "audit_record", "broker_time", "unanswered_record"]

UNANSWERED = "UNANSWERED"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A producer sets a record's timestamp freely; beyond these a datetime cannot hold it.
_EARLIEST_MS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_LATEST_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as read from its agency's topic, with where it was."""

    agency: str
    request: Request
    tp: TopicPartition
    offset: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class SeenResponse:
    """A response as read from its agency's topic, with where it was."""

    agency: str
    response: Response
    tp: TopicPartition
    offset: int


def audit_record(seen: SeenRequest, response: Response) -> AuditRecord:
    """The record of a whole exchange: who asked what about whom, and what was disclosed."""
    return _record(
        seen, response.status.value, response.reason_code, response.fields_disclosed, response.answered_at
    )


def unanswered_record(seen: SeenRequest, now: datetime) -> AuditRecord:
    """The record of a request that got no response in time; a later response replaces it."""
    return _record(seen, UNANSWERED, None, (), now)


def _record(
    seen: SeenRequest, status: str, reason: str | None, disclosed: tuple[str, ...], answered_at: datetime
) -> AuditRecord:
    request = seen.request
    return AuditRecord(
        request_id=request.request_id,
        received_at=broker_time(seen.timestamp_ms),
        agency=seen.agency,
        claimed_agency=request.agency,
        officer_id=request.officer_id,
        case_no=request.case_no,
        purpose_code=request.purpose_code,
        legal_basis=request.legal_basis,
        operation=request.operation,
        personal_id=request.personal_id,
        status=status,
        reason_code=reason,
        fields_disclosed=disclosed,
        answered_at=answered_at,
        request_topic=seen.tp.topic,
        request_partition=seen.tp.partition,
        request_offset=seen.offset,
    )


def broker_time(timestamp_ms: int) -> datetime:
    """A record's broker timestamp as a datetime, clamped to what a datetime can hold."""
    return _EPOCH + timedelta(milliseconds=min(max(timestamp_ms, _EARLIEST_MS), _LATEST_MS))


_Key = tuple[str, str]


class Pairing:
    """Halves of exchanges waiting for each other, keyed by (agency, request id), with when they came."""

    def __init__(self) -> None:
        self._requests: dict[_Key, tuple[SeenRequest, datetime]] = {}
        self._responses: dict[_Key, tuple[SeenResponse, datetime]] = {}

    def __len__(self) -> int:
        return len(self._requests) + len(self._responses)

    def add_request(self, seen: SeenRequest, now: datetime) -> AuditRecord | None:
        """The exchange's record if its response was already seen; else remember the request."""
        key = (seen.agency, seen.request.request_id)
        waiting = self._responses.pop(key, None)
        if waiting is not None:
            return audit_record(seen, waiting[0].response)
        self._requests[key] = (seen, now)
        return None

    def add_response(self, seen: SeenResponse, now: datetime) -> AuditRecord | None:
        """The exchange's record if its request was already seen; else remember the response."""
        key = (seen.agency, seen.response.request_id)
        waiting = self._requests.pop(key, None)
        if waiting is not None:
            return audit_record(waiting[0], seen.response)
        self._responses[key] = (seen, now)
        return None

    def expire(self, now: datetime, after_s: float) -> tuple[list[AuditRecord], int]:
        """Drop halves older than ``after_s``: UNANSWERED records, and how many lone responses went."""
        old = [k for k, (_, at) in self._requests.items() if (now - at).total_seconds() > after_s]
        records = [unanswered_record(self._requests.pop(k)[0], now) for k in old]
        lone = [k for k, (_, at) in self._responses.items() if (now - at).total_seconds() > after_s]
        for key in lone:
            del self._responses[key]
        return records, len(lone)

    def committable(self, consumed: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Per partition, the next offset consumed, held back to the oldest half still waiting there."""
        floor = dict(consumed)
        waiting = [(s.tp, s.offset) for s, _ in self._requests.values()]
        waiting += [(s.tp, s.offset) for s, _ in self._responses.values()]
        for tp, offset in waiting:
            if tp in floor:
                floor[tp] = min(floor[tp], offset)
        return floor

    def forget(self, partitions: Collection[TopicPartition]) -> None:
        """Drop halves from partitions no longer ours; their new owner re-reads them."""
        gone = set(partitions)
        for key in [k for k, (seen, _) in self._requests.items() if seen.tp in gone]:
            del self._requests[key]
        for key in [k for k, (seen, _) in self._responses.items() if seen.tp in gone]:
            del self._responses[key]
