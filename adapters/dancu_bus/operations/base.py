"""What an operation is: the one place that knows its query, result, Avro branches, checks and answer.

An operation module subclasses ``Operation`` once; ``Operations`` (the registry) is what the codec,
the resolver, the SDK and the audit dispatch through, so adding an operation is adding a module and its
schema branch (``schemas/operations/``), never a branch in their code.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, Protocol, TypeVar

from dancu_bus import personal_id
from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView, CodeProblem
from dancu_bus.codec import Codec
from dancu_bus.codec.framing import schema_directory
from dancu_bus.contracts import Citizen, Provenance, Sealed
from dancu_bus.corrections import CorrectionTicket, Tickets
from dancu_bus.reasons import Reason, Rejection

__all__ = [
    "FOUND",
    "NOT_FOUND",
    "Asking",
    "Emitted",
    "Operation",
    "Population",
    "SealedOperation",
    "schema_branches",
]

Q = TypeVar("Q")
R = TypeVar("R")


class Population(Protocol):
    """What operations read from the population store."""

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        """The citizens with these ids; missing ids are absent."""

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        """Citizens with this folded name born on this date, at most ``limit``, in personal-id order."""

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        """Set one field of a citizen and its provenance (idempotent); False when nobody has the id."""


class _NoTickets:
    """Where no correction tickets are kept (a benchmark, a test): none is found, none can be written."""

    topic = ""

    def get(self, ticket_id: str) -> CorrectionTicket | None:
        return None

    def encode(self, ticket: CorrectionTicket) -> bytes:
        raise LookupError("this resolver keeps no correction tickets: give its handler a TicketBook")


_NO_TICKETS: Tickets = _NoTickets()


@dataclass(frozen=True, slots=True)
class Emitted:
    """A record an answer adds to its response's transaction: both are written, or neither."""

    topic: str
    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Asking:
    """What an admitted query is answered with, besides the query itself."""

    purpose: Purpose
    catalogues: CatalogueView
    # The citizens the batch's queries name (``Operation.personal_ids``), read in one store call.
    citizens: Mapping[str, Citizen]
    store: Population
    # The agency of the request topic, and the exchange (``dancu_bus.exchanges``) being answered.
    agency: str = ""
    exchange_id: str = ""
    tickets: Tickets = field(default_factory=lambda: _NO_TICKETS)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Records the answer adds (``Emitted``); the handler writes them only if the response is OK.
    emitted: list[Emitted] = field(default_factory=list)


FOUND = "FOUND"
NOT_FOUND = "NOT_FOUND"
"""The verdicts of an operation that finds a record or not (LOOKUP, SEARCH, TICKET_STATE), for metrics;
VERIFY's own ``Verdict`` says NOT_FOUND too, so the two read alike on a dashboard."""


class Operation(ABC, Generic[Q, R]):
    """One operation: its wire mapping (``codec.operations.OperationWire``), admission and answer.

    Subclasses set the class attributes and implement the abstract methods; nothing else in the code
    base needs to know the operation exists.
    """

    name: str
    query_type: type[Q]
    result_type: type[R]
    body_schema: Mapping[str, Any]
    # None: the result has a ``Response`` field of its own (VERIFY and LOOKUP, from contract version 1).
    result_schema: Mapping[str, Any] | None = None
    result_field: str = "result"
    result_name: str
    # Answers carry personal data: sealed to the agency's answer key, refused when it has none. Only a
    # ``SealedOperation`` is, and it says how.
    sealed: bool = False
    # The only agencies that may use it, whatever the registry grants (None: those the registry grants).
    granted_to: frozenset[str] | None = None
    # The operation whose registry grant and purposes admit this one (None: its own name). VERIFY_BATCH
    # is VERIFY in bulk: it discloses nothing VERIFY does not, so access rights keep one source.
    admitted_as: str | None = None
    # What the exchange costs the asker, in VND, as its audit record states it (SELF: 0, Art. 8.2 free);
    # None: the operation states no fee.
    fee: int | None = None

    @property
    def grant(self) -> str:
        """The operation name an agency and its purpose must be granted for this one."""
        return self.admitted_as or self.name

    def spent(self, result: R) -> int:
        """How much of the agency's quota the answer spends: one exchange, one request."""
        return 1

    def verdicts(self, result: R) -> Mapping[str, int]:
        """How many answers of each verdict ``result`` holds (metrics): none for an operation without one."""
        return {}

    def within_quota(self, result: R, granted: int, refusal: Rejection) -> R | None:
        """The result when only ``granted`` of what it ``spent`` fits the quota; None: refuse it whole."""
        return None

    def owns_body(self, body: object) -> bool:
        """Whether ``body`` is a query of this operation."""
        return isinstance(body, self.query_type)

    def owns_result(self, result: object) -> bool:
        """Whether ``result`` is a result of this operation."""
        return isinstance(result, self.result_type)

    def personal_ids(self, query: Q) -> tuple[str, ...]:
        """The personal ids whose records the answer needs, read for the whole batch at once."""
        return ()

    @abstractmethod
    def body_record(self, body: Q) -> dict[str, Any]:
        """The query as the Avro record of its body branch."""

    @abstractmethod
    def body_from(self, record: Mapping[str, Any]) -> Q:
        """The query from the Avro record of its body branch."""

    @abstractmethod
    def result_record(self, result: R) -> dict[str, Any]:
        """The result as an Avro record."""

    @abstractmethod
    def result_from(self, record: Mapping[str, Any]) -> R:
        """The result from an Avro record."""

    def code_problem(self, query: Q, catalogues: CatalogueView) -> CodeProblem | None:
        """The first catalogue code of the query its catalogue lacks (the SDK checks before sending)."""
        return None

    @abstractmethod
    def check(self, query: Q, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """The first refusal of the query's own checks (required fields, ids, scope, codes), or None."""

    @abstractmethod
    async def answer(self, query: Q, asking: Asking) -> R | Rejection:
        """The result of an admitted query, or its refusal when only the record can refuse it (SELF's
        NOT_BOUND: the asker is not bound to the record, or nobody has the id)."""


class SealedOperation(Operation[Q, R]):
    """An operation whose answers are sealed to the asking agency's key: the hooks of ``sealing.Sealing``."""

    sealed = True
    # The JWE's ``cty``: what the plaintext of the sealed part is.
    content_type: str

    @abstractmethod
    def seal_values(self, result: R, exchange_id: str, codec: Codec) -> tuple[bytes, R] | None:
        """The plaintext to seal and the result without its values; None when there is nothing to seal."""

    @abstractmethod
    def sealed_part(self, result: R) -> Sealed | None:
        """The result's sealed part, if it has one."""

    @abstractmethod
    def with_sealed(self, result: R, sealed: Sealed) -> R:
        """The result carrying ``sealed``."""

    @abstractmethod
    def open_values(self, result: R, plaintext: bytes, codec: Codec) -> tuple[str, R]:
        """The exchange id the plaintext names and the result with its values."""


def id_refusal(value: str) -> Rejection | None:
    """INVALID_PERSONAL_ID saying what is wrong with ``value``, or None for a well-formed personal id."""
    try:
        personal_id.parse(value)
    except personal_id.PersonalIdError as exc:
        return Rejection(Reason.INVALID_PERSONAL_ID, exc.reason)
    return None


def schema_branches(file: str) -> dict[str, Any]:
    """The ``body`` (and ``result``) records of the packaged ``schemas/operations/<file>.avsc``."""
    source = (schema_directory() / "operations" / f"{file}.avsc").read_text(encoding="utf-8")
    branches: dict[str, Any] = json.loads(source)
    return branches
