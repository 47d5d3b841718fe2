"""Builds request envelopes for the SDK. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dancu_bus.contracts import Query, Request
from dancu_bus.operations import OPERATIONS, Operations

__all__ = ["Context", "build_request"]


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks and why: the officer, the case, the registered purpose and its legal basis."""

    officer_id: str
    case_no: str
    purpose_code: str
    legal_basis: str
    # An investigation's mark (its purpose must be registered to allow it): its requests stay out of
    # the citizen's access history until this moment, on this legal basis.
    hidden_until: datetime | None = None
    hiding_legal_basis: str | None = None


def build_request(
    agency: str,
    context: Context,
    query: Query,
    ttl_s: float,
    operations: Operations = OPERATIONS,
    now: datetime | None = None,
) -> Request:
    """A new request with a fresh id, valid for ``ttl_s`` seconds; UnknownOperation if none owns it."""
    sent_at = now or datetime.now(UTC)
    operation = operations.for_query(query)
    return Request(
        request_id=str(uuid.uuid4()),
        agency=agency,
        officer_id=context.officer_id,
        case_no=context.case_no,
        purpose_code=context.purpose_code,
        legal_basis=context.legal_basis,
        operation=operation.name,
        sent_at=sent_at,
        expires_at=sent_at + timedelta(seconds=ttl_s),
        body=query,
        hidden_until=context.hidden_until,
        hiding_legal_basis=context.hiding_legal_basis,
    )
