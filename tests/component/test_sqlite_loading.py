"""SqliteStore's bulk load, which ``seed_store`` uses: the same result as batch by batch, all or nothing."""

from __future__ import annotations

import dataclasses
from itertools import islice
from pathlib import Path

import pytest

from dancu_bus.contracts import Citizen
from dancu_bus.store import SqliteStore
from dancu_bus.store.seed import generate
from dancu_bus.store.seeding import seed_store
from dancu_bus.store.sqlite import _SELECT_NAMED
from dancu_bus.text import folded

COUNT = 2_500


async def test_seeding_through_the_bulk_load_equals_writing_batch_by_batch(tmp_path: Path) -> None:
    """A seeded store holds exactly the citizens that put_many, batch by batch, would have written."""
    async with (
        SqliteStore(tmp_path / "bulk.sqlite3", create=True) as bulk,
        SqliteStore(tmp_path / "plain.sqlite3", create=True) as plain,
    ):
        assert await seed_store(bulk, COUNT, seed=3, batch=700) == COUNT
        for first in range(0, COUNT, 700):
            await plain.put_many(islice(generate(COUNT, 3), first, first + 700))
        assert await bulk.sample(COUNT) == await plain.sample(COUNT)


async def test_the_last_citizen_given_for_an_id_wins(tmp_path: Path) -> None:
    """Within one load, a later citizen with the same id replaces an earlier one , name key and all."""
    first, second = list(generate(2, 5))
    renamed = dataclasses.replace(first, full_name="Tên Đã Đổi")
    async with SqliteStore(tmp_path / "p.sqlite3", create=True) as store:
        async with store.loading() as write:
            await write([first, second])
            await write([renamed])
        found = await store.get_many([first.personal_id, second.personal_id])
        by_old_name = await store.find_by_name(folded(first.full_name), first.birth_date, 10)
        by_new_name = await store.find_by_name(folded("tên đã đổi"), first.birth_date, 10)
    assert found[first.personal_id].full_name == "Tên Đã Đổi"
    assert found[second.personal_id] == second
    assert first.personal_id not in {c.personal_id for c in by_old_name} and list(by_new_name) == [renamed]


async def test_a_failed_load_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    """Nothing staged reaches the table when the load fails, and the next load starts clean."""
    people = list(generate(10, 9))
    async with SqliteStore(tmp_path / "p.sqlite3", create=True) as store:
        await store.put_many(people[:5])
        with pytest.raises(RuntimeError, match="stop"):
            await _load_then_fail(store, people[5:])
        assert await store.count() == 5
        async with store.loading() as write:
            await write(people[5:])
        assert await store.count() == 10


async def _load_then_fail(store: SqliteStore, people: list[Citizen]) -> None:
    async with store.loading() as write:
        await write(people)
        raise RuntimeError("stop")


async def test_a_bulk_load_leaves_finding_by_name_on_the_index(tmp_path: Path) -> None:
    """Loading into an empty store (index rebuilt) or a filled one (index updated) keeps the name index."""
    people = list(generate(300, 10))
    async with SqliteStore(tmp_path / "p.sqlite3", create=True) as store:
        for part in (people[:200], people[150:]):
            async with store.loading() as write:
                await write(part)
            assert "USING INDEX citizens_by_name" in await _plan_of_finding(store)
            for citizen in part[::25]:
                key = folded(citizen.full_name)
                assert citizen in await store.find_by_name(key, citizen.birth_date, 1000)


async def _plan_of_finding(store: SqliteStore) -> str:
    """How SQLite would run the store's query by name and birth date."""
    query = f"EXPLAIN QUERY PLAN {_SELECT_NAMED}"
    steps = await store._thread.run(lambda: store._connection().execute(query, ("", "", 1)).fetchall())
    return " ".join(str(step) for step in steps)
