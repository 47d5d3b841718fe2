"""The catalogues as their compacted topics say now: fed record by record, read as snapshots."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dancu_bus.catalogues.model import Catalogue, CatalogueEntry
from dancu_bus.catalogues.view import CatalogueView
from dancu_bus.catalogues.wire import decode_entry
from dancu_bus.codec import Codec
from dancu_bus.errors import CodecError

__all__ = ["LiveCatalogues"]

log = logging.getLogger(__name__)


class LiveCatalogues:
    """Entries applied from the catalogue topics; ``view`` is a snapshot rebuilt after changes."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._entries: dict[tuple[Catalogue, str], CatalogueEntry] = {}
        self._view = CatalogueView(())
        self._stale = False

    @property
    def view(self) -> CatalogueView:
        """The catalogues as applied so far; rebuilt once after a run of changes, not per record."""
        if self._stale:
            self._view = CatalogueView(self._entries.values())
            self._stale = False
        return self._view

    def applier(self, catalogue: Catalogue) -> Callable[[bytes | None, bytes | None], None]:
        """A function taking one record (key, value) of ``catalogue``'s topic."""

        def apply(key: bytes | None, value: bytes | None) -> None:
            self.apply(catalogue, key, value)

        return apply

    def apply(self, catalogue: Catalogue, key: bytes | None, value: bytes | None) -> None:
        """Take one record; a tombstone removes its key; an unreadable record is logged and skipped."""
        name = (key or b"").decode("utf-8", "replace")
        if value is None:
            self._stale |= self._entries.pop((catalogue, name), None) is not None
            return
        try:
            entry = decode_entry(self._codec, value)
        except CodecError as exc:
            log.error("catalogue record %s %r is unreadable and was skipped: %s", catalogue, name, exc)
            return
        if entry.catalogue is not catalogue or entry.key != name:
            log.error(
                "catalogue record %r on the %s topic is %s %s; skipped",
                name,
                catalogue,
                entry.catalogue,
                entry.key,
            )
            return
        self._entries[catalogue, name] = entry
        self._stale = True
