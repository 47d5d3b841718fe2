"""The audit index: a queryable copy of the audit topic in SQLite (default) or PostgreSQL.

``dancu-bus audit index`` (``dancu_bus.audit.indexer``) fills it from the topic and keeps it caught up;
inspectors' queries and reports read it through ``AuditIndex``. Rows are keyed by exchange id, as the
topic is: a record superseding another (a late answer replacing UNANSWERED) replaces its row. The
offsets consumed are stored in the same transaction as the rows, so the indexer resumes where it
stopped; ``--rebuild`` empties the index and reads the topic again from its beginning.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from dancu_bus.errors import ConfigError
from dancu_bus.settings import AuditIndexSettings, Settings
from dancu_bus.store.audit_index.protocol import AuditIndex, AuditIndexBackend, every_record
from dancu_bus.store.audit_index.query import MAX_LIMIT, AuditPage, AuditQuery, visible_to_citizen
from dancu_bus.store.audit_index.retention import expiry_cutoff
from dancu_bus.store.audit_index.rows import IndexBatch, Indexed
from dancu_bus.store.audit_index.sqlite import SqliteAuditIndex

__all__ = [
    "MAX_LIMIT",
    "AuditIndex",
    "AuditIndexBackend",
    "AuditPage",
    "AuditQuery",
    "IndexBatch",
    "Indexed",
    "SqliteAuditIndex",
    "every_record",
    "expiry_cutoff",
    "index_backend",
    "open_audit_index",
    "visible_to_citizen",
]


def open_audit_index(settings: Settings) -> AbstractAsyncContextManager[AuditIndex]:
    """The configured audit index for reading, not yet connected: enter it with ``async with``.

    An index that was never built is a ConfigError, never an empty answer.
    """
    return index_backend(settings.audit_index)


def index_backend(settings: AuditIndexSettings, *, create: bool = False) -> AuditIndexBackend:
    """The audit index the settings name; ``create`` (the indexer) makes its tables when missing."""
    if settings.backend == "sqlite":
        return SqliteAuditIndex(settings.path, create=create)
    if settings.backend == "postgres":
        return _postgres(settings, create)
    raise ConfigError(f"unknown audit index backend {settings.backend!r}")


def _postgres(settings: AuditIndexSettings, create: bool) -> AuditIndexBackend:
    """A PostgresAuditIndex on the settings' DSN; ConfigError when there is none or the driver is missing."""
    if settings.dsn is None:
        raise ConfigError(
            "audit index backend 'postgres' needs a DSN:"
            " set DANCU_AUDIT_INDEX__DSN=postgresql://user:password@host/db"
        )
    try:
        # Imported here: asyncpg is the optional extra `postgres`; SQLite users need not install it.
        from dancu_bus.store.audit_index.postgres import PostgresAuditIndex
    except ImportError as exc:
        raise ConfigError(
            f"audit index backend 'postgres' needs `pip install dancu-bus[postgres]`: {exc}"
        ) from exc
    return PostgresAuditIndex(settings.dsn.get_secret_value(), create=create)
