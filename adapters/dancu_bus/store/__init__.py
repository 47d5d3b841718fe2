"""Where citizens are kept: the ``PopulationStore`` seam, its SQLite backend, and a synthetic population."""

from __future__ import annotations

from dancu_bus.errors import ConfigError
from dancu_bus.settings import StoreSettings
from dancu_bus.store.protocol import PopulationStore
from dancu_bus.store.sqlite import SqliteStore

__all__ = ["PopulationStore", "SqliteStore", "open_store"]


def open_store(settings: StoreSettings) -> PopulationStore:
    """The store the settings name, not yet connected: enter it with ``async with``."""
    if settings.backend == "sqlite":
        return SqliteStore(settings.path)
    raise ConfigError(f"unknown store backend {settings.backend!r}")
