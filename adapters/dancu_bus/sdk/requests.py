"""Builds request envelopes for the SDK. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dancu_bus.contracts import LookupQuery, Operation, Request, VerifyQuery

__all__ = ["Context", "build_request"]


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks and why: the officer, the case, the registered purpose and its legal basis."""

    officer_id: str
    case_no: str
    purpose_code: str
    legal_basis: str


def build_request(
    agency: str, context: Context, query: VerifyQuery | LookupQuery, ttl_s: float, now: datetime | None = None
) -> Request:
    """A new request with a fresh id, valid for ``ttl_s`` seconds."""
    sent_at = now or datetime.now(UTC)
    operation = Operation.VERIFY if isinstance(query, VerifyQuery) else Operation.LOOKUP
    return Request(
        request_id=str(uuid.uuid4()),
        agency=agency,
        officer_id=context.officer_id,
        case_no=context.case_no,
        purpose_code=context.purpose_code,
        legal_basis=context.legal_basis,
        operation=operation.value,
        sent_at=sent_at,
        expires_at=sent_at + timedelta(seconds=ttl_s),
        body=query,
    )
