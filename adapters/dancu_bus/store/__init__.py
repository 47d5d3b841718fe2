"""Where citizens are kept: the ``PopulationStore`` seam, SQLite and PostgreSQL backends, synthetic people."""

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
    if settings.backend == "postgres":
        return _postgres(settings)
    raise ConfigError(f"unknown store backend {settings.backend!r}")


def _postgres(settings: StoreSettings) -> PopulationStore:
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
    return PostgresStore(settings.dsn.get_secret_value())
