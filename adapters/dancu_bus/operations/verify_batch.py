"""VERIFY_BATCH: up to ``MAX_ITEMS`` verifications under one envelope, answered item by item, in order.

Why: a request record per verification costs more in the codec and the broker than the verification
itself; a thousand items under one shared envelope, positional, cost a fraction of that each. Each
item is a VERIFY body and is answered as VERIFY answers it (``operations.verify``: the same checks,
the same matching, the same verdicts); only what the envelope decides is decided once for the batch.

| decided                                        | where                     | refusal                |
|------------------------------------------------|---------------------------|------------------------|
| agency, status, deadlines, purpose, legal basis | once (``resolver.policy``) | the whole batch        |
| item count: none, or more than ``MAX_ITEMS``    | once (``check``)           | the whole batch        |
| id, something to compare, field scope, codes    | per item (VERIFY's check)  | that item              |
| quota: one per answered item                    | per item (``within_quota``) | the items beyond it    |

Admitted under the agency's VERIFY grant and purposes (``admitted_as``). The audit records each item
as an exchange of its own (``dancu_bus.exchanges.item_exchange_id``), with the item's personal id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView
from dancu_bus.contracts import (
    VERIFIABLE_FIELDS,
    ItemStatus,
    MatchOutcome,
    ResponseStatus,
    Verdict,
    VerifyQuery,
    VerifyResult,
)
from dancu_bus.contracts import Operation as Name
from dancu_bus.operations.base import Asking, Operation, schema_branches
from dancu_bus.operations.verify import VERIFY, field_match, verify
from dancu_bus.reasons import Reason, Rejection

__all__ = ["MAX_ITEMS", "VERIFY_BATCH", "Outcome", "VerifyBatch", "VerifyBatchQuery", "VerifyBatchResult"]

# The most items one batch may carry: the audit writes a record per item, so this bounds what one
# request record can make it write (a 1 MiB record of bare ids would otherwise be some 70,000).
MAX_ITEMS = 1000

Outcome = VerifyResult | Rejection
"""One item's outcome: VERIFY's result, or the refusal of that item alone."""

_OK = ItemStatus(ResponseStatus.OK.value)
_VALUE: dict[MatchOutcome | Verdict, str] = {e: e.value for e in (*MatchOutcome, *Verdict)}
_FIELDS = list(VERIFIABLE_FIELDS)


@dataclass(frozen=True, slots=True)
class VerifyBatchQuery:
    """Verifications by position, under the request's one envelope."""

    items: tuple[VerifyQuery, ...]

    @property
    def personal_id(self) -> None:
        """A batch names many people, each in its item."""
        return None

    @property
    def item_personal_ids(self) -> tuple[str, ...]:
        """Each item's personal id; none when the batch is refused whole for its count (0 or too many)."""
        return tuple(i.personal_id for i in self.items) if 0 < len(self.items) <= MAX_ITEMS else ()


@dataclass(frozen=True, slots=True)
class VerifyBatchResult:
    """An outcome per item, in the items' order."""

    items: tuple[Outcome, ...]

    @property
    def item_statuses(self) -> tuple[ItemStatus, ...]:
        """OK, or REJECTED with its reason, per item (what the audit records of each)."""
        return tuple(_OK if isinstance(o, VerifyResult) else _refused(o) for o in self.items)


class VerifyBatch(Operation[VerifyBatchQuery, VerifyBatchResult]):
    """The VERIFY_BATCH operation."""

    name = Name.VERIFY_BATCH
    query_type = VerifyBatchQuery
    result_type = VerifyBatchResult
    body_schema = schema_branches("verify_batch")["body"]
    result_schema = schema_branches("verify_batch")["result"]
    result_name = "vn.dancu.VerifyBatchResult"
    admitted_as = Name.VERIFY

    def personal_ids(self, query: VerifyBatchQuery) -> tuple[str, ...]:
        """Every item's person, read with the rest of the resolver's batch in one store call."""
        return tuple({i.personal_id for i in query.items})

    def body_record(self, body: VerifyBatchQuery) -> dict[str, Any]:
        """VerifyBatchQuery → its Avro body: each item as VERIFY writes its body."""
        return {"items": [VERIFY.body_record(item) for item in body.items]}

    def body_from(self, record: Mapping[str, Any]) -> VerifyBatchQuery:
        """Its Avro body → VerifyBatchQuery."""
        return VerifyBatchQuery(tuple(VERIFY.body_from(item) for item in record["items"]))

    def result_record(self, result: VerifyBatchResult) -> dict[str, Any]:
        """VerifyBatchResult → its Avro record: the field names once, each item's outcomes by position."""
        return {"fields": _FIELDS, "items": [_item_record(o) for o in result.items]}

    def result_from(self, record: Mapping[str, Any]) -> VerifyBatchResult:
        """Its Avro record → VerifyBatchResult."""
        fields = tuple(record["fields"])
        return VerifyBatchResult(tuple(_item_from(fields, item) for item in record["items"]))

    def check(self, query: VerifyBatchQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """The whole batch's own check: 1 to ``MAX_ITEMS`` items (each item is checked when answered)."""
        count = len(query.items)
        if count == 0:
            return Rejection(Reason.MALFORMED_REQUEST, "a VERIFY_BATCH needs at least one item")
        if count > MAX_ITEMS:
            return Rejection(Reason.BATCH_TOO_LARGE, f"{count} items, at most {MAX_ITEMS}")
        return None

    def verdicts(self, result: VerifyBatchResult) -> Mapping[str, int]:
        """One answer per item answered, of its verdict (refused items are counted as refusals)."""
        return Counter(o.verdict.value for o in result.items if isinstance(o, VerifyResult))

    async def answer(self, query: VerifyBatchQuery, asking: Asking) -> VerifyBatchResult:
        """Each item as VERIFY answers it: its own refusal, or its flags."""
        return VerifyBatchResult(tuple(answer_item(item, asking) for item in query.items))

    def spent(self, result: VerifyBatchResult) -> int:
        """One per answered item; a refused item spends nothing, as a refused VERIFY does not."""
        return sum(1 for o in result.items if isinstance(o, VerifyResult))

    def within_quota(
        self, result: VerifyBatchResult, granted: int, refusal: Rejection
    ) -> VerifyBatchResult | None:
        """The first ``granted`` answered items keep their answers; the answered ones after, ``refusal``."""
        kept: list[Outcome] = []
        for outcome in result.items:
            if isinstance(outcome, VerifyResult):
                outcome = outcome if granted > 0 else refusal
                granted -= 1
            kept.append(outcome)
        return VerifyBatchResult(tuple(kept))


VERIFY_BATCH = VerifyBatch()


def answer_item(item: VerifyQuery, asking: Asking) -> Outcome:
    """One item: VERIFY's refusal of it, or VERIFY's flags for it."""
    refusal = VERIFY.check(item, asking.purpose, asking.catalogues)
    return refusal if refusal is not None else verify(item, asking.citizens.get(item.personal_id))


def _refused(refusal: Rejection) -> ItemStatus:
    return ItemStatus(ResponseStatus.REJECTED.value, refusal.reason.value)


def _item_record(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, VerifyResult):
        # ``verify`` answers every verifiable field, in VERIFIABLE_FIELDS order: the order of ``fields``.
        # A dict lookup, not ``.value``: Enum's property was a quarter of encoding a batch's answer.
        outcomes = [_VALUE[m.outcome] for m in outcome.fields]
        return {"verdict": _VALUE[outcome.verdict], "outcomes": outcomes, "reason_code": None, "detail": None}
    detail = outcome.detail or None
    return {"verdict": None, "outcomes": [], "reason_code": outcome.reason.value, "detail": detail}


def _item_from(fields: tuple[str, ...], record: Mapping[str, Any]) -> Outcome:
    verdict = record["verdict"]
    if verdict is None:
        return Rejection(Reason(record["reason_code"]), record["detail"] or "")
    return _result(fields, verdict, tuple(record["outcomes"]))


@lru_cache(maxsize=4096)
def _result(fields: tuple[str, ...], verdict: str, outcomes: tuple[str, ...]) -> VerifyResult:
    """The one shared VerifyResult of a verdict and its outcomes: answers repeat a few combinations, and
    building each from its enums was half of the decoding time of a batch."""
    return VerifyResult(
        Verdict(verdict),
        tuple(field_match(f, MatchOutcome(o)) for f, o in zip(fields, outcomes, strict=True)),
    )
