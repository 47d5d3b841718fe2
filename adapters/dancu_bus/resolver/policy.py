"""May this agency ask this? Pure admission of a decoded request against the agency directory.

The checks run in a fixed order and the first that fails is the answer: the agency and its status,
the envelope (agency named, deadline, clock, operation, officer, case, purpose, legal basis), then
the body (its shape, the personal id, what a VERIFY compares, the purpose's scope, catalogue codes).
Every string the agency sent is bounded and must be printable before anything else reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dancu_bus import personal_id
from dancu_bus.agencies import Agency, AgencyDirectory, AgencyStatus, Purpose
from dancu_bus.catalogues import CatalogueView, check_query, packaged_view
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    SEALED_OPERATIONS,
    LookupQuery,
    Operation,
    Request,
    VerifyQuery,
)
from dancu_bus.reasons import Reason
from dancu_bus.text import folded, printable, quoted

__all__ = ["SERVED_OPERATIONS", "TEXT_LIMITS", "AdmissionLimits", "Admitted", "Rejection", "admit"]

# Operations this resolver answers; the others are known to the contract but served elsewhere later.
SERVED_OPERATIONS = frozenset({Operation.VERIFY, Operation.LOOKUP})
_BODY_OF = {Operation.VERIFY: VerifyQuery, Operation.LOOKUP: LookupQuery}
_STATUS_REASON = {
    AgencyStatus.ONBOARDING: Reason.UNKNOWN_AGENCY,  # not connected until its account is issued (step 10)
    AgencyStatus.SUSPENDED: Reason.SUSPENDED,
    AgencyStatus.TERMINATED: Reason.TERMINATED,
}
# The longest value each envelope string may have, in characters (docs/CONTRACT.md repeats them).
TEXT_LIMITS = {"officer_id": 64, "case_no": 100, "purpose_code": 64, "legal_basis": 300, "operation": 32}


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """How far a request's clock may be from the broker's, and how long it may stay valid."""

    max_clock_skew_s: float = 300.0
    max_lifetime_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refusal with its reason and a specific detail (which field, which value)."""

    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request that may be answered, with the purpose whose scope bounds the answer."""

    agency: Agency
    purpose: Purpose
    query: VerifyQuery | LookupQuery


@dataclass(frozen=True, slots=True)
class _Asked:
    """A request with what it is checked against: its agency, the broker's time of it, and now."""

    request: Request
    agency: Agency
    topic_agency: str
    received_at: datetime
    now: datetime
    limits: AdmissionLimits


def admit(
    request: Request,
    topic_agency: str,
    directory: AgencyDirectory,
    now: datetime,
    catalogues: CatalogueView | None = None,
    *,
    received_at: datetime | None = None,
    limits: AdmissionLimits = AdmissionLimits(),
) -> Admitted | Rejection:
    """Admit or reject a request that arrived on ``topic_agency``'s request topic.

    ``received_at`` is the broker's time of the record (``now`` when unknown); codes are checked
    against ``catalogues``, the packaged catalogues when none are given.
    """
    agency = directory.get(topic_agency)
    if agency is None:
        return Rejection(Reason.UNKNOWN_AGENCY, quoted(topic_agency))
    asked = _Asked(request, agency, topic_agency, received_at or now, now, limits)
    for check in _ENVELOPE:
        refusal = check(asked)
        if refusal is not None:
            return refusal
    operation = Operation(request.operation)
    purpose = agency.purpose_for(request.purpose_code, operation)
    if purpose is None:
        return Rejection(Reason.PURPOSE_NOT_REGISTERED, f"{quoted(request.purpose_code)} for {operation}")
    if folded(request.legal_basis) != folded(purpose.legal_basis):
        detail = f"{quoted(request.legal_basis, 120)}; registered: {purpose.legal_basis!r}"
        return Rejection(Reason.LEGAL_BASIS_MISMATCH, detail)
    codes = catalogues if catalogues is not None else packaged_view()
    return _check_body(request.body, operation, purpose, codes) or Admitted(agency, purpose, _query(request))


def _agency_named(asked: _Asked) -> Rejection | None:
    claimed = asked.request.agency
    if claimed != asked.topic_agency:
        return Rejection(
            Reason.AGENCY_MISMATCH, f"body says {quoted(claimed)}, topic is {asked.topic_agency!r}"
        )
    return None


def _status(asked: _Asked) -> Rejection | None:
    agency = asked.agency
    if agency.status in _STATUS_REASON:
        detail = f"{agency.id}: {agency.status_reason}" if agency.status_reason else agency.id
        return Rejection(_STATUS_REASON[agency.status], detail)
    return None


def _deadline(asked: _Asked) -> Rejection | None:
    expires_at = asked.request.expires_at
    if expires_at <= asked.now:
        return Rejection(Reason.EXPIRED, f"expired at {expires_at.isoformat()}")
    lifetime = expires_at - asked.received_at
    if lifetime > timedelta(seconds=asked.limits.max_lifetime_s):
        detail = f"valid for {lifetime.total_seconds():.0f} s, at most {asked.limits.max_lifetime_s:g} s"
        return Rejection(Reason.LIFETIME_TOO_LONG, detail)
    return None


def _clock(asked: _Asked) -> Rejection | None:
    skew = (asked.request.sent_at - asked.received_at).total_seconds()
    if abs(skew) > asked.limits.max_clock_skew_s:
        side = "after" if skew > 0 else "before"
        detail = (
            f"sent_at {asked.request.sent_at.isoformat()} is {abs(skew):.0f} s {side} the broker received it "
            f"({asked.received_at.isoformat()}); at most {asked.limits.max_clock_skew_s:g} s"
        )
        return Rejection(Reason.CLOCK_SKEW, detail)
    return None


def _operation(asked: _Asked) -> Rejection | None:
    operation = asked.request.operation
    if operation not in Operation.__members__:
        return Rejection(Reason.UNKNOWN_OPERATION, quoted(operation, TEXT_LIMITS["operation"]))
    if Operation(operation) not in asked.agency.operations:
        return Rejection(Reason.OPERATION_NOT_ALLOWED, operation)
    if Operation(operation) not in SERVED_OPERATIONS:
        return Rejection(Reason.OPERATION_NOT_SUPPORTED, operation)
    if Operation(operation) in SEALED_OPERATIONS and asked.agency.answer_key is None:
        # Personal data is never answered in clear: without a key to seal it to, it is not answered.
        return Rejection(Reason.NO_ANSWER_KEY, f"{operation} answers are sealed to the agency's key")
    return None


def _texts(asked: _Asked) -> Rejection | None:
    request = asked.request
    fields = (
        ("officer_id", request.officer_id, Reason.INVALID_OFFICER_ID, True),
        ("case_no", request.case_no, Reason.INVALID_CASE_NO, True),
        ("purpose_code", request.purpose_code, Reason.INVALID_PURPOSE_CODE, False),
        ("legal_basis", request.legal_basis, Reason.LEGAL_BASIS_MISMATCH, False),
    )
    for name, value, reason, required in fields:
        problem = _text_problem(value, TEXT_LIMITS[name], required)
        if problem is not None:
            return Rejection(reason, f"{name} {problem}")
    if not request.purpose_code.strip():
        return Rejection(Reason.PURPOSE_MISSING)
    return None


def _text_problem(value: str, limit: int, required: bool) -> str | None:
    if required and not value.strip():
        return "is empty"
    if len(value) > limit:
        return f"has {len(value)} characters, at most {limit}"
    if not printable(value):
        return f"has characters that are not allowed: {quoted(value)}"
    return None


# In this order; the first refusal is the answer.
_ENVELOPE: tuple[Callable[[_Asked], Rejection | None], ...] = (
    _agency_named,
    _status,
    _deadline,
    _clock,
    _operation,
    _texts,
)


def _check_body(
    body: object, operation: Operation, purpose: Purpose, catalogues: CatalogueView
) -> Rejection | None:
    if not isinstance(body, _BODY_OF[operation]):
        return Rejection(Reason.MALFORMED_REQUEST, f"{operation} needs a {_BODY_OF[operation].__name__} body")
    assert isinstance(body, VerifyQuery | LookupQuery)
    try:
        personal_id.parse(body.personal_id)
    except personal_id.PersonalIdError as exc:
        return Rejection(Reason.INVALID_PERSONAL_ID, exc.reason)
    if isinstance(body, LookupQuery):
        return _check_lookup(body, purpose, catalogues)
    supplied = tuple(body.supplied())
    if not supplied:
        # Without a field to compare, the only thing an answer could say is whether the person exists.
        return Rejection(Reason.NOTHING_TO_VERIFY, "supply at least one field besides the personal id")
    return _check_scope(supplied, purpose) or _check_codes(body, catalogues)


def _check_lookup(query: LookupQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
    unknown = [f for f in query.fields if f not in DISCLOSABLE_FIELDS]
    if unknown:
        return Rejection(Reason.UNKNOWN_FIELD, ", ".join(quoted(f, 32) for f in sorted(unknown)[:5]))
    return _check_codes(query, catalogues) or _check_scope(query.fields, purpose)


def _check_codes(query: VerifyQuery | LookupQuery, catalogues: CatalogueView) -> Rejection | None:
    """INVALID_CODE naming the field and the scheme of the first code its catalogue lacks."""
    problem = check_query(query, catalogues)
    return Rejection(Reason.INVALID_CODE, problem.message) if problem is not None else None


def _check_scope(fields: tuple[str, ...], purpose: Purpose) -> Rejection | None:
    outside = sorted(set(fields) - purpose.fields)
    return Rejection(Reason.FIELD_OUT_OF_SCOPE, ", ".join(outside)) if outside else None


def _query(request: Request) -> VerifyQuery | LookupQuery:
    assert request.body is not None
    return request.body
