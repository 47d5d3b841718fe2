"""ECHO, an operation that exists only in the test suite: proof that an operation is one module.

It is registered on top of the platform's operations (``OPERATIONS.adding(ECHO)``), with its schema
branches given here, and nothing else in the code base is changed for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dancu_bus import personal_id
from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView
from dancu_bus.operations import OPERATIONS, Asking, Operation, Operations
from dancu_bus.reasons import Reason, Rejection

__all__ = ["ECHO", "WITH_ECHO", "EchoQuery", "EchoResult"]


@dataclass(frozen=True, slots=True)
class EchoQuery:
    """Say ``word`` back, if ``personal_id`` is on record."""

    personal_id: str
    word: str


@dataclass(frozen=True, slots=True)
class EchoResult:
    """The word, reversed, and whether the person was on record."""

    found: bool
    reversed_word: str

    @property
    def fields_disclosed(self) -> tuple[str, ...]:
        """ECHO discloses whether a person exists: the audit records it as ``status``."""
        return ("status",) if self.found else ()


class Echo(Operation[EchoQuery, EchoResult]):
    """The test-only ECHO operation."""

    name = "ECHO"
    query_type = EchoQuery
    result_type = EchoResult
    body_schema = MappingProxyType(
        {
            "type": "record",
            "name": "EchoBody",
            "namespace": "test.dancu",
            "fields": [{"name": "personal_id", "type": "string"}, {"name": "word", "type": "string"}],
        }
    )
    result_schema = MappingProxyType(
        {
            "type": "record",
            "name": "EchoResult",
            "namespace": "test.dancu",
            "fields": [{"name": "found", "type": "boolean"}, {"name": "reversed_word", "type": "string"}],
        }
    )
    result_name = "test.dancu.EchoResult"

    def personal_ids(self, query: EchoQuery) -> tuple[str, ...]:
        """The one person named."""
        return (query.personal_id,)

    def body_record(self, body: EchoQuery) -> dict[str, Any]:
        """EchoQuery → its record."""
        return {"personal_id": body.personal_id, "word": body.word}

    def body_from(self, record: Mapping[str, Any]) -> EchoQuery:
        """Its record → EchoQuery."""
        return EchoQuery(record["personal_id"], record["word"])

    def result_record(self, result: EchoResult) -> dict[str, Any]:
        """EchoResult → its record."""
        return {"found": result.found, "reversed_word": result.reversed_word}

    def result_from(self, record: Mapping[str, Any]) -> EchoResult:
        """Its record → EchoResult."""
        return EchoResult(record["found"], record["reversed_word"])

    def check(self, query: EchoQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A well-formed personal id and a short word."""
        try:
            personal_id.parse(query.personal_id)
        except personal_id.PersonalIdError as exc:
            return Rejection(Reason.INVALID_PERSONAL_ID, exc.reason)
        return None if 0 < len(query.word) <= 32 else Rejection(Reason.MALFORMED_REQUEST, "word: 1 to 32")

    async def answer(self, query: EchoQuery, asking: Asking) -> EchoResult:
        """The word reversed, and whether the person is on record."""
        return EchoResult(query.personal_id in asking.citizens, query.word[::-1])


ECHO = Echo()
WITH_ECHO: Operations = OPERATIONS.adding(ECHO)
