"""What the answer says: VERIFY outcomes per field and LOOKUP values limited to scope. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import DVHC_2025, CatalogueView, convert_address, packaged_view
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    VERIFIABLE_FIELDS,
    Address,
    Citizen,
    DisclosedField,
    FieldMatch,
    LookupQuery,
    LookupResult,
    MatchOutcome,
    Request,
    Response,
    ResponseStatus,
    Verdict,
    VerifyQuery,
    VerifyResult,
)
from dancu_bus.names import NAME_FIELDS, name_outcome
from dancu_bus.reasons import MESSAGES
from dancu_bus.resolver.policy import TEXT_LIMITS, Admitted, Rejection
from dancu_bus.text import folded, shown

__all__ = ["answer", "lookup", "reject", "verdict", "verify"]


def answer(
    request: Request,
    decision: Admitted | Rejection,
    citizen: Citizen | None,
    now: datetime,
    catalogues: CatalogueView | None = None,
    *,
    exchange_id: str,
    agency: str,
) -> Response:
    """The one response to exchange ``exchange_id``, a request on ``agency``'s topic.

    It names the agency of the topic, never the one the body claims.
    """
    if isinstance(decision, Rejection):
        return reject(request, decision, now, exchange_id=exchange_id, agency=agency)
    query = decision.query
    result = (
        verify(query, citizen)
        if isinstance(query, VerifyQuery)
        else lookup(query, decision.purpose, citizen, catalogues)
    )
    return Response(
        request_id=request.request_id,
        exchange_id=exchange_id,
        agency=agency,
        operation=request.operation,
        status=ResponseStatus.OK,
        answered_at=now,
        verify=result if isinstance(result, VerifyResult) else None,
        lookup=result if isinstance(result, LookupResult) else None,
    )


def reject(
    request: Request, rejection: Rejection, now: datetime, *, exchange_id: str, agency: str
) -> Response:
    """A REJECTED response stating the reason in Vietnamese and English."""
    message = MESSAGES[rejection.reason]
    suffix = f" ({rejection.detail})" if rejection.detail else ""
    return Response(
        request_id=request.request_id,
        exchange_id=exchange_id,
        agency=agency,
        operation=shown(request.operation, TEXT_LIMITS["operation"]),
        status=ResponseStatus.REJECTED,
        answered_at=now,
        reason_code=rejection.reason.value,
        message_vi=message.vi + suffix,
        message_en=message.en + suffix,
    )


def verify(query: VerifyQuery, citizen: Citizen | None) -> VerifyResult:
    """A match flag per verifiable field and an overall verdict; never a value."""
    supplied = query.supplied()
    outcomes = tuple(_match(name, _outcome(name, supplied.get(name), citizen)) for name in VERIFIABLE_FIELDS)
    return VerifyResult(verdict(citizen is not None, (m.outcome for m in outcomes)), outcomes)


def verdict(found: bool, outcomes: Iterable[MatchOutcome]) -> Verdict:
    """The verdict table: what the per-field outcomes of a VERIFY add up to.

    | person on record | field outcomes                                        | verdict                  |
    |------------------|-------------------------------------------------------|--------------------------|
    | no               | (all NOT_ON_RECORD or NOT_SUPPLIED)                   | NOT_FOUND                |
    | yes              | at least one MISMATCH                                 | MISMATCH                 |
    | yes              | no MISMATCH, at least one MATCH_WITHOUT_DIACRITICS    | MATCH_WITHOUT_DIACRITICS |
    | yes              | at least one MATCH, every other one not compared      | MATCH                    |
    | yes              | none compared: NOT_ON_RECORD/NOT_SUPPLIED             | INCONCLUSIVE             |

    MATCH thus always means that something was compared and everything compared agreed exactly;
    MATCH_WITHOUT_DIACRITICS that it agreed, but a name only once its diacritics were dropped.
    """
    if not found:
        return Verdict.NOT_FOUND
    seen = set(outcomes)
    if MatchOutcome.MISMATCH in seen:
        return Verdict.MISMATCH
    if MatchOutcome.MATCH_WITHOUT_DIACRITICS in seen:
        return Verdict.MATCH_WITHOUT_DIACRITICS
    return Verdict.MATCH if MatchOutcome.MATCH in seen else Verdict.INCONCLUSIVE


def lookup(
    query: LookupQuery, purpose: Purpose, citizen: Citizen | None, catalogues: CatalogueView | None = None
) -> LookupResult:
    """The asked fields (all of the scope if none were asked), never one outside the purpose's scope.

    Addresses are given in the scheme the query asks for (DVHC-2025 by default), converted with
    ``catalogues`` (the packaged catalogues when none are given) where stored in the other one.
    """
    if citizen is None:
        return LookupResult(found=False)
    wanted = query.fields or DISCLOSABLE_FIELDS
    names = [name for name in DISCLOSABLE_FIELDS if name in wanted and name in purpose.fields]
    codes = catalogues if catalogues is not None else packaged_view()
    scheme = query.address_scheme or DVHC_2025
    return LookupResult(found=True, fields=tuple(_disclose(citizen, name, scheme, codes) for name in names))


@cache
def _match(name: str, outcome: MatchOutcome) -> FieldMatch:
    # Immutable and few (fields × outcomes): one shared instance each instead of six per answer.
    return FieldMatch(name, outcome)


def _outcome(name: str, given: object, citizen: Citizen | None) -> MatchOutcome:
    if given is None:
        return MatchOutcome.NOT_SUPPLIED
    stored = getattr(citizen, name, None) if citizen is not None else None
    if stored is None:
        return MatchOutcome.NOT_ON_RECORD
    if isinstance(given, Address) and isinstance(stored, Address) and given.scheme != stored.scheme:
        # Codes of different schemes cannot be compared without conversion.
        return MatchOutcome.NOT_ON_RECORD
    if name in NAME_FIELDS and isinstance(given, str) and isinstance(stored, str):
        return name_outcome(given, stored)
    return MatchOutcome.MATCH if _same(given, stored) else MatchOutcome.MISMATCH


def _same(given: object, stored: object) -> bool:
    if isinstance(given, str) and isinstance(stored, str):
        return folded(given) == folded(stored)
    if isinstance(given, Address) and isinstance(stored, Address):
        return (given.province_code, given.district_code, given.commune_code) == (
            stored.province_code,
            stored.district_code,
            stored.commune_code,
        )
    return given == stored


def _disclose(citizen: Citizen, name: str, scheme: str, catalogues: CatalogueView) -> DisclosedField:
    value = getattr(citizen, name)
    provenance = citizen.provenance[name]
    if isinstance(value, Address):
        moved = convert_address(value, scheme, catalogues)
        return DisclosedField(
            name,
            moved.address,
            provenance.source,
            provenance.updated_on,
            moved.converted_from,
            moved.alternatives,
        )
    return DisclosedField(name=name, value=value, source=provenance.source, updated_on=provenance.updated_on)
