"""The embedded population store: one SQLite file in WAL mode, on one worker thread (``sqlite_thread``)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

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
    to_row,
)
from dancu_bus.store.sqlite_thread import SqliteThread, primary_code
from dancu_bus.text import folded

__all__ = ["SqliteStore"]

P = ParamSpec("P")
R = TypeVar("R")

# The provenance column holds provenance packed by ``rows.encode_provenance``; birth_date is ISO text.
# name_key (``rows.NAME_KEY``) may be NULL only because a store made before it had it is keyed on opening.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS citizens (
    personal_id        TEXT PRIMARY KEY NOT NULL,
    full_name          TEXT NOT NULL,
    birth_date         TEXT NOT NULL,
    sex                TEXT NOT NULL,
    ethnic_group       TEXT NOT NULL,
    religion           TEXT NOT NULL,
    nationality        TEXT NOT NULL,
    address_scheme     TEXT NOT NULL,
    address_province   TEXT NOT NULL,
    address_district   TEXT,
    address_commune    TEXT NOT NULL,
    address_detail     TEXT,
    household_id       TEXT NOT NULL,
    household_relation TEXT NOT NULL,
    phone              TEXT,
    status             TEXT NOT NULL,
    provenance         TEXT NOT NULL,
    name_key           TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_identity (
    store_id   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    citizens   INTEGER NOT NULL
);
"""
# The index holds the primary key after its columns: matches come out in personal-id order, unsorted.
_INDEX = f"CREATE INDEX IF NOT EXISTS {NAME_INDEX} ON citizens (name_key, birth_date)"
_COLUMNS = ", ".join(COLUMNS)
_WRITTEN = ", ".join(WRITTEN)
_INSERT = f"INSERT OR REPLACE INTO citizens ({_WRITTEN}) VALUES ({', '.join('?' * len(WRITTEN))})"
# One parameter, a JSON array of ids, whatever the batch size: one prepared statement, one query.
_SELECT_MANY = f"SELECT {_COLUMNS} FROM citizens WHERE personal_id IN (SELECT value FROM json_each(?))"
_STAGING = "citizens_loading"
_STAGE = f"INSERT INTO {_STAGING} ({_WRITTEN}) VALUES ({', '.join('?' * len(WRITTEN))})"
# Key order fills each page once; rowid order among equal ids makes the last one given win.
_MERGE = (
    f"INSERT OR REPLACE INTO citizens ({_WRITTEN}) "
    f"SELECT {_WRITTEN} FROM {_STAGING} ORDER BY personal_id, rowid"
)
_SELECT_PAGE = f"SELECT {_COLUMNS} FROM citizens ORDER BY personal_id LIMIT ? OFFSET ?"
_SELECT_NAMED = (
    f"SELECT {_COLUMNS} FROM citizens WHERE name_key = ? AND birth_date = ? ORDER BY personal_id LIMIT ?"
)
_UNKEYED = (
    "SELECT personal_id, full_name FROM citizens"
    " WHERE personal_id > ? AND name_key IS NULL ORDER BY personal_id LIMIT ?"
)
_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",  # durable at checkpoints; a crash loses at most the last commits
)


class SqliteStore:
    """The population store in one SQLite file: ``async with SqliteStore(path) as store``."""

    # 64 MiB of page cache: the operating system caches the file as well, and the resolver's memory
    # stays under 300 MB with 10 million citizens (256 MiB took it to 333 MiB: bench/README.md).
    # Reads that wait longer than read_timeout_s fail as retriable: a reader blocked by another
    # process's locks would otherwise hang inside SQLite for up to 10 s, and /readyz with it.
    def __init__(
        self,
        path: Path | str,
        *,
        create: bool = False,
        timeout_s: float = 5.0,
        cache_mib: int = 64,
        read_timeout_s: float = 2.0,
    ) -> None:
        self._path = Path(path)
        self._create = create
        self._file: tuple[int, int] | None = None  # the opened file's device and inode
        self._timeout_s = timeout_s
        self._read_timeout_s = read_timeout_s
        self._cache_mib = cache_mib
        self._thread = SqliteThread("sqlite-store", "sqlite")
        self._db: sqlite3.Connection | None = None
        self._search_refusal: str | None = None  # why find_by_name cannot answer, if it cannot

    async def __aenter__(self) -> Self:
        """Start the worker thread and connect; the file is created only when ``create`` was asked."""
        self._thread.start()
        try:
            opened = await self._thread.run(
                _connect, self._path, self._create, self._timeout_s, self._cache_mib
            )
            self._db, self._search_refusal = opened
            self._file = _file_of(self._path)
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

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        """The citizens with these ids, in one query; missing ids are absent from the result."""
        if not personal_ids:
            return {}
        return await self._read(_get_many, self._connection(), json.dumps(list(personal_ids)))

    async def put_many(self, citizens: Iterable[Citizen]) -> int:
        """Insert or replace citizens in one transaction; return how many were written."""
        batch = list(citizens)
        if not batch:
            return 0
        return await self._thread.run(_put_many, self._connection(), batch)

    @asynccontextmanager
    async def loading(self) -> AsyncIterator[Callable[[Sequence[Citizen]], Awaitable[int]]]:
        """A bulk load: batches are appended to a staging table, merged into citizens in key order at the end.

        Batch by batch, random ids land every row on a random page of the table (10,000 citizens a
        second at 10 million); appended and merged once in key order, the same rows went 2.5 times
        faster. All or nothing: the merge is one transaction, and a load that fails leaves the table as
        it was. The last citizen given for an id wins, as with ``put_many``.
        """
        await self._thread.run(_create_staging, self._connection())
        try:
            yield self._stage
            await self._thread.run(_merge_staging, self._connection())
        finally:
            await self._thread.run(_drop_staging, self._connection())

    async def _stage(self, citizens: Sequence[Citizen]) -> int:
        return await self._thread.run(_stage_many, self._connection(), citizens)

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        """Set one field and its provenance in one transaction; False if nobody has the id."""
        return await self._thread.run(_correct, self._connection(), personal_id, field, value, provenance)

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        """Citizens with this name key and birth date, at most ``limit``, in personal-id order."""
        check_find(name_key, limit)
        db = self._connection()
        if self._search_refusal is not None:
            raise StoreError(self._search_refusal, retriable=False)
        return await self._read(_find_by_name, db, name_key, birth_date.isoformat(), limit)

    async def sample(self, limit: int, *, offset: int = 0) -> Sequence[Citizen]:
        """Up to ``limit`` citizens in personal-id order, skipping the first ``offset``."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative, got {limit} and {offset}")
        return await self._thread.run(_sample, self._connection(), limit, offset)

    async def count(self) -> int:
        """How many citizens the store holds."""
        return await self._thread.run(_count, self._connection())

    async def ping(self) -> None:
        """Raise StoreError if the database cannot answer a trivial query now."""
        await self._read(_ping, self._connection())

    async def identity(self) -> StoreIdentity:
        """The identity written in the opened file."""
        return await self._read(_identity, self._connection())

    async def record_population(self) -> StoreIdentity:
        """Write the number of citizens into the identity."""
        return await self._thread.run(_record_population, self._connection())

    async def check(self, expected: StoreIdentity) -> None:
        """A retriable StoreError if the file at the path is another one, or the table was emptied.

        An open SQLite file stays readable when its path is deleted or replaced: the check looks at
        the path itself too, so what a restart would open is what is being served.
        """
        where = _file_of(self._path)
        if where is None:
            raise StoreError(f"sqlite: {self._path} is gone (deleted or moved)", retriable=True)
        if where != self._file:
            try:
                found = (await self._thread.run(_identity_at, self._path)).store_id
            except StoreError as exc:
                found = f"that is no population store ({exc})"
            if found != expected.store_id:
                detail = f"sqlite: {self._path} was replaced by store {found} (serving {expected.store_id})"
                raise StoreError(detail, retriable=True)
        await self._read(_check_population, self._connection(), expected)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SqliteStore used outside `async with`")
        return self._db

    async def _read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``_run`` for a read: a retriable StoreError when the database does not answer in time."""
        try:
            return await asyncio.wait_for(self._thread.run(fn, *args, **kwargs), self._read_timeout_s)
        except TimeoutError:
            # The call still finishes on the worker thread; later calls queue behind it.
            detail = f"sqlite: no answer within {self._read_timeout_s:g} s (locked by another process?)"
            raise StoreError(detail, retriable=True) from None


# -- everything below runs on the worker thread


def _connect(
    path: Path, create: bool, timeout_s: float, cache_mib: int
) -> tuple[sqlite3.Connection, str | None]:
    """Open the database file (creating it, its tables and its identity only if ``create``).

    Also completes the name index of an older store; the second value says why it cannot search, if so.
    """
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc}", retriable=False) from exc
    elif not path.is_file():
        raise StoreError(
            f"no population store at {path}: create one with `dancu-bus store init` or `dancu-bus store seed`"
            " (or set DANCU_STORE__PATH to where it is)",
            retriable=False,
        )
    # mode=rw never creates the file: a path that vanished between the check and here is an error too.
    mode = "rwc" if create else "rw"
    db = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=timeout_s, isolation_level=None
    )
    try:
        for pragma in (*_PRAGMAS, f"PRAGMA cache_size = {-1024 * int(cache_mib)}"):  # negative: KiB
            db.execute(pragma)
        if create:
            db.executescript(_SCHEMA)  # the name index comes with the column, below, for older stores too
            _ensure_identity(db)
        _identity(db)  # a file that is no population store fails here, not at the first request
        refusal = _complete_name_index(db)
    except BaseException:
        db.close()
        raise
    return db, refusal


def _complete_name_index(db: sqlite3.Connection) -> str | None:
    """Give a store made before the name key its column, keys and index; why it cannot search, or None.

    SQLite's own lower() folds ASCII only and it has no Unicode normalisation, so the keys are computed
    here, KEYING_BATCH rows per transaction: other processes keep reading, and an interrupted opening
    resumes where it stopped. The index comes last: building it once is cheaper than updating it.
    """
    if _name_index(db).complete:
        return None
    try:
        _add_name_key(db)
        _key_unkeyed(db)
        db.execute(_INDEX)
    except sqlite3.OperationalError as exc:
        if primary_code(exc) != sqlite3.SQLITE_READONLY:
            raise
        # Served as it is, as before the name key: only find_by_name refuses, saying why.
        return _name_index(db).refusal("sqlite", f"the file is read-only: {exc}")
    return _name_index(db).refusal("sqlite", "an older dancu-bus wrote citizens without keys meanwhile")


def _name_index(db: sqlite3.Connection) -> NameIndex:
    """What the citizens table has of the name key; with the index, unkeyed rows are found at once."""
    column = any(row[1] == "name_key" for row in db.execute("PRAGMA table_info(citizens)"))
    index = db.execute("SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?", (NAME_INDEX,))
    if not (column and index.fetchone()):
        return NameIndex(column, index=False, keyed=False)
    (unkeyed,) = db.execute("SELECT EXISTS (SELECT 1 FROM citizens WHERE name_key IS NULL)").fetchone()
    return NameIndex(column, index=True, keyed=not unkeyed)


def _add_name_key(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")  # another process opening the same old store may be adding it too
    try:
        if not _name_index(db).column:
            db.execute("ALTER TABLE citizens ADD COLUMN name_key TEXT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _key_unkeyed(db: sqlite3.Connection) -> None:
    """Write the name key of every row without one, in personal-id order, a batch per transaction."""
    last = ""
    while True:
        db.execute("BEGIN IMMEDIATE")  # the names read are the names keyed: no writer in between
        try:
            rows = db.execute(_UNKEYED, (last, KEYING_BATCH)).fetchall()
            db.executemany("UPDATE citizens SET name_key = ? WHERE personal_id = ?", _keys(rows))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if len(rows) < KEYING_BATCH:
            return
        last = rows[-1][0]


def _keys(rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(folded(name), personal_id) for personal_id, name in rows]


def _file_of(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _ensure_identity(db: sqlite3.Connection) -> None:
    if db.execute("SELECT count(*) FROM store_identity").fetchone()[0] == 0:
        created = datetime.now(UTC).isoformat()
        db.execute("INSERT INTO store_identity VALUES (?, ?, 0)", (str(uuid.uuid4()), created))


def _identity(db: sqlite3.Connection) -> StoreIdentity:
    try:
        row = db.execute("SELECT store_id, created_at, citizens FROM store_identity").fetchone()
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"sqlite: not a population store (run `dancu-bus store init`): {exc}", retriable=False
        ) from exc
    if row is None:
        raise StoreError("sqlite: the store has no identity (run `dancu-bus store init`)", retriable=False)
    return StoreIdentity(row[0], datetime.fromisoformat(row[1]), int(row[2]))


def _identity_at(path: Path) -> StoreIdentity:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    try:
        return _identity(db)
    finally:
        db.close()


def _record_population(db: sqlite3.Connection) -> StoreIdentity:
    db.execute("UPDATE store_identity SET citizens = (SELECT count(*) FROM citizens)")
    return _identity(db)


def _check_population(db: sqlite3.Connection, expected: StoreIdentity) -> None:
    (held,) = db.execute("SELECT EXISTS (SELECT 1 FROM citizens)").fetchone()
    if expected.citizens > 0 and not held:
        detail = f"sqlite: the store holds no citizens, but was filled with {expected.citizens:,}"
        raise StoreError(detail, retriable=True)


def _get_many(db: sqlite3.Connection, ids_json: str) -> dict[str, Citizen]:
    rows = db.execute(_SELECT_MANY, (ids_json,)).fetchall()
    return {row[0]: _citizen(row) for row in rows}


def _put_many(db: sqlite3.Connection, citizens: Sequence[Citizen]) -> int:
    rows = sorted((_row(citizen) for citizen in citizens), key=itemgetter(0))  # key order touches fewer pages
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(_INSERT, rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return len(rows)


def _correct(
    db: sqlite3.Connection, personal_id: str, field: str, value: object, provenance: Provenance
) -> bool:
    db.execute("BEGIN IMMEDIATE")  # the read and the write in one transaction: no other writer between
    try:
        found = _get_many(db, json.dumps([personal_id])).get(personal_id)
        if found is not None:
            db.execute(_INSERT, _row(corrected(found, field, value, provenance)))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return found is not None


def _create_staging(db: sqlite3.Connection) -> None:
    # A plain rowid table: appending is cheap, and rowid keeps the order the citizens came in.
    db.execute(f"CREATE TEMP TABLE {_STAGING} AS SELECT * FROM citizens WHERE 0")


def _stage_many(db: sqlite3.Connection, citizens: Sequence[Citizen]) -> int:
    db.execute("BEGIN")
    try:
        db.executemany(_STAGE, [_row(citizen) for citizen in citizens])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return len(citizens)


def _merge_staging(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        # Into an empty table, building the name index once afterwards is faster than updating it
        # citizen by citizen in name order (500,000 citizens: 0.5 s against 1.5 s). Readers meanwhile
        # see the table as it was, index and all, until the commit.
        (filled,) = db.execute("SELECT EXISTS (SELECT 1 FROM citizens)").fetchone()
        if not filled:
            db.execute(f"DROP INDEX IF EXISTS {NAME_INDEX}")
        db.execute(_MERGE)
        db.execute(_INDEX)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _drop_staging(db: sqlite3.Connection) -> None:
    db.execute(f"DROP TABLE IF EXISTS temp.{_STAGING}")


def _find_by_name(db: sqlite3.Connection, name_key: str, born: str, limit: int) -> list[Citizen]:
    return [_citizen(row) for row in db.execute(_SELECT_NAMED, (name_key, born, limit))]


def _sample(db: sqlite3.Connection, limit: int, offset: int) -> list[Citizen]:
    return [_citizen(row) for row in db.execute(_SELECT_PAGE, (limit, offset))]


def _count(db: sqlite3.Connection) -> int:
    (count,) = db.execute("SELECT count(*) FROM citizens").fetchone()
    return int(count)


def _ping(db: sqlite3.Connection) -> None:
    db.execute("SELECT 1").fetchone()


# -- rows


def _row(citizen: Citizen) -> tuple[Any, ...]:
    """The column values of a citizen, the birth date as ISO text."""
    return to_row(citizen, date.isoformat)


def _citizen(row: Any) -> Citizen:
    """The citizen a row describes."""
    return from_row(row, date.fromisoformat)
