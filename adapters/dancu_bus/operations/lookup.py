"""LOOKUP: a person's data, only the fields in the purpose's scope, sealed to the asking agency's key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import ADDRESS_SCHEMES, DVHC_2025, CatalogueView, CodeProblem, convert_address
from dancu_bus.codec import Codec
from dancu_bus.codec.messages import disclosed_from, disclosed_record, sealed_from, sealed_record
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    Address,
    Citizen,
    DisclosedField,
    LookupQuery,
    LookupResult,
    Sealed,
)
from dancu_bus.contracts import (
    Operation as Name,
)
from dancu_bus.operations.base import FOUND, NOT_FOUND, Asking, SealedOperation, id_refusal, schema_branches
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.text import quoted

__all__ = ["LOOKUP", "Lookup", "lookup", "open_fields", "seal_fields"]


class Lookup(SealedOperation[LookupQuery, LookupResult]):
    """The LOOKUP operation."""

    name = Name.LOOKUP
    query_type = LookupQuery
    result_type = LookupResult
    body_schema = schema_branches("lookup")["body"]
    result_field = "lookup"
    result_name = "vn.dancu.LookupResult"
    content_type = "application/vnd.dancu.sealed-fields+avro"

    def personal_ids(self, query: LookupQuery) -> tuple[str, ...]:
        """The one person asked about."""
        return (query.personal_id,)

    def body_record(self, body: LookupQuery) -> dict[str, Any]:
        """LookupQuery → its Avro body."""
        return {
            "personal_id": body.personal_id,
            "fields": list(body.fields),
            "address_scheme": body.address_scheme,
        }

    def body_from(self, record: Mapping[str, Any]) -> LookupQuery:
        """Its Avro body → LookupQuery."""
        return LookupQuery(
            personal_id=record["personal_id"],
            fields=tuple(record["fields"]),
            address_scheme=record["address_scheme"],
        )

    def result_record(self, result: LookupResult) -> dict[str, Any]:
        """LookupResult → its Avro record."""
        return {
            "found": result.found,
            "fields": [disclosed_record(f) for f in result.fields],
            "sealed": sealed_record(result.sealed),
        }

    def result_from(self, record: Mapping[str, Any]) -> LookupResult:
        """Its Avro record → LookupResult."""
        return LookupResult(
            found=record["found"],
            fields=tuple(disclosed_from(f) for f in record["fields"]),
            sealed=sealed_from(record["sealed"]),
        )

    def seal_values(
        self, result: LookupResult, exchange_id: str, codec: Codec
    ) -> tuple[bytes, LookupResult] | None:
        """The disclosed fields whole, as a SealedFields object; in clear, their names, sources and dates."""
        split = seal_fields(result.fields, exchange_id, codec)
        return None if split is None else (split[0], replace(result, fields=split[1]))

    def sealed_part(self, result: LookupResult) -> Sealed | None:
        """The JWE of its values."""
        return result.sealed

    def with_sealed(self, result: LookupResult, sealed: Sealed) -> LookupResult:
        """The result carrying its sealed values."""
        return replace(result, sealed=sealed)

    def open_values(self, result: LookupResult, plaintext: bytes, codec: Codec) -> tuple[str, LookupResult]:
        """The fields back, which must be the fields the answer names."""
        exchange, fields = open_fields(result.fields, plaintext, codec)
        return exchange, replace(result, fields=fields, sealed=None)

    def check(self, query: LookupQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A well-formed id, known fields, a known address scheme, and only fields within scope."""
        refusal = id_refusal(query.personal_id)
        if refusal is not None:
            return refusal
        unknown = [f for f in query.fields if f not in DISCLOSABLE_FIELDS]
        if unknown:
            return Rejection(Reason.UNKNOWN_FIELD, ", ".join(quoted(f, 32) for f in sorted(unknown)[:5]))
        problem = self.code_problem(query, catalogues)
        if problem is not None:
            return Rejection(Reason.INVALID_CODE, problem.message)
        outside = sorted(set(query.fields) - purpose.fields)
        return Rejection(Reason.FIELD_OUT_OF_SCOPE, ", ".join(outside)) if outside else None

    def code_problem(self, query: LookupQuery, catalogues: CatalogueView) -> CodeProblem | None:
        """A LOOKUP may ask for addresses in either DVHC scheme (DVHC-2025 when it does not say)."""
        scheme = query.address_scheme
        if scheme is None or scheme in ADDRESS_SCHEMES:
            return None
        known = " or ".join(ADDRESS_SCHEMES)
        return CodeProblem("address_scheme", None, f"{quoted(scheme, 32)} is not an address scheme ({known})")

    def verdicts(self, result: LookupResult) -> Mapping[str, int]:
        """FOUND or NOT_FOUND: a store replaced by an empty one shows as a jump of NOT_FOUND."""
        return {FOUND if result.found else NOT_FOUND: 1}

    async def answer(self, query: LookupQuery, asking: Asking) -> LookupResult:
        """The asked fields of the person, within scope."""
        citizen = asking.citizens.get(query.personal_id)
        return lookup(query, asking.purpose, citizen, asking.catalogues)


LOOKUP = Lookup()


def lookup(
    query: LookupQuery, purpose: Purpose, citizen: Citizen | None, catalogues: CatalogueView
) -> LookupResult:
    """The asked fields (all of the scope if none were asked), never one outside the purpose's scope.

    Addresses are given in the scheme the query asks for (DVHC-2025 by default), converted with
    ``catalogues`` where stored in the other one.
    """
    if citizen is None:
        return LookupResult(found=False)
    wanted = query.fields or DISCLOSABLE_FIELDS
    names = [name for name in DISCLOSABLE_FIELDS if name in wanted and name in purpose.fields]
    scheme = query.address_scheme or DVHC_2025
    return LookupResult(
        found=True, fields=tuple(_disclose(citizen, name, scheme, catalogues) for name in names)
    )


def seal_fields(
    fields: tuple[DisclosedField, ...], exchange_id: str, codec: Codec
) -> tuple[bytes, tuple[DisclosedField, ...]] | None:
    """Disclosed fields whole as a SealedFields plaintext naming the exchange, and the fields without their
    values (their names, sources and dates stay in clear); None when no field has a value (LOOKUP, SELF)."""
    if not any(f.value is not None for f in fields):
        return None
    clear = tuple(
        replace(f, value=None, converted_from=None, alternatives=(), sealed=f.value is not None)
        for f in fields
    )
    return codec.encode_sealed_fields(exchange_id, fields), clear


def open_fields(
    named: tuple[DisclosedField, ...], plaintext: bytes, codec: Codec
) -> tuple[str, tuple[DisclosedField, ...]]:
    """The exchange a SealedFields plaintext names and its fields, which must be the ``named`` ones."""
    exchange, fields = codec.decode_sealed_fields(plaintext)
    if [f.name for f in fields] != [f.name for f in named]:
        raise ValueError("the sealed fields are not the fields the answer names")
    return exchange, fields


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
