"""The population store in PostgreSQL, through asyncpg and a small connection pool.

asyncpg was chosen over psycopg 3 by measurement (PostgreSQL 15 on 127.0.0.1, 2 CPUs, 100,000 seeded
citizens, medians of 7 interleaved rounds, two runs): get_many of 500 random ids fetched 117–120k ids/s
with asyncpg against 89–101k with psycopg (44.6–48.1k against 39.3–44.4k once rows become Citizens);
put_many (COPY into a staging table, then upsert) wrote 36–45k citizens/s against 35–42k with psycopg's
text COPY and 43k with its binary COPY. With asyncpg, put_many of 1,000,000 pre-generated citizens ran
at 36k/s; ``dancu-bus store seed --citizens 1000000`` at 19k/s, bound by the generator (36k/s alone).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date
from types import TracebackType
from typing import Self

import asyncpg

from dancu_bus.contracts import Citizen, Provenance
from dancu_bus.errors import StoreError
from dancu_bus.store.protocol import StoreIdentity, check_find
from dancu_bus.store.rows import (
    COLUMNS,
    KEYING_BATCH,
    NAME_INDEX,
    WRITTEN,
    NameIndex,
    corrected,
    from_row,
    same_day,
    to_row,
)
from dancu_bus.text import folded

__all__ = ["PostgresStore", "is_retriable_sqlstate", "translated"]

# COLLATE "C" orders ids by code point, as SQLite and Python do, and keeps the index cheap. name_key
# (``rows.NAME_KEY``) may be NULL only because a store made before it had it is keyed on opening; its
# index is made there too, for new and older stores alike.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS citizens (
    personal_id        text COLLATE "C" PRIMARY KEY,
    full_name          text NOT NULL,
    birth_date         date NOT NULL,
    sex                text NOT NULL,
    ethnic_group       text NOT NULL,
    religion           text NOT NULL,
    nationality        text NOT NULL,
    address_scheme     text NOT NULL,
    address_province   text NOT NULL,
    address_district   text,
    address_commune    text NOT NULL,
    address_detail     text,
    household_id       text NOT NULL,
    household_relation text NOT NULL,
    phone              text,
    status             text NOT NULL,
    provenance         text NOT NULL,
    name_key           text COLLATE "C"
);
CREATE TABLE IF NOT EXISTS store_identity (
    store_id   text NOT NULL,
    created_at timestamptz NOT NULL,
    citizens   bigint NOT NULL
);
"""
_SCHEMA_LOCK = 0x64616E6375  # "dancu": serialises table creation between processes opening at once
_COLUMN_LIST = ", ".join(COLUMNS)
_SELECT_MANY = f"SELECT {_COLUMN_LIST} FROM citizens WHERE personal_id = ANY($1::text[])"
_SELECT_PAGE = f"SELECT {_COLUMN_LIST} FROM citizens ORDER BY personal_id LIMIT $1 OFFSET $2"
_SELECT_NAMED = (
    f"SELECT {_COLUMN_LIST} FROM citizens"
    " WHERE name_key = $1 AND birth_date = $2 ORDER BY personal_id LIMIT $3"
)
_STAGING = "citizens_staging"
_CREATE_STAGING = f"CREATE TEMP TABLE {_STAGING} (LIKE citizens) ON COMMIT DROP"
_ADD_NAME_KEY = 'ALTER TABLE citizens ADD COLUMN IF NOT EXISTS name_key text COLLATE "C"'
_INDEX = f"CREATE INDEX IF NOT EXISTS {NAME_INDEX} ON citizens (name_key, birth_date)"
_HAS_NAME_KEY = (
    "SELECT EXISTS (SELECT 1 FROM pg_attribute"
    " WHERE attrelid = 'citizens'::regclass AND attname = 'name_key' AND NOT attisdropped)"
)
_SELECT_FOR_UPDATE = f"SELECT {_COLUMN_LIST} FROM citizens WHERE personal_id = $1 FOR UPDATE"
# A corrected row is written whole, its name key with it (a corrected name is found by its new key).
_PLACES = ", ".join(f"${i}" for i in range(1, len(WRITTEN) + 1))
_UPSERT_ONE = (
    f"INSERT INTO citizens ({', '.join(WRITTEN)}) VALUES ({_PLACES}) "
    "ON CONFLICT (personal_id) DO UPDATE SET "
    + ", ".join(f"{column} = EXCLUDED.{column}" for column in WRITTEN[1:])
)

_UNKEYED = (
    "SELECT personal_id, full_name FROM citizens"
    " WHERE personal_id > $1 AND name_key IS NULL ORDER BY personal_id LIMIT $2"
)
# The full_name condition skips a row renamed since it was read: it was written with its key.
_KEY = (
    "UPDATE citizens SET name_key = k.name_key FROM unnest($1::text[], $2::text[], $3::text[])"
    " AS k(personal_id, full_name, name_key)"
    " WHERE citizens.personal_id = k.personal_id AND citizens.full_name = k.full_name"
)
# Adding the index to a large table takes longer than a query may (command_timeout).
_MIGRATION_TIMEOUT_S = 3600.0
# What a role that may read and write, but not alter, the tables (or a standby) raises when asked to.
_NOT_ALLOWED = (asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError)


def _upsert(columns: Sequence[str]) -> str:
    """Move the staged rows into citizens, replacing those with the same id."""
    names = ", ".join(columns)
    return (
        f"INSERT INTO citizens ({names}) SELECT {names} FROM {_STAGING} "
        "ON CONFLICT (personal_id) DO UPDATE SET "
        + ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[1:])
    )


# SQLSTATEs that say "not now" rather than "never": lost connections, exhausted resources, a server
# shutting down or starting, and transactions the server aborted to resolve a conflict.
_RETRIABLE_CLASSES = frozenset({"08", "53"})
_RETRIABLE_STATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01", "55P03"})


def is_retriable_sqlstate(sqlstate: str | None) -> bool:
    """Whether an error with this SQLSTATE may succeed when tried again later."""
    if not sqlstate:
        return False
    return sqlstate[:2] in _RETRIABLE_CLASSES or sqlstate in _RETRIABLE_STATES


class PostgresStore:
    """The population store in PostgreSQL: ``async with PostgresStore(dsn) as store``."""

    def __init__(
        self,
        dsn: str,
        *,
        create: bool = False,
        pool_size: int = 4,
        connect_timeout_s: float = 10.0,
        query_timeout_s: float = 30.0,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        self._dsn = dsn
        self._create = create
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self._query_timeout_s = query_timeout_s
        self._pool: asyncpg.Pool | None = None
        self._written = WRITTEN  # COLUMNS for an older store this role could not add the name key to
        self._search_refusal: str | None = None  # why find_by_name cannot answer, if it cannot

    async def __aenter__(self) -> Self:
        """Open the pool; create the tables and the identity only when ``create`` was asked."""
        async with translated():
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout_s,
                command_timeout=self._query_timeout_s,
            )
        try:
            async with translated(), pool.acquire() as connection:
                if self._create:
                    await _create_schema(connection)
                await _identity(connection)  # a database that holds no store fails here
                found, self._search_refusal = await _complete_name_index(connection)
                self._written = WRITTEN if found.column else COLUMNS
        except BaseException:
            pool.terminate()  # not close(): it waits, and the error being raised is the news
            raise
        self._pool = pool
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close every connection of the pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            async with translated():
                await pool.close()

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        """The citizens with these ids, in one query; missing ids are absent from the result."""
        if not personal_ids:
            return {}
        async with self._connection() as connection:
            rows = await connection.fetch(_SELECT_MANY, list(personal_ids))
        return {row[0]: from_row(row, same_day) for row in rows}

    async def put_many(self, citizens: Iterable[Citizen]) -> int:
        """Insert or replace citizens in one transaction (COPY, then upsert); return how many were given."""
        batch = list(citizens)
        if not batch:
            return 0
        columns = self._written
        rows = _last_of_each_id(batch, len(columns))
        async with self._connection() as connection, connection.transaction():
            await connection.execute(_CREATE_STAGING)
            await connection.copy_records_to_table(_STAGING, records=rows, columns=columns)
            await connection.execute(_upsert(columns))
        return len(batch)

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        """Set one field and its provenance, the row locked meanwhile; False if nobody has the id."""
        async with self._connection() as connection, connection.transaction():
            row = await connection.fetchrow(_SELECT_FOR_UPDATE, personal_id)
            if row is None:
                return False
            citizen = corrected(from_row(row, same_day), field, value, provenance)
            await connection.execute(_UPSERT_ONE, *to_row(citizen, same_day))
        return True

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        """Citizens with this name key and birth date, at most ``limit``, in personal-id order."""
        check_find(name_key, limit)
        if self._pool is None:
            raise RuntimeError("PostgresStore used outside `async with`")
        if self._search_refusal is not None:
            raise StoreError(self._search_refusal, retriable=False)
        async with self._connection() as connection:
            rows = await connection.fetch(_SELECT_NAMED, name_key, birth_date, limit)
        return [from_row(row, same_day) for row in rows]

    async def sample(self, limit: int, *, offset: int = 0) -> Sequence[Citizen]:
        """Up to ``limit`` citizens in personal-id order, skipping the first ``offset``."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative, got {limit} and {offset}")
        async with self._connection() as connection:
            rows = await connection.fetch(_SELECT_PAGE, limit, offset)
        return [from_row(row, same_day) for row in rows]

    async def count(self) -> int:
        """How many citizens the store holds."""
        async with self._connection() as connection:
            return int(await connection.fetchval("SELECT count(*) FROM citizens"))

    async def ping(self) -> None:
        """Raise StoreError if the database cannot answer a trivial query now."""
        async with self._connection() as connection:
            await connection.fetchval("SELECT 1")

    async def identity(self) -> StoreIdentity:
        """The identity written in the database."""
        async with self._connection() as connection:
            return await _identity(connection)

    async def record_population(self) -> StoreIdentity:
        """Write the number of citizens into the identity."""
        async with self._connection() as connection:
            await connection.execute("UPDATE store_identity SET citizens = (SELECT count(*) FROM citizens)")
            return await _identity(connection)

    async def check(self, expected: StoreIdentity) -> None:
        """A retriable StoreError if the database holds another store now, or its citizens were deleted."""
        async with self._connection() as connection:
            found = await _identity(connection)
            held = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM citizens)")
        if found.store_id != expected.store_id:
            detail = f"postgres: the database holds store {found.store_id} now (serving {expected.store_id})"
            raise StoreError(detail, retriable=True)
        if expected.citizens > 0 and not held:
            detail = f"postgres: the store holds no citizens, but was filled with {expected.citizens:,}"
            raise StoreError(detail, retriable=True)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        """A pooled connection; driver and network errors inside become StoreError."""
        if self._pool is None:
            raise RuntimeError("PostgresStore used outside `async with`")
        async with translated(), self._pool.acquire(timeout=self._connect_timeout_s) as connection:
            yield connection


async def _create_schema(connection: asyncpg.pool.PoolConnectionProxy) -> None:
    """Create the tables and the identity unless they exist; a role without CREATE can use existing ones."""
    async with connection.transaction():
        await connection.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
        if await connection.fetchval("SELECT to_regclass('store_identity')") is None:
            await connection.execute(_SCHEMA)
        if not await connection.fetchval("SELECT count(*) FROM store_identity"):
            await connection.execute("INSERT INTO store_identity VALUES ($1, now(), 0)", str(uuid.uuid4()))


async def _complete_name_index(
    connection: asyncpg.pool.PoolConnectionProxy,
) -> tuple[NameIndex, str | None]:
    """Give a store made before the name key its column, keys and index; what it has, why it cannot search.

    Keys are computed here, as ``text.folded`` does (PostgreSQL's lower() is no Unicode case fold),
    KEYING_BATCH rows per transaction: readers go on, and an interrupted opening resumes where it stopped.
    One opener at a time does it (an advisory lock); the others wait, then find it done.
    """
    found = await _name_index(connection)
    if found.complete:
        return found, None
    # Waits as long as another opener's migration may take, not a query's time: there is no hurry.
    await connection.execute(f"SELECT pg_advisory_lock({_SCHEMA_LOCK})", timeout=_MIGRATION_TIMEOUT_S)
    try:
        if not (await _name_index(connection)).complete:
            await _add_name_index(connection)
    except _NOT_ALLOWED as exc:
        found = await _name_index(connection)
        # Served as it is, as before the name key: only find_by_name refuses, saying why.
        return found, found.refusal("postgres", f"this role may not: {exc}")
    finally:
        await connection.execute(f"SELECT pg_advisory_unlock({_SCHEMA_LOCK})")
    found = await _name_index(connection)
    return found, found.refusal("postgres", "an older dancu-bus wrote citizens without keys meanwhile")


async def _name_index(connection: asyncpg.pool.PoolConnectionProxy) -> NameIndex:
    """What the citizens table has of the name key; with the index, unkeyed rows are found at once."""
    column = bool(await connection.fetchval(_HAS_NAME_KEY))
    index = await connection.fetchval("SELECT to_regclass($1)", NAME_INDEX) is not None
    if not (column and index):
        return NameIndex(column, index=False, keyed=False)
    unkeyed = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM citizens WHERE name_key IS NULL)")
    return NameIndex(column, index=True, keyed=not unkeyed)


async def _add_name_index(connection: asyncpg.pool.PoolConnectionProxy) -> None:
    """Add the column (a moment's exclusive lock), key every row, then build the index once."""
    await connection.execute(_ADD_NAME_KEY)
    last = ""
    while True:
        rows = await connection.fetch(_UNKEYED, last, KEYING_BATCH)
        if rows:
            ids, names = [row[0] for row in rows], [row[1] for row in rows]
            await connection.execute(_KEY, ids, names, [folded(name) for name in names])
        if len(rows) < KEYING_BATCH:
            break
        last = rows[-1][0]
    await connection.execute(_INDEX, timeout=_MIGRATION_TIMEOUT_S)


async def _identity(connection: asyncpg.pool.PoolConnectionProxy) -> StoreIdentity:
    if await connection.fetchval("SELECT to_regclass('store_identity')") is None:
        raise StoreError(
            "postgres: the database holds no population store (run `dancu-bus store init`)", retriable=False
        )
    row = await connection.fetchrow("SELECT store_id, created_at, citizens FROM store_identity")
    if row is None:
        raise StoreError("postgres: the store has no identity (run `dancu-bus store init`)", retriable=False)
    return StoreIdentity(row[0], row[1], int(row[2]))


def _last_of_each_id(batch: Sequence[Citizen], width: int) -> list[tuple[object, ...]]:
    """Rows of ``width`` columns in personal-id order, one per id, the last citizen given winning as in
    SQLite's REPLACE."""
    # One INSERT … ON CONFLICT may not touch a row twice, so duplicates are resolved here.
    last = {citizen.personal_id: citizen for citizen in batch}
    rows = [to_row(last[pid], same_day) for pid in sorted(last)]
    return rows if width == len(WRITTEN) else [row[:width] for row in rows]


@asynccontextmanager
async def translated(what: str = "postgres") -> AsyncIterator[None]:
    """Turn asyncpg, network and timeout errors into StoreError, retriable when only unavailable now.

    ``what`` names the database in the message (the population store's, the audit index's).
    """
    try:
        yield
    except asyncpg.PostgresError as exc:
        retriable = is_retriable_sqlstate(exc.sqlstate)
        raise StoreError(f"{what}: {type(exc).__name__}: {exc}", retriable=retriable) from exc
    except (OSError, TimeoutError) as exc:
        raise StoreError(f"postgres unreachable: {type(exc).__name__}: {exc}", retriable=True) from exc
    except asyncpg.InterfaceError as exc:
        raise StoreError(f"postgres client: {type(exc).__name__}: {exc}", retriable=False) from exc
