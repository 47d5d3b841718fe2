"""VERIFY: does what an agency holds about a person match the record? Flags per field, never a value."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import (
    CITIZEN_CODES,
    Catalogue,
    CatalogueView,
    CodeProblem,
    check_address,
    check_code,
)
from dancu_bus.codec.messages import address_from, address_record
from dancu_bus.contracts import (
    VERIFIABLE_FIELDS,
    Address,
    Citizen,
    FieldMatch,
    MatchOutcome,
    Verdict,
    VerifyQuery,
    VerifyResult,
)
from dancu_bus.contracts import (
    Operation as Name,
)
from dancu_bus.names import NAME_FIELDS, name_outcome
from dancu_bus.operations.base import Asking, Operation, id_refusal, schema_branches
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.text import folded

__all__ = ["VERIFY", "Verify", "field_match", "verdict", "verify"]

# Coded fields of a VERIFY body and their catalogues.
_CODED: Mapping[str, Catalogue] = {f: c for f, c in CITIZEN_CODES.items() if f in VERIFIABLE_FIELDS}


class Verify(Operation[VerifyQuery, VerifyResult]):
    """The VERIFY operation."""

    name = Name.VERIFY
    query_type = VerifyQuery
    result_type = VerifyResult
    body_schema = schema_branches("verify")["body"]
    result_field = "verify"
    result_name = "vn.dancu.VerifyResult"

    def personal_ids(self, query: VerifyQuery) -> tuple[str, ...]:
        """The one person compared."""
        return (query.personal_id,)

    def body_record(self, body: VerifyQuery) -> dict[str, Any]:
        """VerifyQuery → its Avro body."""
        address = body.permanent_address
        return {
            "personal_id": body.personal_id,
            "full_name": body.full_name,
            "birth_date": body.birth_date,
            "sex": body.sex,
            "ethnic_group": body.ethnic_group,
            "phone": body.phone,
            "permanent_address": address_record(address) if address is not None else None,
        }

    def body_from(self, record: Mapping[str, Any]) -> VerifyQuery:
        """Its Avro body → VerifyQuery."""
        address = record["permanent_address"]
        return VerifyQuery(
            personal_id=record["personal_id"],
            full_name=record["full_name"],
            birth_date=record["birth_date"],
            sex=record["sex"],
            ethnic_group=record["ethnic_group"],
            phone=record["phone"],
            permanent_address=address_from(address) if address is not None else None,
        )

    def result_record(self, result: VerifyResult) -> dict[str, Any]:
        """VerifyResult → its Avro record."""
        return {
            "verdict": result.verdict.value,
            "fields": [{"field": m.field, "outcome": m.outcome.value} for m in result.fields],
        }

    def result_from(self, record: Mapping[str, Any]) -> VerifyResult:
        """Its Avro record → VerifyResult."""
        return VerifyResult(
            verdict=Verdict(record["verdict"]),
            fields=tuple(field_match(m["field"], MatchOutcome(m["outcome"])) for m in record["fields"]),
        )

    def check(self, query: VerifyQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A well-formed id, at least one field to compare, all within scope, every code known."""
        refusal = id_refusal(query.personal_id)
        if refusal is not None:
            return refusal
        supplied = tuple(query.supplied())
        if not supplied:
            # Without a field to compare, the only thing an answer could say is whether the person exists.
            return Rejection(Reason.NOTHING_TO_VERIFY, "supply at least one field besides the personal id")
        outside = sorted(set(supplied) - purpose.fields)
        if outside:
            return Rejection(Reason.FIELD_OUT_OF_SCOPE, ", ".join(outside))
        problem = self.code_problem(query, catalogues)
        return Rejection(Reason.INVALID_CODE, problem.message) if problem is not None else None

    def code_problem(self, query: VerifyQuery, catalogues: CatalogueView) -> CodeProblem | None:
        """The first code of the body its catalogue lacks, in the order of the fields."""
        return next(code_problems(query, catalogues), None)

    def verdicts(self, result: VerifyResult) -> Mapping[str, int]:
        """One answer, of its verdict."""
        return {result.verdict.value: 1}

    async def answer(self, query: VerifyQuery, asking: Asking) -> VerifyResult:
        """The flags of the compared person."""
        return verify(query, asking.citizens.get(query.personal_id))


VERIFY = Verify()


def code_problems(query: VerifyQuery, view: CatalogueView) -> Iterator[CodeProblem]:
    """Every code of a VERIFY body its catalogue lacks, field by field (the SDK checks them too)."""
    for field, catalogue in _CODED.items():
        code = getattr(query, field)
        problem = check_code(view, field, catalogue, code) if code is not None else None
        if problem is not None:
            yield problem
    if query.permanent_address is not None:
        problem = check_address(view, "permanent_address", query.permanent_address)
        if problem is not None:
            yield problem


def verify(query: VerifyQuery, citizen: Citizen | None) -> VerifyResult:
    """A match flag per verifiable field and an overall verdict; never a value."""
    supplied = query.supplied()
    outcomes = tuple(
        field_match(name, _outcome(name, supplied.get(name), citizen)) for name in VERIFIABLE_FIELDS
    )
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


@cache
def field_match(name: str, outcome: MatchOutcome) -> FieldMatch:
    """The one shared FieldMatch of ``name`` and ``outcome``.

    Immutable and few (fields × outcomes): one shared instance each instead of six per answer.
    """
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
