"""One contract for every PopulationStore backend; add a backend by adding a param to ``make_store``.

The PostgreSQL runs use a database of their own per test on the session's server (tests/postgres_fixture.py).
The last tests pin backend-specific behaviour: connecting, and how each backend's errors are reported.
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from dancu_bus.contracts import DISCLOSABLE_FIELDS, Address, Citizen, Provenance
from dancu_bus.errors import StoreError
from dancu_bus.store import PopulationStore, SqliteStore
from dancu_bus.store.postgres import PostgresStore
from dancu_bus.store.seed import generate

MakeStore = Callable[[], PopulationStore]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """Unopened stores of one backend, every one over the same fresh database."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "population.sqlite3", create=True)
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")  # only now: SQLite runs need no server
        return lambda: PostgresStore(dsn, create=True, pool_size=2)
    raise AssertionError(f"no such backend {request.param}")


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[PopulationStore]:
    """An open, empty store."""
    async with make_store() as opened:
        yield opened


async def test_a_store_keeps_its_identity_and_the_count_it_was_filled_with(make_store: MakeStore) -> None:
    """The id written at creation stays; record_population writes the count; reopening sees the same."""
    async with make_store() as store:
        before = await store.identity()
        await store.put_many([_handmade("001190012345"), _handmade("001190012346")])
        after = await store.record_population()
    async with make_store() as again:
        assert await again.identity() == after
    assert (before.store_id, before.citizens) == (after.store_id, 0) and after.citizens == 2


async def test_an_emptied_store_fails_the_check(make_store: MakeStore) -> None:
    """A store whose citizens were all deleted is not the store that was filled: retriable StoreError."""
    async with make_store() as store:
        await store.put_many([_handmade()])
        identity = await store.record_population()
        await store.check(identity)
        await _delete_everyone(store)
        with pytest.raises(StoreError, match="holds no citizens") as caught:
            await store.check(identity)
    assert caught.value.retriable


async def _delete_everyone(store: PopulationStore) -> None:
    """Empty the citizens table behind the store's back, as an operator's mistake would."""
    if isinstance(store, SqliteStore):
        await store._run(lambda: store._connection().execute("DELETE FROM citizens"))
    else:
        assert isinstance(store, PostgresStore)
        async with store._connection() as connection:
            await connection.execute("DELETE FROM citizens")


def _handmade(personal_id: str = "001190012345") -> Citizen:
    """A citizen with Vietnamese text, an optional field empty, and a provenance per field."""
    provenance = {
        name: Provenance(f"NGUỒN-{index:02d}", date(2021, 7, 1 + index))
        for index, name in enumerate(DISCLOSABLE_FIELDS)
    }
    return Citizen(
        personal_id=personal_id,
        full_name="Nguyễn Thị Ánh Tuyết",
        birth_date=date(1990, 2, 28),
        sex="2",
        ethnic_group="08",
        religion="01",
        nationality="VN",
        permanent_address=Address("DVHC-2004", "01", "00004", "001", "Số 5, ngõ 12, phố Hàng Bạc"),
        household_id="010000000042",
        household_relation="02",
        phone=None,
        status="ALIVE",
        provenance=provenance,
    )


async def test_put_many_then_get_many_returns_equal_citizens(store: PopulationStore) -> None:
    """Whole citizens come back equal, provenance and Vietnamese text included."""
    citizens = [_handmade(), *generate(300, 1)]
    assert await store.put_many(citizens) == len(citizens)
    found = await store.get_many([c.personal_id for c in citizens])
    assert found == {c.personal_id: c for c in citizens}


async def test_a_correction_sets_one_field_and_its_provenance_and_is_idempotent(
    store: PopulationStore,
) -> None:
    """Name and birth date corrected with a new source and date; twice is once; nobody is False."""
    person, neighbour = _handmade(), _handmade("001190012346")
    await store.put_many([person, neighbour])
    civil = Provenance("HO-TICH-2026", date(2026, 11, 30))
    for _ in range(2):
        assert await store.correct(person.personal_id, "full_name", "Nguyễn Thị Ánh Tuyết Mai", civil)
        assert await store.correct(person.personal_id, "birth_date", date(1990, 3, 1), civil)
    found = await store.get_many([person.personal_id, neighbour.personal_id])
    fixed = found[person.personal_id]
    assert (fixed.full_name, fixed.birth_date) == ("Nguyễn Thị Ánh Tuyết Mai", date(1990, 3, 1))
    assert dict(fixed.provenance) == {**person.provenance, "full_name": civil, "birth_date": civil}
    assert found[neighbour.personal_id] == neighbour
    assert not await store.correct("001190099999", "full_name", "X", civil)
    assert await store.count() == 2


async def test_text_is_stored_exactly_as_given(store: PopulationStore) -> None:
    """The store neither normalises nor re-encodes text: a decomposed name comes back decomposed."""
    decomposed = "Nguye\u0302\u0303n Va\u0306n An"
    citizen = dataclasses.replace(
        _handmade(), full_name=decomposed, permanent_address=Address("DVHC-2025", "79", "26734")
    )
    await store.put_many([citizen])
    assert (await store.get_many([citizen.personal_id]))[citizen.personal_id] == citizen


async def test_a_citizen_without_provenance_round_trips(store: PopulationStore) -> None:
    """An empty provenance mapping is kept empty."""
    citizen = dataclasses.replace(_handmade(), provenance={})
    await store.put_many([citizen])
    assert (await store.get_many([citizen.personal_id]))[citizen.personal_id].provenance == {}


async def test_missing_ids_are_absent_from_the_result(store: PopulationStore) -> None:
    """Unknown ids are left out, not mapped to None."""
    await store.put_many([_handmade()])
    found = await store.get_many(["001190012345", "079300000001", "001190012345"])
    assert set(found) == {"001190012345"}


async def test_get_many_serves_a_batch_of_two_thousand(store: PopulationStore) -> None:
    """One call returns all 2,000 asked-for citizens out of a larger store, ignoring the missing ones."""
    citizens = list(generate(2_500, 2))
    await store.put_many(citizens)
    wanted = random.Random(3).sample(citizens, 2_000)
    asked = [c.personal_id for c in wanted] + ["096399999999"]
    assert await store.get_many(asked) == {c.personal_id: c for c in wanted}


async def test_get_many_of_nothing_is_empty(store: PopulationStore) -> None:
    """An empty batch is answered with an empty mapping, and writing nothing writes nothing."""
    assert await store.get_many([]) == {}
    assert await store.put_many([]) == 0
    assert await store.count() == 0


async def test_put_many_replaces_an_existing_citizen(store: PopulationStore) -> None:
    """Writing a citizen again replaces the whole record, keeping one row."""
    original = _handmade()
    changed = dataclasses.replace(
        original, full_name="Trần Văn Bình", phone="0912345678", status="DECEASED", provenance={}
    )
    await store.put_many([original])
    await store.put_many([changed])
    assert await store.get_many([original.personal_id]) == {original.personal_id: changed}
    assert await store.count() == 1


async def test_the_last_of_duplicate_ids_in_one_batch_wins(store: PopulationStore) -> None:
    """Within one put_many, a later citizen with the same id replaces an earlier one."""
    first = _handmade()
    second = dataclasses.replace(first, full_name="Lê Thị Hoa")
    await store.put_many([first, second])
    assert (await store.get_many([first.personal_id]))[first.personal_id] == second


async def test_count_tracks_distinct_citizens(store: PopulationStore) -> None:
    """Count is zero at first and then the number of distinct ids written."""
    assert await store.count() == 0
    await store.put_many(generate(120, 4))
    await store.put_many(list(generate(150, 4))[100:])
    assert await store.count() == 150


async def test_sample_is_in_personal_id_order_with_offset(store: PopulationStore) -> None:
    """Sample pages through citizens in personal-id order; past the end it is empty."""
    citizens = list(generate(50, 5))
    random.Random(6).shuffle(citizens)
    await store.put_many(citizens)
    ordered = sorted(citizens, key=lambda c: c.personal_id)
    assert list(await store.sample(10)) == ordered[:10]
    assert list(await store.sample(10, offset=10)) == ordered[10:20]
    assert list(await store.sample(100, offset=45)) == ordered[45:]
    assert list(await store.sample(10, offset=50)) == []
    assert list(await store.sample(0)) == []


async def test_ping_answers_when_the_store_is_up(store: PopulationStore) -> None:
    """Ping returns quietly on an open store, also after writes."""
    await store.ping()
    await store.put_many([_handmade()])
    await store.ping()


async def test_citizens_survive_closing_and_reopening(make_store: MakeStore) -> None:
    """What one session writes, the next session reads."""
    citizen = _handmade()
    async with make_store() as first:
        await first.put_many([citizen])
    async with make_store() as second:
        assert await second.get_many([citizen.personal_id]) == {citizen.personal_id: citizen}


async def test_unknown_provenance_field_is_refused(store: PopulationStore) -> None:
    """Provenance for a field the store has no slot for is a permanent StoreError, and nothing is written."""
    citizen = dataclasses.replace(_handmade(), provenance={"shoe_size": Provenance("X", date(2022, 1, 1))})
    with pytest.raises(StoreError, match="shoe_size") as caught:
        await store.put_many([_handmade("079300000001"), citizen])
    assert not caught.value.retriable
    assert await store.count() == 0


async def test_store_refuses_use_outside_async_with(make_store: MakeStore) -> None:
    """Calls before entering or after leaving the context fail loudly instead of connecting lazily."""
    store = make_store()
    with pytest.raises(RuntimeError, match="async with"):
        await store.count()
    async with store:
        await store.ping()
    with pytest.raises(RuntimeError, match="async with"):
        await store.ping()


# -- SQLite only


async def test_sqlite_connects_only_when_entered(tmp_path: Path) -> None:
    """Constructing a store touches nothing; entering it to create makes the parent folder and the file."""
    path = tmp_path / "nested" / "deeper" / "population.sqlite3"
    store = SqliteStore(path, create=True)
    assert not path.parent.exists()
    async with store:
        assert path.exists()


async def test_sqlite_missing_path_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    """Opening a path where no store is (a typo, a deleted file) is an error naming it; no file appears."""
    path = tmp_path / "popluation.sqlite3"
    with pytest.raises(
        StoreError, match=r"no population store at .*popluation\.sqlite3.*store init"
    ) as caught:
        async with SqliteStore(path):
            pass
    assert not caught.value.retriable
    assert not os.path.exists(path) and os.listdir(tmp_path) == []  # noqa: ASYNC240 (a test's own temp folder)


async def test_sqlite_file_that_is_no_store_is_refused(tmp_path: Path) -> None:
    """An SQLite file without the store's identity (another database) is not served from."""
    path = tmp_path / "other.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(StoreError, match="not a population store"):
        async with SqliteStore(path):
            pass


async def test_sqlite_replaced_under_a_running_reader_fails_the_check(tmp_path: Path) -> None:
    """A store file replaced (deleted and made again) while open: check() names it, retriable."""
    path = tmp_path / "population.sqlite3"
    async with SqliteStore(path, create=True) as store:
        await store.put_many([_handmade()])
        identity = await store.record_population()
        await store.check(identity)
        path.unlink()
        with pytest.raises(StoreError, match="is gone") as gone:
            await store.check(identity)
        async with SqliteStore(path, create=True):
            pass
        with pytest.raises(StoreError, match="was replaced by store") as replaced:
            await store.check(identity)
    assert gone.value.retriable and replaced.value.retriable


async def test_sqlite_unopenable_file_is_a_retriable_store_error(tmp_path: Path) -> None:
    """A path SQLite cannot open is reported as a retriable StoreError."""
    with pytest.raises(StoreError) as caught:
        async with SqliteStore(tmp_path, create=True):
            pass
    assert caught.value.retriable


async def test_sqlite_parent_that_is_a_file_is_a_permanent_store_error(tmp_path: Path) -> None:
    """A parent folder that cannot be created is a StoreError that retrying will not fix."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        async with SqliteStore(blocker / "population.sqlite3", create=True):
            pass
    assert not caught.value.retriable


# -- PostgreSQL only


async def test_postgres_connects_only_when_entered() -> None:
    """Constructing a store connects to nothing; entering it with no server is a retriable StoreError."""
    store = PostgresStore(f"postgresql://nobody:secret@127.0.0.1:{_closed_port()}/none", connect_timeout_s=5)
    with pytest.raises(StoreError) as caught:
        async with store:
            pass
    assert caught.value.retriable


async def test_postgres_missing_database_is_a_permanent_store_error(postgres_server: str) -> None:
    """A database that does not exist is a StoreError that retrying will not fix."""
    missing = urlunsplit(urlsplit(postgres_server)._replace(path="/dancu_no_such_database"))
    with pytest.raises(StoreError, match="does not exist") as caught:
        async with PostgresStore(missing):
            pass
    assert not caught.value.retriable


async def test_postgres_creates_the_table_in_an_empty_database(postgres_dsn: str) -> None:
    """Two stores entering the same empty database at once both find one citizens table and one identity."""
    async with (
        PostgresStore(postgres_dsn, create=True) as first,
        PostgresStore(postgres_dsn, create=True) as second,
    ):
        assert await first.identity() == await second.identity()
        await first.put_many([_handmade()])
        assert await second.count() == 1


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
