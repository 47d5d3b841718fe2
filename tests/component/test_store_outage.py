"""The SQLite store while another process locks it: reads fail as retriable, then serve again."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from dancu_bus.errors import StoreError
from dancu_bus.faults.outage import lock_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.store.sqlite import SqliteStore
from dancu_bus.store.sqlite_thread import store_error


async def test_a_locked_store_fails_reads_as_retriable_then_serves_again(tmp_path: Path) -> None:
    """While the WAL index is locked, get_many and ping fail retriable in about 2 s; afterwards they work."""
    path = tmp_path / "population.sqlite3"
    async with SqliteStore(path, create=True, read_timeout_s=1.0) as store:
        await seed_store(store, 20, seed=3)
        ids = [c.personal_id for c in await store.sample(5)]
        with lock_store(path, 3.0) as locker:
            started = time.monotonic()
            with pytest.raises(StoreError) as failed:
                await store.get_many(ids)
            assert failed.value.retriable and time.monotonic() - started < 2.5
            with pytest.raises(StoreError, match="no answer within") as pinged:
                await store.ping()
            assert pinged.value.retriable
            locker.wait(30)
        assert len(await store.get_many(ids)) == 5


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("locking protocol"), True),
        (sqlite3.OperationalError("unable to open database file"), True),
        (sqlite3.DatabaseError("database disk image is malformed"), False),
        (sqlite3.OperationalError("no such table: citizens"), False),
    ],
)
def test_only_errors_that_say_not_now_are_retriable(error: sqlite3.Error, retriable: bool) -> None:
    """Locks (a lock held past SQLite's own retries included) are retriable; damage and bugs are not."""
    assert store_error(error).retriable is retriable
