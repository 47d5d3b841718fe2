"""Where citizens are kept: the ``PopulationStore`` seam, SQLite and PostgreSQL backends, synthetic people."""

from __future__ import annotations

from dancu_bus.errors import ConfigError
from dancu_bus.settings import StoreSettings
from dancu_bus.store.protocol import FIND_LIMIT, PopulationStore, StoreIdentity, check_find
from dancu_bus.store.sqlite import SqliteStore

__all__ = ["FIND_LIMIT", "PopulationStore", "SqliteStore", "StoreIdentity", "check_find", "open_store"]


def open_store(settings: StoreSettings, *, create: bool = False) -> PopulationStore:
    """The store the settings name, not yet connected: enter it with ``async with``.

    Only ``create`` (``store init``, ``store seed``) makes a new store; opening one that is not there
    is an error, never an empty store.
    """
    if settings.backend == "sqlite":
        return SqliteStore(settings.path, create=create)
    if settings.backend == "postgres":
        return _postgres(settings, create)
    raise ConfigError(f"unknown store backend {settings.backend!r}")


def _postgres(settings: StoreSettings, create: bool) -> PopulationStore:
    """A PostgresStore on the settings' DSN; ConfigError when there is none or the driver is missing."""
    if settings.dsn is None:
        raise ConfigError(
            "store backend 'postgres' needs a DSN: set DANCU_STORE__DSN=postgresql://user:password@host/db"
        )
    try:
        # Imported here: asyncpg is the optional extra `postgres`; SQLite users need not install it.
        from dancu_bus.store.postgres import PostgresStore
    except ImportError as exc:
        raise ConfigError(f"store backend 'postgres' needs `pip install dancu-bus[postgres]`: {exc}") from exc
    return PostgresStore(settings.dsn.get_secret_value(), create=create)
