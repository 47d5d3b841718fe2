"""The seam between the resolver and where citizens are kept."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from dancu_bus.contracts import Citizen, Provenance
from dancu_bus.text import folded

__all__ = ["FIND_LIMIT", "BulkLoading", "PopulationStore", "StoreIdentity", "check_find"]

# The most citizens one find_by_name may ask for: one name and birth date is shared by a handful of
# people, and a bound keeps any one call cheap whatever it asks.
FIND_LIMIT = 1000
# No stored name holds these (PostgreSQL text cannot, UTF-8 cannot encode a lone surrogate).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    """What a store is: an id written when it was created, and how many citizens it was filled with.

    A store opened by mistake (a mistyped path, a file recreated empty) has another id or no
    citizens; a resolver that checks it answers nothing from it rather than NOT_FOUND to everyone.
    """

    store_id: str
    created_at: datetime
    citizens: int


class PopulationStore(Protocol):
    """A population store; backends only translate these calls to their database."""

    async def __aenter__(self) -> Self:
        """Open connections; nothing connects before this."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close connections."""

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        """The citizens with these ids, in one query; missing ids are absent from the result."""

    async def put_many(self, citizens: Iterable[Citizen]) -> int:
        """Insert or replace citizens; return how many were written."""

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        """Set one field of a citizen and its provenance, in one transaction; False if nobody has the id.

        Idempotent: the same correction written twice leaves the same record (a retried batch does so).
        """

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        """Citizens whose name key is ``name_key`` and who were born on ``birth_date``, at most ``limit``,
        in personal-id order.

        The name key of a name is ``dancu_bus.text.folded(full_name)``. ValueError for what ``check_find``
        refuses; a retriable-or-not StoreError as any other call, and a permanent one when the store
        cannot search (an old store the opening role could not add the name index to).
        """

    async def sample(self, limit: int, *, offset: int = 0) -> Sequence[Citizen]:
        """Up to ``limit`` citizens in personal-id order, for demonstrations and benchmarks."""

    async def count(self) -> int:
        """How many citizens the store holds."""

    async def ping(self) -> None:
        """Raise StoreError if the store cannot answer now."""

    async def identity(self) -> StoreIdentity:
        """The store's identity as it is written in it."""

    async def record_population(self) -> StoreIdentity:
        """Write how many citizens the store holds into its identity (after filling it); the new identity."""

    async def check(self, expected: StoreIdentity) -> None:
        """Raise a retriable StoreError unless this is still the ``expected`` store, and not emptied."""


@runtime_checkable
class BulkLoading(Protocol):
    """A store that writes a whole population faster through a staging area than batch by batch."""

    def loading(self) -> AbstractAsyncContextManager[Callable[[Sequence[Citizen]], Awaitable[int]]]:
        """A context whose writer stages batches; the batches take effect together when it exits."""


def check_find(name_key: str, limit: int) -> None:
    """Raise ValueError unless ``name_key`` is a name key (its own fold) and ``limit`` is 1 … ``FIND_LIMIT``.

    The caller is the resolver, never an agency: an unfolded name (which would find nobody, silently)
    or an unbounded limit is a bug to surface, not a question to answer.
    """
    if not 1 <= limit <= FIND_LIMIT:
        raise ValueError(f"limit must be 1 … {FIND_LIMIT}, got {limit}")
    if folded(name_key) != name_key:
        raise ValueError(f"not a name key (pass text.folded(name)): {name_key[:64]!r}")
    if _UNSTORABLE.search(name_key):
        raise ValueError("a name key with NUL or a lone surrogate matches no stored name: refuse it earlier")
