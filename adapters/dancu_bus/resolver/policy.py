"""May this agency ask this? Pure admission of a decoded request against the agency directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dancu_bus import personal_id
from dancu_bus.agencies import Agency, AgencyDirectory, AgencyStatus, Purpose
from dancu_bus.catalogues import CatalogueView, check_query, packaged_view
from dancu_bus.contracts import DISCLOSABLE_FIELDS, LookupQuery, Operation, Request, VerifyQuery
from dancu_bus.reasons import Reason

__all__ = ["SERVED_OPERATIONS", "Admitted", "Rejection", "admit"]

# Operations this resolver answers; the others are known to the contract but served elsewhere later.
SERVED_OPERATIONS = frozenset({Operation.VERIFY, Operation.LOOKUP})
_BODY_OF = {Operation.VERIFY: VerifyQuery, Operation.LOOKUP: LookupQuery}
_STATUS_REASON = {
    AgencyStatus.ONBOARDING: Reason.UNKNOWN_AGENCY,  # not connected until its account is issued (step 10)
    AgencyStatus.SUSPENDED: Reason.SUSPENDED,
    AgencyStatus.TERMINATED: Reason.TERMINATED,
}


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


def admit(
    request: Request,
    topic_agency: str,
    directory: AgencyDirectory,
    now: datetime,
    catalogues: CatalogueView | None = None,
) -> Admitted | Rejection:
    """Admit or reject a request that arrived on ``topic_agency``'s request topic.

    Codes are checked against ``catalogues``, the packaged catalogues when none are given.
    """
    agency = directory.get(topic_agency)
    if agency is None:
        return Rejection(Reason.UNKNOWN_AGENCY, topic_agency)
    refusal = _check_envelope(request, agency, topic_agency, now)
    if refusal is not None:
        return refusal
    operation = Operation(request.operation)
    purpose = agency.purpose_for(request.purpose_code, operation)
    if purpose is None:
        return Rejection(Reason.PURPOSE_NOT_REGISTERED, f"{request.purpose_code} for {operation}")
    codes = catalogues if catalogues is not None else packaged_view()
    return _check_body(request.body, operation, purpose, codes) or Admitted(agency, purpose, _query(request))


def _check_envelope(request: Request, agency: Agency, topic_agency: str, now: datetime) -> Rejection | None:
    if request.agency != topic_agency:
        return Rejection(Reason.AGENCY_MISMATCH, f"body says {request.agency!r}, topic is {topic_agency!r}")
    if agency.status in _STATUS_REASON:
        detail = f"{agency.id}: {agency.status_reason}" if agency.status_reason else agency.id
        return Rejection(_STATUS_REASON[agency.status], detail)
    if request.expires_at <= now:
        return Rejection(Reason.EXPIRED, f"expired at {request.expires_at.isoformat()}")
    if request.operation not in Operation.__members__:
        return Rejection(Reason.UNKNOWN_OPERATION, request.operation[:64])
    if Operation(request.operation) not in agency.operations:
        return Rejection(Reason.OPERATION_NOT_ALLOWED, request.operation)
    if Operation(request.operation) not in SERVED_OPERATIONS:
        return Rejection(Reason.OPERATION_NOT_SUPPORTED, request.operation)
    if not request.purpose_code.strip():
        return Rejection(Reason.PURPOSE_MISSING)
    return None


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
    return _check_scope(tuple(body.supplied()), purpose) or _check_codes(body, catalogues)


def _check_lookup(query: LookupQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
    unknown = [f for f in query.fields if f not in DISCLOSABLE_FIELDS]
    if unknown:
        return Rejection(Reason.UNKNOWN_FIELD, ", ".join(sorted(unknown))[:200])
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
