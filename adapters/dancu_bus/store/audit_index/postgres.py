"""The audit index in PostgreSQL, through asyncpg and a small pool (the population store's driver)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Self

import asyncpg

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
from dancu_bus.store.postgres import translated
from dancu_bus.timestamps import to_epoch_ms

__all__ = ["PostgresAuditIndex"]

# How errors name this database (``store.postgres.translated``).
_WHAT = "postgres audit index"

# COLLATE "C" orders exchange ids by code point, as SQLite does: pages come out the same on both.
_TABLES = """
CREATE TABLE IF NOT EXISTS audit_records (
    exchange_id       text COLLATE "C" PRIMARY KEY,
    received_ms       bigint NOT NULL,
    agency            text NOT NULL,
    personal_id       text,
    purpose_code      text NOT NULL,
    operation         text NOT NULL,
    status            text NOT NULL,
    reason_code       text,
    request_id        text NOT NULL,
    claimed_agency    text NOT NULL,
    officer_id        text NOT NULL,
    case_no           text NOT NULL,
    legal_basis       text NOT NULL,
    fields_disclosed  text NOT NULL,
    answered_ms       bigint NOT NULL,
    request_topic     text NOT NULL,
    request_partition integer NOT NULL,
    request_offset    bigint NOT NULL,
    prev_exchange_id  text,
    prev_hash         text NOT NULL,
    hash              text NOT NULL,
    criteria          text NOT NULL,
    trace_id          text,
    audit_partition   integer NOT NULL,
    audit_offset      bigint NOT NULL,
    fee               bigint,
    hidden_ms         bigint,
    hiding_legal_basis text
);
CREATE TABLE IF NOT EXISTS audit_positions (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
_SCHEMA = _TABLES + "".join(
    f"CREATE INDEX IF NOT EXISTS {name} ON audit_records ({on});\n" for name, on in INDEXES.items()
)
_COLUMNS_OF = (
    "SELECT column_name FROM information_schema.columns"
    " WHERE table_name = 'audit_records' AND table_schema = current_schema()"
)
_SCHEMA_LOCK = 0x6175646974  # "audit": serialises table creation between processes opening at once
# Monotonic (as in SQLite): a row only gives way to a later record of its exchange, a position only moves on.
_UPSERT = (
    f"INSERT INTO audit_records ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
    " ON CONFLICT (exchange_id) DO UPDATE SET "
    + ", ".join(f"{column} = EXCLUDED.{column}" for column in COLUMNS[1:])
    + " WHERE EXCLUDED.audit_offset > audit_records.audit_offset"
)
_DELETE = "DELETE FROM audit_records WHERE exchange_id = $1"
_POSITION = (
    "INSERT INTO audit_positions (topic, partition, next_offset) VALUES ($1, $2, $3)"
    " ON CONFLICT (topic, partition) DO UPDATE"
    " SET next_offset = GREATEST(audit_positions.next_offset, EXCLUDED.next_offset)"
)


def _dollar(n: int) -> str:
    return f"${n}"


class PostgresAuditIndex:
    """The audit index in PostgreSQL: ``async with PostgresAuditIndex(dsn) as index``."""

    def __init__(self, dsn: str, *, create: bool = False, pool_size: int = 2, query_timeout_s: float = 60.0):
        self._dsn = dsn
        self._create = create
        self._pool_size = pool_size
        self._query_timeout_s = query_timeout_s
        self._pool: asyncpg.Pool | None = None
        # Why the tables cannot be used as they are (an earlier release's), until ``reset`` rebuilds them.
        self._outdated: str | None = None

    async def __aenter__(self) -> Self:
        """Open the pool; create the tables only when ``create`` was asked."""
        async with translated(_WHAT):
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=10.0,
                command_timeout=self._query_timeout_s,
            )
        try:
            async with translated(_WHAT), pool.acquire() as connection:
                if self._create:
                    async with connection.transaction():
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                        await connection.execute(_SCHEMA)
                if await connection.fetchval("SELECT to_regclass('audit_records')") is None:
                    raise ConfigError(
                        "the database holds no audit index: build it with `dancu-bus audit index --once`"
                    )
                columns = await connection.fetch(_COLUMNS_OF)
                self._outdated = outdated((row[0] for row in columns), "in PostgreSQL")
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close every connection of the pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            async with translated(_WHAT):
                await pool.close()

    async def query(self, q: AuditQuery, *, limit: int = 100, cursor: str | None = None) -> AuditPage:
        """One page of matches after ``cursor``, in (received_at, exchange_id) order."""
        check_limit(limit)
        after = None if cursor is None else decode_cursor(q, cursor)
        sql, params = select(q, after, limit + 1, _dollar)
        async with self._connection() as connection:
            rows = await connection.fetch(sql, *params)
        return page(q, rows, limit)

    def records(self, q: AuditQuery) -> AsyncIterator[AuditRecord]:
        """Every match, paging internally."""
        return every_record(self, q)

    async def count(self, q: AuditQuery) -> int:
        """How many records match."""
        clause, params = where(q, None, _dollar)
        async with self._connection() as connection:
            return int(await connection.fetchval(f"SELECT count(*) FROM audit_records{clause}", *params))

    async def positions(self, topic: str) -> dict[int, int]:
        """The next offset of each partition indexed; ConfigError when the index follows another topic."""
        async with self._connection() as connection:
            rows = await connection.fetch("SELECT topic, partition, next_offset FROM audit_positions")
        return positions_of(rows, topic, "in PostgreSQL", "DANCU_AUDIT_INDEX__DSN")

    async def apply(self, batch: IndexBatch) -> None:
        """Records, tombstones and positions in one transaction."""
        written, removed = last_of_each(batch.changes)
        async with self._connection() as connection, connection.transaction():
            if removed:
                await connection.executemany(_DELETE, [(stored(e),) for e in removed])
            if written:
                await connection.executemany(_UPSERT, [to_row(i) for i in written])
            if batch.positions:
                await connection.executemany(
                    _POSITION, [(batch.topic, p, offset) for p, offset in batch.positions.items()]
                )

    async def expire(self, before: datetime) -> int:
        """Delete what was received before ``before``."""
        async with self._connection() as connection:
            status = await connection.execute(
                "DELETE FROM audit_records WHERE received_ms < $1", to_epoch_ms(before)
            )
        return int(status.rsplit(" ", 1)[-1])

    async def reset(self) -> None:
        """Drop and recreate the tables, in one transaction."""
        async with self._connection(outdated_ok=True) as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await connection.execute("DROP TABLE IF EXISTS audit_records, audit_positions")
            await connection.execute(_SCHEMA)
        self._outdated = None

    @asynccontextmanager
    async def _connection(
        self, *, outdated_ok: bool = False
    ) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        if self._pool is None:
            raise RuntimeError("PostgresAuditIndex used outside `async with`")
        if self._outdated is not None and not outdated_ok:
            raise ConfigError(self._outdated)
        async with translated(_WHAT), self._pool.acquire() as connection:
            yield connection
