"""An immutable, indexed snapshot of the catalogues: what validation, conversion and labels read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Protocol

from dancu_bus.catalogues.data import load_entries
from dancu_bus.catalogues.model import DEFAULT_SCHEME, Catalogue, CatalogueEntry, Label, Successor, entry_key

__all__ = ["CatalogueSource", "CatalogueView", "catalogue_named", "packaged_view"]

Predecessor = tuple[CatalogueEntry, Successor]


class CatalogueSource(Protocol):
    """Anything that holds a current view: a live follower of the topics, or a fixed view."""

    @property
    def view(self) -> CatalogueView:
        """The catalogues as they are now."""


class CatalogueView:
    """Entries by catalogue and ``scheme:code`` key; a new snapshot replaces it when entries change."""

    def __init__(self, entries: Iterable[CatalogueEntry]) -> None:
        tables: dict[Catalogue, dict[str, CatalogueEntry]] = {c: {} for c in Catalogue}
        for entry in entries:
            tables[entry.catalogue][entry.key] = entry
        self._tables = tables
        self._predecessors = _predecessors(tables[Catalogue.COMMUNE].values())

    @property
    def view(self) -> CatalogueView:
        """A fixed view is its own source."""
        return self

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def get(self, catalogue: Catalogue, code: str, scheme: str | None = None) -> CatalogueEntry | None:
        """The entry of ``code`` in ``scheme`` (the catalogue's default scheme if not given), or None."""
        return self._tables[catalogue].get(entry_key(scheme or DEFAULT_SCHEME[catalogue], code))

    def by_key(self, catalogue: Catalogue, key: str) -> CatalogueEntry | None:
        """The entry with this ``scheme:code`` key, or None."""
        return self._tables[catalogue].get(key)

    def entries(self, catalogue: Catalogue, scheme: str | None = None) -> tuple[CatalogueEntry, ...]:
        """A catalogue's entries in load order, of one scheme or of all."""
        table = self._tables[catalogue].values()
        return tuple(e for e in table if scheme is None or e.scheme == scheme)

    def count(self, catalogue: Catalogue, scheme: str | None = None) -> int:
        """How many entries a catalogue has, in one scheme or in all."""
        return len(self.entries(catalogue, scheme)) if scheme else len(self._tables[catalogue])

    def label(self, catalogue: Catalogue, code: str, scheme: str | None = None) -> Label | None:
        """The display name of a code, or None when the catalogue has no such code."""
        entry = self.get(catalogue, code, scheme)
        return entry.label if entry is not None else None

    def current(self, entry: CatalogueEntry) -> CatalogueEntry:
        """The entry a remapped provisional code now stands for (itself if it was never remapped)."""
        seen = {entry.key}
        while entry.replaced_by is not None:
            successor = self.by_key(entry.catalogue, entry.replaced_by)
            if successor is None or successor.key in seen:
                break
            seen.add(successor.key)
            entry = successor
        return entry

    def predecessors(self, commune: CatalogueEntry) -> tuple[Predecessor, ...]:
        """The DVHC-2004 communes that went (wholly or partly) into a DVHC-2025 commune."""
        return self._predecessors.get(commune.key, ())


def _predecessors(communes: Iterable[CatalogueEntry]) -> Mapping[str, tuple[Predecessor, ...]]:
    """The reverse of the communes' successor links, keyed by the successor's entry key."""
    found: dict[str, list[Predecessor]] = {}
    for commune in communes:
        for successor in commune.successors:
            found.setdefault(successor.key, []).append((commune, successor))
    return {key: tuple(links) for key, links in found.items()}


def catalogue_named(name: str) -> Catalogue:
    """The catalogue called ``name`` (``ethnic_group`` and ``ethnic-group`` both work); ValueError if none."""
    try:
        return Catalogue(name.strip().lower().replace("_", "-").replace(" ", "-"))
    except ValueError:
        known = ", ".join(c.value for c in Catalogue)
        raise ValueError(f"no catalogue named {name!r}; known: {known}") from None


@cache
def packaged_view() -> CatalogueView:
    """The catalogues shipped with the package, loaded once per process."""
    return CatalogueView(load_entries())
