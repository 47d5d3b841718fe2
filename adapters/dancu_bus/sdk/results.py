"""Typed answers of the SDK, read from a response (and, in bulk, paired with the query they answer)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from dancu_bus.contracts import (
    DisclosedField,
    LookupQuery,
    MatchOutcome,
    Response,
    ResponseStatus,
    Verdict,
    VerifyQuery,
)
from dancu_bus.errors import CodecError, UnknownOperation
from dancu_bus.exchanges import item_exchange_id
from dancu_bus.operations.search import Candidate, SearchResult
from dancu_bus.operations.verify_batch import VerifyBatchResult
from dancu_bus.reasons import Rejection, worded

__all__ = ["Answer", "LookupAnswer", "SearchAnswer", "VerifyAnswer", "answer_of"]


@dataclass(frozen=True, slots=True)
class VerifyAnswer:
    """A VERIFY answer: the verdict and an outcome per field, or the reason it was refused."""

    request_id: str
    exchange_id: str
    ok: bool
    verdict: Verdict | None
    fields: Mapping[str, MatchOutcome]
    reason_code: str | None
    message_vi: str | None
    message_en: str | None
    query: VerifyQuery | None = None  # what was asked, when the answer comes from ``send_many``
    trace_id: str | None = None  # the W3C trace the answer continues, when the request carried one

    @classmethod
    def of(cls, response: Response, query: VerifyQuery | None = None) -> VerifyAnswer:
        """Read a VERIFY response."""
        result = response.verify
        return cls(
            request_id=response.request_id,
            exchange_id=response.exchange_id,
            ok=response.status is ResponseStatus.OK,
            verdict=result.verdict if result else None,
            fields={m.field: m.outcome for m in result.fields} if result else {},
            reason_code=response.reason_code,
            message_vi=response.message_vi,
            message_en=response.message_en,
            query=query,
            trace_id=response.trace_id,
        )

    @classmethod
    def of_item(cls, response: Response, index: int, query: VerifyQuery) -> VerifyAnswer:
        """Read item ``index`` of a VERIFY_BATCH response: its own outcome, or the whole batch's refusal.

        Its exchange id is the item's (``exchanges.item_exchange_id``), the key of its audit record.
        CodecError when an OK response has no outcome for the item.
        """
        exchange = item_exchange_id(response.exchange_id, index)
        if response.status is not ResponseStatus.OK:
            return dataclasses.replace(cls.of(response, query), exchange_id=exchange)
        result = response.result
        if not isinstance(result, VerifyBatchResult) or index >= len(result.items):
            raise CodecError("BAD_VALUE", f"response {response.request_id} has no outcome for item {index}")
        outcome = result.items[index]
        if isinstance(outcome, Rejection):
            message = worded(outcome)
            return cls(
                response.request_id,
                exchange,
                False,
                None,
                {},
                outcome.reason.value,
                *message,
                query=query,
                trace_id=response.trace_id,
            )
        fields = {m.field: m.outcome for m in outcome.fields}
        return cls(
            response.request_id,
            exchange,
            True,
            outcome.verdict,
            fields,
            None,
            None,
            None,
            query=query,
            trace_id=response.trace_id,
        )


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    """A LOOKUP answer: the disclosed fields with source and date, or the reason it was refused."""

    request_id: str
    exchange_id: str
    ok: bool
    found: bool
    fields: Mapping[str, DisclosedField]
    reason_code: str | None
    message_vi: str | None
    message_en: str | None
    query: LookupQuery | None = None  # what was asked, when the answer comes from ``send_many``
    trace_id: str | None = None  # the W3C trace the answer continues, when the request carried one

    @classmethod
    def of(cls, response: Response, query: LookupQuery | None = None) -> LookupAnswer:
        """Read a LOOKUP response."""
        result = response.lookup
        return cls(
            request_id=response.request_id,
            exchange_id=response.exchange_id,
            ok=response.status is ResponseStatus.OK,
            found=bool(result and result.found),
            fields={f.name: f for f in result.fields} if result else {},
            reason_code=response.reason_code,
            message_vi=response.message_vi,
            message_en=response.message_en,
            query=query,
            trace_id=response.trace_id,
        )


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    """A SEARCH answer: candidate personal ids, best first, or the reason it was refused."""

    request_id: str
    exchange_id: str
    ok: bool
    candidates: tuple[Candidate, ...]
    more: bool
    reason_code: str | None
    message_vi: str | None
    message_en: str | None
    trace_id: str | None = None  # the W3C trace the answer continues, when the request carried one

    @classmethod
    def of(cls, response: Response) -> SearchAnswer:
        """Read a SEARCH response."""
        result = response.result if isinstance(response.result, SearchResult) else None
        return cls(
            request_id=response.request_id,
            exchange_id=response.exchange_id,
            ok=response.status is ResponseStatus.OK,
            candidates=result.candidates if result else (),
            more=bool(result and result.more),
            reason_code=response.reason_code,
            message_vi=response.message_vi,
            message_en=response.message_en,
            trace_id=response.trace_id,
        )


Answer = VerifyAnswer | LookupAnswer
"""The typed answer to a VERIFY or a LOOKUP."""


def answer_of(response: Response, query: VerifyQuery | LookupQuery) -> Answer:
    """The typed answer ``response`` gives to ``query``; UnknownOperation for a query of neither."""
    if isinstance(query, VerifyQuery):
        return VerifyAnswer.of(response, query)
    if isinstance(query, LookupQuery):
        return LookupAnswer.of(response, query)
    raise UnknownOperation(f"a {type(query).__name__} query in send_many", ("VERIFY", "LOOKUP"))
