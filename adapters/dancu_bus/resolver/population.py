"""The population store as the resolver serves from it: the store it opened, or no answer at all.

A store opened by mistake (a mistyped path, a file deleted and created again, a table emptied)
would answer NOT_FOUND for everyone. So the resolver takes the store's identity when it starts, is
not ready while the store is not that one, and before it answers NOT_FOUND checks that it still is:
if not, the batch waits (a retriable StoreError) until the right store is back or the resolver is
restarted on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol

from dancu_bus.contracts import Citizen, Provenance
from dancu_bus.errors import StoreError
from dancu_bus.store import PopulationStore, StoreIdentity

__all__ = ["CheckedStore", "Citizens"]


class Citizens(Protocol):
    """What the resolver reads from its store."""

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        """The citizens with these ids; missing ids are absent."""

    async def ping(self) -> None:
        """Raise StoreError if the store cannot serve now."""


class CheckedStore:
    """Reads citizens from ``store``, the store with ``identity``, and refuses to answer from another."""

    def __init__(self, store: PopulationStore, identity: StoreIdentity) -> None:
        self._store = store
        self.identity = identity

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        """The citizens with these ids; a retriable StoreError, not an absence, if the store changed."""
        found = await self._store.get_many(personal_ids)
        if len(found) < len(set(personal_ids)):
            await self._store.check(self.identity)
        return found

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        """Citizens with this folded name born on this date; nobody only if the store is still the one."""
        found = await self._store.find_by_name(name_key, birth_date, limit)
        if not found:
            await self._store.check(self.identity)
        return found

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        """Set one field of a citizen and its provenance (a CORRECT accepted); False if nobody has the id
        in the store it opened (a retriable StoreError if the store changed)."""
        corrected = await self._store.correct(personal_id, field, value, provenance)
        if not corrected:
            await self._store.check(self.identity)
        return corrected

    async def ping(self) -> None:
        """A StoreError when the store cannot answer, is another one, or holds nobody."""
        await self._store.ping()
        await self._store.check(self.identity)
        if self.identity.citizens == 0:
            raise StoreError(
                "the store holds no citizens: fill it with `dancu-bus store seed`", retriable=True
            )
