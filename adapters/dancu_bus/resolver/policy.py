"""May this agency ask this? The admission pipeline, in one place and in one order.

Each request record passes these stages in order, and the first that refuses is the answer:

 1. record size        REQUEST_TOO_LARGE (key, value and headers counted)  ``Admission.record``
 2. decodability       a dead letter, not an answer (the codec)             the handler
 3. agency             UNKNOWN_AGENCY, AGENCY_MISMATCH                      ``Admission.check``
 4. status             SUSPENDED, TERMINATED (ONBOARDING: UNKNOWN_AGENCY)
    envelope           EXPIRED, LIFETIME_TOO_LONG, CLOCK_SKEW
 5. operation          UNKNOWN_OPERATION (not registered), OPERATION_NOT_ALLOWED (not granted, or
                       not ``Operation.granted_to`` the agency), NO_ANSWER_KEY; an operation is
                       granted, and has purposes, as ``Operation.grant`` (VERIFY_BATCH as VERIFY)
    texts              INVALID_OFFICER_ID, INVALID_CASE_NO, INVALID_PURPOSE_CODE, PURPOSE_MISSING
 6. purpose            PURPOSE_NOT_REGISTERED (for this operation)
 7. legal basis        LEGAL_BASIS_MISMATCH
    hiding             HIDING_NOT_ALLOWED (the purpose may not hide from the citizen),
                       INVALID_HIDDEN_UNTIL, INVALID_HIDING_LEGAL_BASIS
 8. body, scope, codes MALFORMED_REQUEST, then the operation's own checks (``Operation.check``)
 9. duplicates         DUPLICATE_REQUEST (the same request id within the window)  ``Admission.request``
10. quota              QUOTA_EXCEEDED, once the store has answered    ``Admission.spend``
                       (an itemized answer spends one per answered item: the items beyond refused)

Every string the agency sent is bounded and must be printable before anything else reads it. The
stages before 9 are pure functions of the request, the directory and the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dancu_bus.agencies import Agency, AgencyDirectory, AgencyStatus, Purpose
from dancu_bus.catalogues import CatalogueView, packaged_view
from dancu_bus.contracts import Request
from dancu_bus.operations import OPERATIONS, AnyOperation, Operations
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.resolver.duplicates import DuplicateWindow
from dancu_bus.resolver.quota import QuotaBook
from dancu_bus.text import folded, printable, quoted
from dancu_bus.timestamps import VIETNAM  # daily quotas reset at midnight in Vietnam

__all__ = ["TEXT_LIMITS", "Admission", "AdmissionLimits", "Admitted", "Rejection"]

_STATUS_REASON = {
    AgencyStatus.ONBOARDING: Reason.UNKNOWN_AGENCY,  # not connected until its account is issued (step 10)
    AgencyStatus.SUSPENDED: Reason.SUSPENDED,
    AgencyStatus.TERMINATED: Reason.TERMINATED,
}
# The longest value each envelope string may have, in characters (docs/CONTRACT.md repeats them).
TEXT_LIMITS = {
    "officer_id": 64,
    "case_no": 100,
    "purpose_code": 64,
    "legal_basis": 300,
    "operation": 32,
    "hiding_legal_basis": 300,
}


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """The bounds admission holds requests to: size, clock, lifetime, and the duplicate window."""

    max_clock_skew_s: float = 300.0
    max_lifetime_s: float = 3600.0
    max_request_bytes: int = 1024 * 1024
    duplicate_window_s: float = 300.0
    # How far ahead of the record's broker time a request may be hidden from the citizen (a year and a day).
    max_hiding_days: int = 366


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request that may be answered: its operation, its query and the purpose that bounds the answer."""

    agency: Agency
    purpose: Purpose
    operation: AnyOperation
    query: Any


@dataclass(frozen=True, slots=True)
class _Asked:
    """A request with what it is checked against: its agency, the broker's time of it, and now."""

    request: Request
    agency: Agency
    topic_agency: str
    received_at: datetime
    now: datetime
    limits: AdmissionLimits
    operations: Operations


class Admission:
    """The pipeline with its state: the duplicate window and the quota buckets of the agencies."""

    def __init__(
        self,
        directory: AgencyDirectory,
        operations: Operations = OPERATIONS,
        limits: AdmissionLimits = AdmissionLimits(),
    ) -> None:
        self._directory = directory
        self._operations = operations
        self._limits = limits
        self._duplicates = DuplicateWindow(limits.duplicate_window_s)
        self._quotas = QuotaBook()

    def record(self, size: int) -> Rejection | None:
        """Stage 1: the whole record's size."""
        limit = self._limits.max_request_bytes
        if size > limit:
            return Rejection(Reason.REQUEST_TOO_LARGE, f"{size} bytes with key and headers, at most {limit}")
        return None

    def check(
        self,
        request: Request,
        topic_agency: str,
        now: datetime,
        catalogues: CatalogueView | None = None,
        received_at: datetime | None = None,
    ) -> Admitted | Rejection:
        """Stages 3 to 8, pure: admit or reject a request that arrived on ``topic_agency``'s request topic.

        ``received_at`` is the broker's time of the record (``now`` when unknown); codes are checked
        against ``catalogues``, the packaged catalogues when none are given.
        """
        agency = self._directory.get(topic_agency)
        if agency is None:
            return Rejection(Reason.UNKNOWN_AGENCY, quoted(topic_agency))
        asked = _Asked(request, agency, topic_agency, received_at or now, now, self._limits, self._operations)
        for check in _ENVELOPE:
            refusal = check(asked)
            if refusal is not None:
                return refusal
        operation = self._operations.of(request.operation)  # registered: checked by _operation
        purpose = _purpose(asked, operation)
        if isinstance(purpose, Rejection):
            return purpose
        if not operation.owns_body(request.body):
            expected = operation.query_type.__name__
            return Rejection(Reason.MALFORMED_REQUEST, f"{operation.name} needs a {expected} body")
        codes = catalogues if catalogues is not None else packaged_view()
        return operation.check(request.body, purpose, codes) or Admitted(
            agency, purpose, operation, request.body
        )

    def request(
        self,
        request: Request,
        topic_agency: str,
        exchange: str,
        now: datetime,
        catalogues: CatalogueView,
        received_at: datetime,
    ) -> Admitted | Rejection:
        """Stages 3 to 9 for a decoded request that arrived on ``topic_agency``'s topic as ``exchange``."""
        decision = self.check(request, topic_agency, now, catalogues, received_at)
        if isinstance(decision, Rejection):
            return decision
        first = self._duplicates.first_of(topic_agency, request.request_id, exchange, request.expires_at, now)
        if first is not None:
            return Rejection(
                Reason.DUPLICATE_REQUEST, f"request id {request.request_id} was exchange {first}"
            )
        return decision

    def spend(self, decision: Admitted, now: datetime, count: int = 1) -> tuple[int, Rejection | None]:
        """Stage 10, once the store has answered (a retried batch does not spend twice): the quota.

        How many of ``count`` (an itemized answer's answered items) it grants, the first ones, and the
        refusal of the rest.
        """
        agency = decision.agency
        granted, exceeded = self._quotas.take_many(
            agency.id, agency.quota, time.monotonic(), now.astimezone(VIETNAM).date(), count
        )
        return granted, None if exceeded is None else Rejection(Reason.QUOTA_EXCEEDED, exceeded)

    def charge(self, agency: Agency, now: datetime) -> Rejection | None:
        """Stage 10 for a request refused before admission (the audit gate): it spends one of the
        agency's quota all the same; the refusal when none is left."""
        granted, exceeded = self._quotas.take_many(
            agency.id, agency.quota, time.monotonic(), now.astimezone(VIETNAM).date(), 1
        )
        return None if granted else Rejection(Reason.QUOTA_EXCEEDED, exceeded or "")

    def quota_used(self, agency: Agency, now: datetime) -> int:
        """What ``agency`` spent of its daily quota on the day of ``now`` (Vietnam's day, as ``spend``)."""
        return self._quotas.used_on(agency.id, now.astimezone(VIETNAM).date())


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
    name = asked.request.operation
    operation = asked.operations.get(name)
    if operation is None:
        return Rejection(Reason.UNKNOWN_OPERATION, quoted(name, TEXT_LIMITS["operation"]))
    granted = operation.granted_to
    if operation.grant not in asked.agency.operations or (
        granted is not None and asked.agency.id not in granted
    ):
        return Rejection(Reason.OPERATION_NOT_ALLOWED, name)
    if operation.sealed and asked.agency.answer_key is None:
        # Personal data is never answered in clear: without a key to seal it to, it is not answered.
        return Rejection(Reason.NO_ANSWER_KEY, f"{name} answers are sealed to the agency's key")
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


def _purpose(asked: _Asked, operation: AnyOperation) -> Purpose | Rejection:
    """Stages 6 and 7 and the hiding mark: the agency's purpose for the request, or the refusal."""
    request = asked.request
    purpose = asked.agency.purpose_for(request.purpose_code, operation.grant)
    if purpose is None:
        return Rejection(
            Reason.PURPOSE_NOT_REGISTERED, f"{quoted(request.purpose_code)} for {operation.name}"
        )
    if folded(request.legal_basis) != folded(purpose.legal_basis):
        detail = f"{quoted(request.legal_basis, 120)}; registered: {purpose.legal_basis!r}"
        return Rejection(Reason.LEGAL_BASIS_MISMATCH, detail)
    return _hiding(asked, purpose) or purpose


def _hiding(asked: _Asked, purpose: Purpose) -> Rejection | None:
    """A request's mark hiding it from the citizen: allowed by its purpose, in bounds, with a legal basis."""
    until, basis = asked.request.hidden_until, asked.request.hiding_legal_basis
    if until is None and basis is None:
        return None
    if not purpose.may_hide_from_citizen:
        return Rejection(Reason.HIDING_NOT_ALLOWED, quoted(asked.request.purpose_code))
    if until is None:
        return Rejection(Reason.INVALID_HIDDEN_UNTIL, "hiding_legal_basis without hidden_until")
    latest = asked.received_at + timedelta(days=asked.limits.max_hiding_days)
    if until <= asked.now or until > latest:
        detail = f"{until.isoformat()}; after now and at most {asked.limits.max_hiding_days} days ahead"
        return Rejection(Reason.INVALID_HIDDEN_UNTIL, detail)
    problem = _text_problem(basis or "", TEXT_LIMITS["hiding_legal_basis"], True)
    if problem is not None:
        return Rejection(Reason.INVALID_HIDING_LEGAL_BASIS, f"hiding_legal_basis {problem}")
    return None


# Stages 3 to 5, in this order; the first refusal is the answer.
_ENVELOPE: tuple[Callable[[_Asked], Rejection | None], ...] = (
    _agency_named,
    _status,
    _deadline,
    _clock,
    _operation,
    _texts,
)
