"""Plain, frozen values that cross the wire or a seam: requests, responses, citizens, audit records.

The codec maps them to and from Avro; every other module works with these types only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "DISCLOSABLE_FIELDS",
    "VERIFIABLE_FIELDS",
    "Address",
    "AuditPending",
    "AuditRecord",
    "Citizen",
    "DeadLetter",
    "DeadLetterOriginal",
    "DisclosedField",
    "Disclosing",
    "FieldMatch",
    "ItemStatus",
    "Itemized",
    "ItemizedResult",
    "LookupQuery",
    "LookupResult",
    "MatchOutcome",
    "Operation",
    "Provenance",
    "Query",
    "Request",
    "Response",
    "ResponseHalf",
    "ResponseStatus",
    "Sealed",
    "Searching",
    "Verdict",
    "VerifyQuery",
    "VerifyResult",
]


class Operation(StrEnum):
    """Names of the platform's operations; what each does is its module in ``dancu_bus.operations``."""

    VERIFY = "VERIFY"
    LOOKUP = "LOOKUP"
    SEARCH = "SEARCH"
    REPORT_ERROR = "REPORT_ERROR"
    TICKET_STATE = "TICKET_STATE"
    CORRECT = "CORRECT"
    VERIFY_BATCH = "VERIFY_BATCH"
    SELF = "SELF"


class ResponseStatus(StrEnum):
    """Whether a request was served or refused."""

    OK = "OK"
    REJECTED = "REJECTED"


class Verdict(StrEnum):
    """The overall answer to a VERIFY (the verdict table is in ``operations.verify.verdict``)."""

    MATCH = "MATCH"
    MISMATCH = "MISMATCH"
    NOT_FOUND = "NOT_FOUND"
    INCONCLUSIVE = "INCONCLUSIVE"
    MATCH_WITHOUT_DIACRITICS = "MATCH_WITHOUT_DIACRITICS"


class MatchOutcome(StrEnum):
    """The answer to a VERIFY for one supplied field."""

    MATCH = "MATCH"
    MISMATCH = "MISMATCH"
    NOT_ON_RECORD = "NOT_ON_RECORD"
    NOT_SUPPLIED = "NOT_SUPPLIED"
    # A name that equals the record only once the record's diacritics are dropped (see ``names``).
    MATCH_WITHOUT_DIACRITICS = "MATCH_WITHOUT_DIACRITICS"


# Fields a VERIFY can compare and a LOOKUP can disclose. Order is the order of answers.
VERIFIABLE_FIELDS: tuple[str, ...] = (
    "full_name",
    "birth_date",
    "sex",
    "ethnic_group",
    "phone",
    "permanent_address",
)
DISCLOSABLE_FIELDS: tuple[str, ...] = (
    "full_name",
    "birth_date",
    "sex",
    "ethnic_group",
    "religion",
    "nationality",
    "permanent_address",
    "household_id",
    "household_relation",
    "phone",
    "status",
)


@dataclass(frozen=True, slots=True)
class Address:
    """An address in an administrative scheme (DVHC-2004 or DVHC-2025)."""

    scheme: str
    province_code: str
    commune_code: str
    district_code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyQuery:
    """What an agency holds about a person and wants confirmed."""

    personal_id: str
    full_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    ethnic_group: str | None = None
    phone: str | None = None
    permanent_address: Address | None = None

    def supplied(self) -> dict[str, object]:
        """The verifiable fields the agency filled in."""
        return {name: value for name in VERIFIABLE_FIELDS if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class LookupQuery:
    """A request for a person's data, limited to the purpose's field scope."""

    personal_id: str
    fields: tuple[str, ...] = ()
    address_scheme: str | None = None


class Query(Protocol):
    """A request body: the query of one operation (each operation module defines its own)."""

    @property
    def personal_id(self) -> str | None:
        """The personal id asked about, if the query names one."""


@runtime_checkable
class Searching(Protocol):
    """A query that names nobody and finds people by criteria: the audit records the criteria's names."""

    @property
    def criteria(self) -> tuple[str, ...]:
        """Names of the criteria given."""


@runtime_checkable
class Itemized(Protocol):
    """A query of several items under one envelope (VERIFY_BATCH): each item is an exchange of its own."""

    @property
    def item_personal_ids(self) -> tuple[str, ...]:
        """The personal id of each item, by position; empty when the query is refused whole for its size."""


@dataclass(frozen=True, slots=True)
class ItemStatus:
    """How one item of an itemized request was answered: OK, or REJECTED with a reason code."""

    status: str
    reason_code: str | None = None


@runtime_checkable
class ItemizedResult(Protocol):
    """The result of an itemized query: an outcome per item, in the items' order."""

    @property
    def item_statuses(self) -> tuple[ItemStatus, ...]:
        """Each item's status, by position."""


@runtime_checkable
class Disclosing(Protocol):
    """A result that carries values of a person's record: the audit records which fields."""

    @property
    def fields_disclosed(self) -> tuple[str, ...]:
        """Names of the fields whose values the result carries."""


@dataclass(frozen=True, slots=True)
class Request:
    """The request envelope; ``operation`` stays a string so unknown ones can be answered."""

    request_id: str
    agency: str
    officer_id: str
    case_no: str
    purpose_code: str
    legal_basis: str
    operation: str
    sent_at: datetime
    expires_at: datetime
    body: Query | None = None
    # An investigation's mark (its purpose must allow it): the exchange stays out of the citizen's
    # access history until this moment, on this legal basis. Both None for any other request.
    hidden_until: datetime | None = None
    hiding_legal_basis: str | None = None

    @property
    def personal_id(self) -> str | None:
        """The personal id asked about, if the body carries one."""
        return self.body.personal_id if self.body is not None else None


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """One field's VERIFY outcome."""

    field: str
    outcome: MatchOutcome


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The VERIFY answer: a verdict and an outcome per field, never a value."""

    verdict: Verdict
    fields: tuple[FieldMatch, ...]


@dataclass(frozen=True, slots=True)
class DisclosedField:
    """One disclosed value with where it came from and when it last changed."""

    name: str
    value: str | date | Address | None
    source: str
    updated_on: date
    # An address given in another scheme than stored: what it was converted from, and the other
    # addresses of the asked scheme the stored one corresponds to when the conversion is 1→N.
    converted_from: Address | None = None
    alternatives: tuple[Address, ...] = ()
    # On the wire, True when the value (with converted_from and alternatives) is in the result's
    # sealed part rather than here; an opened answer has it False again.
    sealed: bool = False


@dataclass(frozen=True, slots=True)
class Sealed:
    """Disclosed values encrypted to the asking agency: a JWE (compact) and the id of the key it needs."""

    key_id: str
    jwe: str


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The LOOKUP answer: only fields in scope; on the wire, their values sealed."""

    found: bool
    fields: tuple[DisclosedField, ...] = ()
    sealed: Sealed | None = None

    @property
    def fields_disclosed(self) -> tuple[str, ...]:
        """Names of the fields whose values it carries (in clear, or sealed)."""
        return tuple(f.name for f in self.fields if f.value is not None or f.sealed)


@dataclass(frozen=True, slots=True)
class Response:
    """The one answer to a request record (an exchange)."""

    request_id: str
    exchange_id: str
    agency: str
    operation: str
    status: ResponseStatus
    answered_at: datetime
    reason_code: str | None = None
    message_vi: str | None = None
    message_en: str | None = None
    # The operation's result (a type of its module in ``dancu_bus.operations``); None when rejected.
    result: object | None = None
    # Not in the Avro body: the trace id of the record's ``traceparent`` header, as the SDK read it.
    trace_id: str | None = field(default=None, compare=False)

    @property
    def verify(self) -> VerifyResult | None:
        """The result when it is a VERIFY's."""
        return self.result if isinstance(self.result, VerifyResult) else None

    @property
    def lookup(self) -> LookupResult | None:
        """The result when it is a LOOKUP's."""
        return self.result if isinstance(self.result, LookupResult) else None

    @property
    def fields_disclosed(self) -> tuple[str, ...]:
        """Names of the fields whose values this response carries."""
        return self.result.fields_disclosed if isinstance(self.result, Disclosing) else ()


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a stored value came from and when it was last updated."""

    source: str
    updated_on: date


@dataclass(frozen=True, slots=True)
class Citizen:
    """A person's record in the population store."""

    personal_id: str
    full_name: str
    birth_date: date
    sex: str
    ethnic_group: str
    religion: str
    nationality: str
    permanent_address: Address
    household_id: str
    household_relation: str
    phone: str | None
    status: str
    provenance: Mapping[str, Provenance] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One exchange as the audit consumer witnessed it; names of disclosed fields, never values."""

    exchange_id: str
    request_id: str
    received_at: datetime
    agency: str
    claimed_agency: str
    officer_id: str
    case_no: str
    purpose_code: str
    legal_basis: str
    operation: str
    personal_id: str | None
    status: str
    reason_code: str | None
    fields_disclosed: tuple[str, ...]
    answered_at: datetime
    request_topic: str
    request_partition: int
    request_offset: int
    # The hash chain of the record's audit partition (dancu_bus.audit.chain); empty until sealed.
    prev_exchange_id: str | None = None
    prev_hash: str = ""
    hash: str = ""
    # Names of the criteria of a query that names nobody (SEARCH): what was searched by, never with what.
    criteria: tuple[str, ...] = ()
    # The W3C trace id of the request's ``traceparent`` (``dancu_bus.tracing``), when it had a valid one.
    trace_id: str | None = None
    # What the exchange cost the asker in VND, for an operation that states its fee (SELF: 0, Art. 8.2).
    fee: int | None = None
    # The request's mark hiding it from the citizen until a moment, and the mark's legal basis.
    hidden_until: datetime | None = None
    hiding_legal_basis: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseHalf:
    """What an exchange's audit record takes from its response."""

    agency: str
    request_id: str
    status: str
    reason_code: str | None
    fields_disclosed: tuple[str, ...]
    answered_at: datetime
    # An itemized answer's outcome per item (``ItemizedResult``); empty for any other answer.
    items: tuple[ItemStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditPending:
    """Half of an exchange the audit has read and not yet recorded whole: its request or its response."""

    exchange_id: str
    seen_at: datetime
    request: AuditRecord | None = None
    response: ResponseHalf | None = None
    unanswered_recorded: bool = False
    # An itemized request's personal ids by position (``Itemized``): each item is recorded on its own.
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record (or a batch) nobody could use, kept with its origin and the reason, within bounds."""

    topic: str
    partition: int
    offset: int
    last_offset: int
    timestamp: datetime
    original_key: bytes | None
    original_value: bytes | None
    value_size: int
    value_sha256: str | None
    headers: tuple[tuple[str, bytes | None], ...]
    headers_dropped: int
    error_code: str
    error: str
    failed_by: str
    failed_at: datetime
    key_size: int = -1
    # The original (key, value, headers, full error) sealed to the operators' key; None: redacted.
    sealed: Sealed | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterOriginal:
    """What a dead letter keeps of the record's sender's own bytes and words, for operators only."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    error: str
