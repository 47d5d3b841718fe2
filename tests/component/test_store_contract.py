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
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from dancu_bus.contracts import DISCLOSABLE_FIELDS, Address, Citizen, Provenance
from dancu_bus.errors import StoreError
from dancu_bus.store import PopulationStore, SqliteStore
from dancu_bus.store.postgres import PostgresStore
from dancu_bus.store.rows import COLUMNS, same_day, to_row
from dancu_bus.store.seed import generate
from dancu_bus.store.seeding import seed_store
from dancu_bus.text import folded

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
        await store._thread.run(lambda: store._connection().execute("DELETE FROM citizens"))
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
    with pytest.raises(RuntimeError, match="async with"):
        await store.find_by_name("nguyễn văn an", date(1990, 1, 1), 1)
    async with store:
        await store.ping()
    with pytest.raises(RuntimeError, match="async with"):
        await store.ping()


# -- finding citizens by name and birth date


async def test_a_citizen_is_found_by_a_name_in_any_unicode_form_case_or_spacing(
    store: PopulationStore,
) -> None:
    """Decomposed (NFD), in capitals or spaced out, the folded name finds the citizen; another date nobody."""
    citizen = _handmade()
    await store.put_many([citizen, *generate(200, 11)])
    for asked in (
        unicodedata.normalize("NFD", citizen.full_name),
        citizen.full_name.upper(),
        "  Nguyễn   Thị Ánh\tTuyết ",
    ):
        assert list(await store.find_by_name(folded(asked), citizen.birth_date, 10)) == [citizen]
    assert list(await store.find_by_name(folded(citizen.full_name), date(1990, 3, 1), 10)) == []
    assert list(await store.find_by_name(folded("Nguyễn Thị Ánh"), citizen.birth_date, 10)) == []


async def test_a_name_stored_decomposed_is_found_composed_and_comes_back_as_stored(
    store: PopulationStore,
) -> None:
    """The key is folded from the stored name, which itself stays exactly as it was given."""
    citizen = dataclasses.replace(_handmade(), full_name="Nguye\u0302\u0303n Va\u0306n An")
    await store.put_many([citizen])
    found = await store.find_by_name(folded("Nguyễn Văn An"), citizen.birth_date, 10)
    assert list(found) == [citizen] and found[0].full_name == "Nguye\u0302\u0303n Va\u0306n An"


async def test_citizens_sharing_a_name_and_birth_date_come_in_personal_id_order_up_to_the_limit(
    store: PopulationStore,
) -> None:
    """Namesakes born the same day are all found, ordered by personal id, and no more than the limit."""
    namesakes = [_handmade(pid) for pid in ("079300000003", "001190012345", "040200000007")]
    await store.put_many([*namesakes, *generate(100, 12)])
    ordered = sorted(namesakes, key=lambda c: c.personal_id)
    key, born = folded(_handmade().full_name), _handmade().birth_date
    assert list(await store.find_by_name(key, born, 1000)) == ordered
    assert list(await store.find_by_name(key, born, 2)) == ordered[:2]
    assert list(await store.find_by_name(key, born, 1)) == ordered[:1]


async def test_a_renamed_citizen_is_found_by_the_new_name_only(store: PopulationStore) -> None:
    """Replacing a citizen replaces its name key too."""
    original = _handmade()
    renamed = dataclasses.replace(original, full_name="Trần Văn Bình")
    await store.put_many([original])
    await store.put_many([renamed])
    assert list(await store.find_by_name(folded(original.full_name), original.birth_date, 5)) == []
    assert list(await store.find_by_name(folded("TRẦN VĂN BÌNH"), original.birth_date, 5)) == [renamed]


async def test_a_corrected_name_is_found_by_the_new_name_only(store: PopulationStore) -> None:
    """A correction of the name (REPORT_ERROR accepted) keys the citizen under the new name."""
    person = _handmade()
    await store.put_many([person])
    assert await store.correct(
        person.personal_id, "full_name", "Lê Thị Hoa", Provenance("HT", date(2026, 1, 1))
    )
    assert list(await store.find_by_name(folded(person.full_name), person.birth_date, 5)) == []
    (found,) = await store.find_by_name(folded("LÊ THỊ HOA"), person.birth_date, 5)
    assert found.personal_id == person.personal_id


async def test_seeded_citizens_are_found_by_name(store: PopulationStore) -> None:
    """Citizens written by seeding (SQLite's bulk load, PostgreSQL's batches) are found by name and date."""
    await seed_store(store, 300, seed=13, batch=70)
    for citizen in list(generate(300, 13))[::37]:
        found = await store.find_by_name(folded(citizen.full_name), citizen.birth_date, 1000)
        assert citizen in found and all(folded(c.full_name) == folded(citizen.full_name) for c in found)


@pytest.mark.parametrize(
    ("name_key", "limit", "refused"),
    [
        ("nguyễn văn an", 0, "limit"),
        ("nguyễn văn an", -1, "limit"),
        ("nguyễn văn an", 1001, "limit"),
        ("Nguyễn Văn An", 10, "not a name key"),
        ("nguyễn  văn an", 10, "not a name key"),
        ("nguyen\x00 van", 10, "NUL"),
        ("nguyen \ud800", 10, "surrogate"),
    ],
)
async def test_find_by_name_refuses_a_limit_out_of_bounds_and_what_is_no_name_key(
    store: PopulationStore, name_key: str, limit: int, refused: str
) -> None:
    """Limits outside 1 … 1000 and names not folded (or unstorable) are the caller's bug: ValueError."""
    with pytest.raises(ValueError, match=refused):
        await store.find_by_name(name_key, date(1990, 1, 1), limit)
    assert list(await store.find_by_name("nguyễn văn an", date(1990, 1, 1), 1000)) == []


# -- a store made before the name key

_OLD_STORE_ID = "0b1d0000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class OldStore:
    """A store as dancu-bus made it before the name key, and a writer as old dancu-bus wrote to it.

    The first write makes the tables and the identity; the DDL of before creates only what is missing.
    """

    open: Callable[[bool], PopulationStore]  # create or not
    write: Callable[[Sequence[Citizen]], Awaitable[None]]


@pytest.fixture(params=["sqlite", "postgres"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> OldStore:
    """A store of one backend with the tables and identity of before the name key."""
    if request.param == "sqlite":
        return _old_sqlite(tmp_path / "old.sqlite3")
    if request.param == "postgres":
        return _old_postgres(request.getfixturevalue("postgres_dsn"))
    raise AssertionError(f"no such backend {request.param}")


_OLD_IDENTITY = "INSERT INTO store_identity SELECT {}, {}, 0 WHERE NOT EXISTS (SELECT 1 FROM store_identity)"


def _old_sqlite(path: Path) -> OldStore:
    async def write(citizens: Sequence[Citizen]) -> None:
        marks = ", ".join("?" * len(COLUMNS))
        old_rows = [to_row(c, date.isoformat)[: len(COLUMNS)] for c in citizens]
        with closing(sqlite3.connect(path)) as db:
            db.executescript(_SQLITE_BEFORE_NAME_KEY)
            db.execute(_OLD_IDENTITY.format("?", "'2025-01-02T03:04:05+00:00'"), (_OLD_STORE_ID,))
            db.executemany(
                f"INSERT OR REPLACE INTO citizens ({', '.join(COLUMNS)}) VALUES ({marks})", old_rows
            )
            db.commit()

    return OldStore(lambda create: SqliteStore(path, create=create), write)


def _old_postgres(dsn: str) -> OldStore:
    async def write(citizens: Sequence[Citizen]) -> None:
        old_rows = [to_row(c, same_day)[: len(COLUMNS)] for c in citizens]
        writer = await asyncpg.connect(dsn)
        try:
            await writer.execute(_POSTGRES_BEFORE_NAME_KEY)
            await writer.execute(_OLD_IDENTITY.format("$1", "now()"), _OLD_STORE_ID)
            await writer.copy_records_to_table("citizens", records=old_rows, columns=COLUMNS)
        finally:
            await writer.close()

    return OldStore(lambda create: PostgresStore(dsn, create=create, pool_size=2), write)


@pytest.mark.parametrize("create", [False, True], ids=["to-serve", "to-fill"])
async def test_a_store_made_before_the_name_key_is_keyed_when_opened(
    old_store: OldStore, create: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening an old store, to serve or to fill, keys every citizen in batches; the rest stays."""
    for backend in ("sqlite", "postgres"):
        monkeypatch.setattr(f"dancu_bus.store.{backend}.KEYING_BATCH", 7)
    citizens = [
        dataclasses.replace(_handmade(), full_name="Nguye\u0302\u0303n Va\u0306n An"),
        *generate(40, 14),
    ]
    await old_store.write(citizens)
    async with old_store.open(create) as store:
        assert (await store.identity()).store_id == _OLD_STORE_ID
        for citizen in citizens:
            found = await store.find_by_name(folded(citizen.full_name), citizen.birth_date, 1000)
            assert citizen in found
        assert await store.get_many([c.personal_id for c in citizens]) == {c.personal_id: c for c in citizens}
    async with old_store.open(False) as again:
        assert list(await again.find_by_name(folded("NGUYỄN VĂN AN"), _handmade().birth_date, 5)) == [
            citizens[0]
        ]


async def test_citizens_an_older_writer_adds_are_keyed_at_the_next_opening(old_store: OldStore) -> None:
    """A citizen an older dancu-bus wrote without a key into a keyed store is keyed when it is reopened."""
    first, later = generate(2, 15)
    await old_store.write([first])
    async with old_store.open(False) as store:
        assert list(await store.find_by_name(folded(first.full_name), first.birth_date, 5)) == [first]
    await old_store.write([later])
    async with old_store.open(False) as store:
        assert list(await store.find_by_name(folded(later.full_name), later.birth_date, 5)) == [later]


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


async def test_postgres_role_that_may_not_alter_an_old_store_serves_it_as_before(postgres_dsn: str) -> None:
    """A role that may not alter an old store still serves it; only find_by_name refuses, naming the fix."""
    old = _old_postgres(postgres_dsn)
    citizen, added = generate(2, 16)
    await old.write([citizen])
    role = f"dancu_writer_{uuid.uuid4().hex[:8]}"
    try:
        role_dsn = await _role_that_may_not_alter(postgres_dsn, role)
        async with PostgresStore(role_dsn, pool_size=1) as store:
            assert await store.get_many([citizen.personal_id]) == {citizen.personal_id: citizen}
            assert await store.put_many([added]) == 1
            with pytest.raises(StoreError, match=r"lacks its name key column.*must be owner") as refused:
                await store.find_by_name(folded(citizen.full_name), citizen.birth_date, 5)
        assert not refused.value.retriable
        async with old.open(False) as owner:
            assert list(await owner.find_by_name(folded(added.full_name), added.birth_date, 5)) == [added]
    finally:
        admin = await asyncpg.connect(postgres_dsn)
        try:
            await admin.execute(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
        finally:
            await admin.close()


async def _role_that_may_not_alter(dsn: str, role: str) -> str:
    """Create ``role`` with the right to read and write the store's tables, not to alter them; its DSN."""
    password = uuid.uuid4().hex
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await admin.execute(f"GRANT SELECT, INSERT, UPDATE ON citizens, store_identity TO {role}")
    finally:
        await admin.close()
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}"))


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# The tables as dancu-bus made them before the name key (git show 40c3a05:adapters/dancu_bus/store/sqlite.py).
_SQLITE_BEFORE_NAME_KEY = """
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
    provenance         TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_identity (
    store_id   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    citizens   INTEGER NOT NULL
);
"""
# The same for PostgreSQL (git show 40c3a05:adapters/dancu_bus/store/postgres.py).
_POSTGRES_BEFORE_NAME_KEY = """
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
    provenance         text NOT NULL
);
CREATE TABLE IF NOT EXISTS store_identity (
    store_id   text NOT NULL,
    created_at timestamptz NOT NULL,
    citizens   bigint NOT NULL
);
"""
