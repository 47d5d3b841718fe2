"""The audit index in one SQLite file (WAL: ``audit query`` reads while the indexer writes).

Every call runs on the connection's own worker thread (``store.sqlite_thread``), as the population store's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from dancu_bus.store.audit_index.protocol import every_record
from dancu_bus.store.audit_index.query import AuditPage, AuditQuery, check_limit, decode_cursor
from dancu_bus.store.audit_index.rows import (
    COLUMNS,
    INDEXES,
    IndexBatch,
    last_of_each,
    outdated,
    page,
    positions_of,
    select,
    stored,
    to_row,
    where,
)
from dancu_bus.store.sqlite_thread import SqliteThread
from dancu_bus.timestamps import to_epoch_ms

__all__ = ["SqliteAuditIndex"]

P = ParamSpec("P")
R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    exchange_id       TEXT PRIMARY KEY NOT NULL,
    received_ms       INTEGER NOT NULL,
    agency            TEXT NOT NULL,
    personal_id       TEXT,
    purpose_code      TEXT NOT NULL,
    operation         TEXT NOT NULL,
    status            TEXT NOT NULL,
    reason_code       TEXT,
    request_id        TEXT NOT NULL,
    claimed_agency    TEXT NOT NULL,
    officer_id        TEXT NOT NULL,
    case_no           TEXT NOT NULL,
    legal_basis       TEXT NOT NULL,
    fields_disclosed  TEXT NOT NULL,
    answered_ms       INTEGER NOT NULL,
    request_topic     TEXT NOT NULL,
    request_partition INTEGER NOT NULL,
    request_offset    INTEGER NOT NULL,
    prev_exchange_id  TEXT,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    criteria          TEXT NOT NULL,
    trace_id          TEXT,
    audit_partition   INTEGER NOT NULL,
    audit_offset      INTEGER NOT NULL,
    fee               INTEGER,
    hidden_ms         INTEGER,
    hiding_legal_basis TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_positions (
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
""" + "".join(f"CREATE INDEX IF NOT EXISTS {name} ON audit_records ({on});\n" for name, on in INDEXES.items())
_DROP = "DROP TABLE IF EXISTS audit_records; DROP TABLE IF EXISTS audit_positions;"
# Monotonic, so that two writers at once (an `audit report` catching up while `audit index` follows) never
# undo each other: a row only gives way to a later record of its exchange (always in the same partition),
# and a position only moves forward.
_UPSERT = (
    f"INSERT INTO audit_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (exchange_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[1:])
    + " WHERE excluded.audit_offset > audit_records.audit_offset"
)
_DELETE = "DELETE FROM audit_records WHERE exchange_id = ?"
_POSITION = (
    "INSERT INTO audit_positions (topic, partition, next_offset) VALUES (?, ?, ?)"
    " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = max(next_offset, excluded.next_offset)"
)


def _question(_n: int) -> str:
    return "?"


class SqliteAuditIndex:
    """The audit index in one SQLite file: ``async with SqliteAuditIndex(path) as index``."""

    def __init__(self, path: Path | str, *, create: bool = False, timeout_s: float = 10.0) -> None:
        self._path = Path(path)
        self._create = create
        self._timeout_s = timeout_s
        self._thread = SqliteThread("sqlite-audit-index", "sqlite audit index")
        self._db: sqlite3.Connection | None = None
        # Why the file cannot be used as it is (an earlier release's table), until ``reset`` rebuilds it.
        self._outdated: str | None = None

    async def __aenter__(self) -> Self:
        """Start the worker thread and connect; the file is created only when ``create`` was asked."""
        self._thread.start()
        try:
            self._db = await self._thread.run(_connect, self._path, self._create, self._timeout_s)
            columns = await self._thread.run(
                _fetch, self._db, "SELECT name FROM pragma_table_info('audit_records')", []
            )
            self._outdated = outdated((row[0] for row in columns), str(self._path))
        except BaseException:
            self._thread.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection and stop the worker thread."""
        try:
            if self._db is not None:
                await self._thread.run(self._db.close)
        finally:
            self._db = None
            self._thread.stop()

    async def query(self, q: AuditQuery, *, limit: int = 100, cursor: str | None = None) -> AuditPage:
        """One page of matches after ``cursor``, in (received_at, exchange_id) order."""
        check_limit(limit)
        after = None if cursor is None else decode_cursor(q, cursor)
        sql, params = select(q, after, limit + 1, _question)
        return page(q, await self._thread.run(_fetch, self._connection(), sql, params), limit)

    def records(self, q: AuditQuery) -> AsyncIterator[AuditRecord]:
        """Every match, paging internally."""
        return every_record(self, q)

    async def count(self, q: AuditQuery) -> int:
        """How many records match."""
        clause, params = where(q, None, _question)
        rows = await self._thread.run(
            _fetch, self._connection(), f"SELECT count(*) FROM audit_records{clause}", params
        )
        return int(rows[0][0])

    async def positions(self, topic: str) -> dict[int, int]:
        """The next offset of each partition indexed; ConfigError when the index follows another topic."""
        rows = await self._thread.run(
            _fetch, self._connection(), "SELECT topic, partition, next_offset FROM audit_positions", []
        )
        return positions_of(rows, topic, str(self._path), "DANCU_AUDIT_INDEX__PATH")

    async def apply(self, batch: IndexBatch) -> None:
        """Records, tombstones and positions in one transaction."""
        await self._thread.run(_apply, self._connection(), batch)

    async def expire(self, before: datetime) -> int:
        """Delete what was received before ``before``."""
        return await self._thread.run(_expire, self._connection(), to_epoch_ms(before))

    async def reset(self) -> None:
        """Drop and recreate the tables."""
        await self._thread.run(_reset, self._opened())
        self._outdated = None

    def _connection(self) -> sqlite3.Connection:
        db = self._opened()
        if self._outdated is not None:
            raise ConfigError(self._outdated)
        return db

    def _opened(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SqliteAuditIndex used outside `async with`")
        return self._db


# -- everything below runs on the worker thread


def _connect(path: Path, create: bool, timeout_s: float) -> sqlite3.Connection:
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {path.parent} for the audit index: {exc}") from exc
    elif not path.is_file():
        raise ConfigError(
            f"no audit index at {path}: build it with `dancu-bus audit index --once`"
            " (or set DANCU_AUDIT_INDEX__PATH to where it is)"
        )
    mode = "rwc" if create else "rw"
    db = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=timeout_s, isolation_level=None
    )
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        if create:
            db.executescript(_SCHEMA)
        found = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'audit_records'").fetchone()
        if not found[0]:
            raise ConfigError(f"{path} is no audit index: build one with `dancu-bus audit index --once`")
    except BaseException:
        db.close()
        raise
    return db


def _fetch(db: sqlite3.Connection, sql: str, params: list[object]) -> list[Any]:
    return db.execute(sql, params).fetchall()


def _apply(db: sqlite3.Connection, batch: IndexBatch) -> None:
    written, removed = last_of_each(batch.changes)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(_DELETE, [(stored(exchange_id),) for exchange_id in removed])
        db.executemany(_UPSERT, [to_row(indexed) for indexed in written])
        db.executemany(_POSITION, [(batch.topic, p, offset) for p, offset in batch.positions.items()])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _expire(db: sqlite3.Connection, before_ms: int) -> int:
    return db.execute("DELETE FROM audit_records WHERE received_ms < ?", (before_ms,)).rowcount


def _reset(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in (*_DROP.split(";"), *_SCHEMA.split(";")):
            if statement.strip():
                db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
