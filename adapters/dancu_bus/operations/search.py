"""SEARCH: who is this? A name and birth date (and a commune) give candidate personal ids, nothing else.

Names are compared as ``text.folded`` compares them (NFC, case folded, white space collapsed), so a
name typed in NFD, upper case or with stray spaces finds the same people. The answer names no other
field: the agency then asks VERIFY or LOOKUP about the one it means, under that operation's purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView, CodeProblem, check_address, convert_address
from dancu_bus.codec import Codec
from dancu_bus.codec.messages import address_from, address_record, sealed_from, sealed_record
from dancu_bus.contracts import Address, Citizen, Sealed
from dancu_bus.contracts import Operation as Name
from dancu_bus.operations.base import FOUND, NOT_FOUND, Asking, SealedOperation, schema_branches
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.text import folded, printable

__all__ = ["MAX_CANDIDATES", "SEARCH", "Candidate", "Search", "SearchQuery", "SearchResult", "rank"]

MAX_CANDIDATES = 20
# How many people of one name and birth date the store is asked for: enough to rank by commune and to
# say that there are more, bounded whatever the agency asks.
_SCANNED = 200
_NAME_LIMIT = 100
_SEALED_CANDIDATES = "vn.dancu.SealedCandidates"
_EARLIEST = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A SEARCH: a full name, a birth date, optionally a commune (either scheme)."""

    full_name: str
    birth_date: date
    commune: Address | None = None
    max_candidates: int = 5

    @property
    def personal_id(self) -> None:
        """A search names nobody."""
        return None

    @property
    def criteria(self) -> tuple[str, ...]:
        """The names of the criteria given (the audit keeps these, never their values)."""
        return ("full_name", "birth_date") + (("commune",) if self.commune is not None else ())


@dataclass(frozen=True, slots=True)
class Candidate:
    """One person a search found: the id, its rank, and whether the commune matched."""

    personal_id: str
    rank: int
    commune_matched: bool


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The candidates, best first, and whether more people matched than were asked for.

    On the wire the candidates are sealed to the asking agency's key: ``candidates`` is then empty and
    ``sealed`` holds them.
    """

    candidates: tuple[Candidate, ...]
    more: bool = False
    sealed: Sealed | None = None

    @property
    def fields_disclosed(self) -> tuple[str, ...]:
        """A search discloses personal ids, when it finds anyone."""
        return ("personal_id",) if self.candidates or self.sealed is not None else ()


class Search(SealedOperation[SearchQuery, SearchResult]):
    """The SEARCH operation."""

    name = Name.SEARCH
    query_type = SearchQuery
    result_type = SearchResult
    body_schema = schema_branches("search")["body"]
    result_schema = schema_branches("search")["result"]
    result_name = "vn.dancu.SearchResult"
    content_type = "application/vnd.dancu.sealed-candidates+avro"

    def body_record(self, body: SearchQuery) -> dict[str, Any]:
        """SearchQuery → its Avro body."""
        commune = body.commune
        return {
            "full_name": body.full_name,
            "birth_date": body.birth_date,
            "commune": address_record(commune) if commune is not None else None,
            "max_candidates": body.max_candidates,
        }

    def body_from(self, record: Mapping[str, Any]) -> SearchQuery:
        """Its Avro body → SearchQuery."""
        commune = record["commune"]
        return SearchQuery(
            full_name=record["full_name"],
            birth_date=record["birth_date"],
            commune=address_from(commune) if commune is not None else None,
            max_candidates=record["max_candidates"],
        )

    def result_record(self, result: SearchResult) -> dict[str, Any]:
        """SearchResult → its Avro record."""
        return {
            "candidates": _candidate_records(result.candidates),
            "more": result.more,
            "sealed": sealed_record(result.sealed),
        }

    def result_from(self, record: Mapping[str, Any]) -> SearchResult:
        """Its Avro record → SearchResult."""
        return SearchResult(
            _candidates_from(record["candidates"]),
            record["more"],
            sealed_from(record["sealed"]),
        )

    def seal_values(
        self, result: SearchResult, exchange_id: str, codec: Codec
    ) -> tuple[bytes, SearchResult] | None:
        """The candidates as a SealedCandidates object; in clear, only whether there are more."""
        if not result.candidates:
            return None
        record = {"exchange_id": exchange_id, "candidates": _candidate_records(result.candidates)}
        return codec.schemas.encode(_SEALED_CANDIDATES, record), replace(result, candidates=())

    def sealed_part(self, result: SearchResult) -> Sealed | None:
        """The JWE of its candidates."""
        return result.sealed

    def with_sealed(self, result: SearchResult, sealed: Sealed) -> SearchResult:
        """The result carrying its sealed candidates."""
        return replace(result, sealed=sealed)

    def open_values(self, result: SearchResult, plaintext: bytes, codec: Codec) -> tuple[str, SearchResult]:
        """The candidates back."""
        exchange, candidates = codec.schemas.decode_as(
            _SEALED_CANDIDATES,
            plaintext,
            lambda r: (str(r["exchange_id"]), _candidates_from(r["candidates"])),
        )
        return exchange, replace(result, candidates=candidates, sealed=None)

    def code_problem(self, query: SearchQuery, catalogues: CatalogueView) -> CodeProblem | None:
        """The commune's codes in its scheme."""
        return check_address(catalogues, "commune", query.commune) if query.commune is not None else None

    def check(self, query: SearchQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A printable name of bounded length, a plausible birth date, a bounded count, known codes."""
        name = query.full_name
        if not folded(name) or len(name) > _NAME_LIMIT or not printable(name):
            detail = f"full_name must be 1 to {_NAME_LIMIT} printable characters"
            return Rejection(Reason.MALFORMED_REQUEST, detail)
        if not _EARLIEST <= query.birth_date <= date.today():
            return Rejection(Reason.MALFORMED_REQUEST, f"birth_date {query.birth_date} is not a birth date")
        if not 1 <= query.max_candidates <= MAX_CANDIDATES:
            return Rejection(Reason.MALFORMED_REQUEST, f"max_candidates must be 1 to {MAX_CANDIDATES}")
        problem = self.code_problem(query, catalogues)
        return Rejection(Reason.INVALID_CODE, problem.message) if problem is not None else None

    def verdicts(self, result: SearchResult) -> Mapping[str, int]:
        """FOUND when some candidate matched (sealed or not), else NOT_FOUND."""
        return {FOUND if result.candidates or result.sealed is not None else NOT_FOUND: 1}

    async def answer(self, query: SearchQuery, asking: Asking) -> SearchResult:
        """The people of that name and birth date, those living in the commune first."""
        found = await asking.store.find_by_name(folded(query.full_name), query.birth_date, _SCANNED)
        return rank(query, found, asking.catalogues)


SEARCH = Search()


def _candidate_records(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    return [
        {"personal_id": c.personal_id, "rank": c.rank, "commune_matched": c.commune_matched}
        for c in candidates
    ]


def _candidates_from(records: Sequence[Mapping[str, Any]]) -> tuple[Candidate, ...]:
    return tuple(Candidate(c["personal_id"], c["rank"], c["commune_matched"]) for c in records)


def rank(query: SearchQuery, found: Sequence[Citizen], catalogues: CatalogueView) -> SearchResult:
    """Candidates best first: in the named commune, then by personal id; at most ``max_candidates``."""
    scored = sorted(found, key=lambda c: (not _lives_in(c, query.commune, catalogues), c.personal_id))
    kept = scored[: query.max_candidates]
    candidates = tuple(
        Candidate(c.personal_id, i + 1, _lives_in(c, query.commune, catalogues)) for i, c in enumerate(kept)
    )
    return SearchResult(candidates, more=len(scored) > len(kept))


def _lives_in(citizen: Citizen, commune: Address | None, catalogues: CatalogueView) -> bool:
    """Whether the citizen's permanent address is in ``commune``, read in the commune's scheme."""
    if commune is None:
        return False
    moved = convert_address(citizen.permanent_address, commune.scheme, catalogues)
    places = (moved.address, *moved.alternatives)
    return moved.address.scheme == commune.scheme and any(
        p.commune_code == commune.commune_code and p.province_code == commune.province_code for p in places
    )
