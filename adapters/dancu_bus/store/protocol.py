"""The seam between the resolver and where citizens are kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from dancu_bus.contracts import Citizen, Provenance

__all__ = ["BulkLoading", "PopulationStore", "StoreIdentity"]


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
