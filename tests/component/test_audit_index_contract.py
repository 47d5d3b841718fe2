"""One contract for every audit index backend (SQLite, PostgreSQL); a backend is a param of ``make_index``.

The PostgreSQL runs use a database of their own per test on the session's server (tests/postgres_fixture.py).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from dancu_bus.store.audit_index import (
    AuditIndexBackend,
    AuditQuery,
    IndexBatch,
    Indexed,
    SqliteAuditIndex,
    every_record,
    visible_to_citizen,
)
from dancu_bus.store.audit_index.postgres import PostgresAuditIndex
from tests.unit.samples import AUDIT

MakeIndex = Callable[..., AuditIndexBackend]
TOPIC = "ndxp.dancu.audit"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EVERY = AuditQuery()


@pytest.fixture(params=["sqlite", "postgres"])
def make_index(request: pytest.FixtureRequest, tmp_path: Path) -> MakeIndex:
    """Unopened indexes of one backend, every one over the same fresh database."""
    if request.param == "sqlite":
        return lambda create=True: SqliteAuditIndex(tmp_path / "audit-index.sqlite3", create=create)
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")  # only now: SQLite runs need no server
        return lambda create=True: PostgresAuditIndex(dsn, create=create)
    raise AssertionError(f"no such backend {request.param}")


@pytest.fixture
async def index(make_index: MakeIndex) -> AsyncIterator[AuditIndexBackend]:
    """An open, empty index."""
    async with make_index() as opened:
        yield opened


def record(n: int, **changes: object) -> AuditRecord:
    """The n-th sample record: its own exchange id, received n minutes after T0."""
    base = dataclasses.replace(
        AUDIT,
        exchange_id=str(uuid.UUID(int=n + 1)),
        request_id=str(uuid.UUID(int=10_000 + n)),
        received_at=T0 + timedelta(minutes=n),
        answered_at=T0 + timedelta(minutes=n, seconds=1),
        request_offset=n,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def put(index: AuditIndexBackend, *records: AuditRecord | tuple[str, None], at: int = 0) -> None:
    """Write records (or tombstones, as (exchange id, None)) in order, as one batch of partition 0."""
    changes: list[tuple[str, Indexed | None]] = []
    for offset, item in enumerate(records, start=at):
        if isinstance(item, AuditRecord):
            changes.append((item.exchange_id, Indexed(item, 0, offset)))
        else:
            changes.append(item)
    await index.apply(IndexBatch(TOPIC, changes, {0: at + len(records)}))


async def everything(index: AuditIndexBackend, q: AuditQuery = EVERY) -> list[AuditRecord]:
    """Every record ``q`` matches, in page order."""
    return [r async for r in index.records(q)]


async def test_records_come_back_whole(index: AuditIndexBackend) -> None:
    """A record written is read back equal in every field, optional ones set or not."""
    full = record(1, criteria=("full_name", "birth_date"), trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
                  fields_disclosed=("full_name", "birth_date"), prev_exchange_id=str(uuid.UUID(int=1)),
                  reason_code="FIELD_OUT_OF_SCOPE", status="REJECTED", fee=0)  # fmt: skip
    bare = record(2, personal_id=None)
    await put(index, full, bare)
    assert await everything(index) == [full, bare]


async def test_a_later_record_of_an_exchange_replaces_its_row(index: AuditIndexBackend) -> None:
    """UNANSWERED then the late answer with the same exchange id leave one row: the answer."""
    unanswered = record(1, status="UNANSWERED", reason_code="UNANSWERED")
    answered = dataclasses.replace(unanswered, status="OK", reason_code=None, hash="f" * 64)
    await put(index, unanswered)
    await put(index, answered, at=1)
    assert await everything(index) == [answered]
    assert await index.count(AuditQuery(status="UNANSWERED")) == 0


async def test_a_slower_writer_never_undoes_a_later_record_or_position(index: AuditIndexBackend) -> None:
    """Two writers at once: the one behind cannot bring back UNANSWERED nor move the positions back."""
    unanswered = record(1, status="UNANSWERED", reason_code="UNANSWERED")
    answered = dataclasses.replace(unanswered, status="OK", reason_code=None, hash="f" * 64)
    await put(index, unanswered, answered)  # the one ahead: offsets 0 and 1, next offset 2
    await put(index, unanswered)  # the one behind, still at offset 0: next offset 1
    assert await everything(index) == [answered]
    assert await index.positions(TOPIC) == {0: 2}
    later = dataclasses.replace(answered, hash="e" * 64)
    await put(index, later, at=2)  # a later record still replaces the row, and the position moves on
    assert await everything(index) == [later]
    assert await index.positions(TOPIC) == {0: 3}


async def test_the_last_change_of_an_id_in_one_batch_wins(index: AuditIndexBackend) -> None:
    """Within one batch, a tombstone after a record removes it, and a record after a tombstone stays."""
    first, second = record(1), record(2)
    await put(index, first, (first.exchange_id, None), (second.exchange_id, None), second)
    assert await everything(index) == [second]


async def test_each_filter_selects_its_records(index: AuditIndexBackend) -> None:
    """Agency, personal id, purpose, operation, status and reason each narrow the answer, and combine."""
    records = [
        record(0),
        record(1, agency="demo-telecom", purpose_code="SIM-OWNER"),
        record(2, personal_id="001090099999", operation="LOOKUP"),
        record(3, status="REJECTED", reason_code="SUSPENDED"),
        record(4, agency="demo-telecom", status="REJECTED", reason_code="QUOTA_EXCEEDED"),
    ]
    await put(index, *records)
    cases = {
        AuditQuery(agency="demo-telecom"): [1, 4],
        AuditQuery(personal_id="001090099999"): [2],
        AuditQuery(purpose="SIM-OWNER"): [1],
        AuditQuery(operation="LOOKUP"): [2],
        AuditQuery(status="REJECTED"): [3, 4],
        AuditQuery(reason="SUSPENDED"): [3],
        AuditQuery(agency="demo-telecom", status="REJECTED"): [4],
        AuditQuery(agency="nobody"): [],
    }
    for q, expected in cases.items():
        assert await everything(index, q) == [records[i] for i in expected], q
        assert await index.count(q) == len(expected), q


async def test_a_period_includes_its_start_and_excludes_its_end(index: AuditIndexBackend) -> None:
    """start <= received_at < end, to the millisecond."""
    records = [record(n) for n in range(5)]
    await put(index, *records)
    q = AuditQuery(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))
    assert await everything(index, q) == records[1:3]
    late = AuditQuery(start=T0 + timedelta(minutes=4, milliseconds=1))
    assert await index.count(late) == 0


async def test_pages_cover_every_match_once_in_time_then_exchange_order(index: AuditIndexBackend) -> None:
    """Limit-sized pages, ties on the time broken by exchange id, concatenate to the whole ordered answer."""
    tied = [record(n, received_at=T0) for n in range(7)]
    later = [record(n) for n in range(7, 23)]
    await put(index, *reversed(later), *reversed(tied))
    pages, cursor = [], None
    while True:
        found = await index.query(AuditQuery(), limit=5, cursor=cursor)
        pages.append(found.records)
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [r for p in pages for r in p] == sorted(tied, key=lambda r: r.exchange_id) + later
    assert [r async for r in every_record(index, AuditQuery(), page=4)] == await everything(index)


async def test_newest_first_pages_are_the_whole_answer_reversed(index: AuditIndexBackend) -> None:
    """newest_first: pages in descending (received_at, exchange_id) order, ties too, each match once."""
    tied = [record(n, received_at=T0 + timedelta(minutes=30)) for n in range(5)]
    others = [record(n) for n in range(5, 17)]
    await put(index, *tied, *others)
    oldest_first = await everything(index)
    q = AuditQuery(newest_first=True)
    pages, cursor = [], None
    while True:
        found = await index.query(q, limit=4, cursor=cursor)
        pages.append(found.records)
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    assert [len(p) for p in pages] == [4, 4, 4, 4, 1]
    assert [r for p in pages for r in p] == list(reversed(oldest_first))
    assert await everything(index, q) == list(reversed(oldest_first))


async def test_newest_first_keeps_the_filters_and_the_period(index: AuditIndexBackend) -> None:
    """A person's records in a period, newest first: the same set as oldest first, reversed."""
    records = [record(n, personal_id="001090099999" if n % 2 else AUDIT.personal_id) for n in range(10)]
    await put(index, *records)
    period = {
        "personal_id": "001090099999",
        "start": T0 + timedelta(minutes=2),
        "end": T0 + timedelta(minutes=8),
    }
    found = await index.query(AuditQuery(**period, newest_first=True), limit=2)  # type: ignore[arg-type]
    assert found.records == [records[7], records[5]]
    rest = await index.query(AuditQuery(**period, newest_first=True), limit=2, cursor=found.next_cursor)  # type: ignore[arg-type]
    assert rest.records == [records[3]] and rest.next_cursor is None
    assert await index.count(AuditQuery(**period, newest_first=True)) == 3  # type: ignore[arg-type]


async def test_a_cursor_of_one_order_is_refused_by_the_other(index: AuditIndexBackend) -> None:
    """The order is part of the query a cursor is bound to: an oldest-first one cannot page newest-first."""
    await put(index, *(record(n) for n in range(4)))
    cursor = (await index.query(AuditQuery(), limit=2)).next_cursor
    assert cursor is not None
    with pytest.raises(ConfigError, match="another query"):
        await index.query(AuditQuery(newest_first=True), limit=2, cursor=cursor)


async def test_a_page_that_ends_exactly_at_the_last_match_has_no_cursor(index: AuditIndexBackend) -> None:
    """Six matches in pages of three: two pages, and no cursor to an empty third."""
    await put(index, *(record(n) for n in range(6)))
    first = await index.query(AuditQuery(), limit=3)
    second = await index.query(AuditQuery(), limit=3, cursor=first.next_cursor)
    assert len(second.records) == 3 and second.next_cursor is None


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "bm90IGpzb24", "WzEsMiwzXQ", "WyJhIiwgInRpbWUiLCAiaWQiXQ", "x" * 5000]
)
async def test_a_malformed_cursor_is_a_config_error(index: AuditIndexBackend, cursor: str) -> None:
    """Garbage, non-JSON, a wrong shape or an oversized cursor: a ConfigError saying what to pass."""
    await put(index, record(1))
    with pytest.raises(ConfigError, match="cursor"):
        await index.query(AuditQuery(), cursor=cursor)


async def test_a_cursor_of_another_query_is_refused(index: AuditIndexBackend) -> None:
    """A cursor is bound to the query that printed it."""
    await put(index, *(record(n) for n in range(4)))
    cursor = (await index.query(AuditQuery(agency="demo-bank"), limit=2)).next_cursor
    assert cursor is not None
    with pytest.raises(ConfigError, match="another query"):
        await index.query(AuditQuery(agency="demo-telecom"), limit=2, cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, 10_001])
async def test_a_limit_out_of_bounds_is_a_config_error(index: AuditIndexBackend, limit: int) -> None:
    """A page holds 1 to 10,000 records."""
    with pytest.raises(ConfigError, match="page holds"):
        await index.query(AuditQuery(), limit=limit)


async def test_expire_deletes_only_what_is_older_than_the_cutoff(index: AuditIndexBackend) -> None:
    """Rows received before the cutoff go; the count says how many; the rest stay."""
    records = [record(n) for n in range(5)]
    await put(index, *records)
    assert await index.expire(T0 + timedelta(minutes=2)) == 2
    assert await everything(index) == records[2:]
    assert await index.expire(T0) == 0


async def test_positions_commit_with_the_rows_and_survive_a_reopen(make_index: MakeIndex) -> None:
    """The next offsets of a batch are stored with it; reopening the index finds them."""
    async with make_index() as index:
        assert await index.positions(TOPIC) == {}
        await index.apply(
            IndexBatch(TOPIC, [(record(1).exchange_id, Indexed(record(1), 3, 7))], {3: 9, 4: 0})
        )
    async with make_index(create=False) as again:
        assert await again.positions(TOPIC) == {3: 9, 4: 0}
        assert await again.count(AuditQuery()) == 1


async def test_an_index_of_another_topic_must_be_rebuilt(index: AuditIndexBackend) -> None:
    """Offsets of another topic mean nothing here: ConfigError naming --rebuild; reset empties it."""
    await put(index, record(1))
    with pytest.raises(ConfigError, match="--rebuild"):
        await index.positions("other.prefix.audit")
    await index.reset()
    assert await index.positions("other.prefix.audit") == {}
    assert await index.count(AuditQuery()) == 0


async def test_hostile_text_is_kept_as_data_and_found_by_its_value(index: AuditIndexBackend) -> None:
    """NUL, a lone surrogate, the escape marker, quotes and SQL come back exactly and match as values."""
    odd = ["a\x00b", "\ud800x", "\ufffe{}", "x'); DROP TABLE audit_records; --", "%_*", "Nguyễn\u202e"]
    records = [record(n, officer_id=text, purpose_code=text, case_no=text) for n, text in enumerate(odd)]
    await put(index, *records)
    assert await everything(index) == records
    for text, expected in zip(odd, records, strict=True):
        assert await everything(index, AuditQuery(purpose=text)) == [expected]
    assert await index.count(AuditQuery(purpose="%")) == 0


async def test_opening_an_index_never_built_is_a_config_error(make_index: MakeIndex) -> None:
    """A reader finds no index rather than an empty one: ConfigError naming `audit index`."""
    with pytest.raises(ConfigError, match="audit index"):
        async with make_index(create=False):
            pass


async def test_an_index_built_before_a_column_was_added_must_be_rebuilt(
    make_index: MakeIndex, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """An earlier release's table (no ``fee``) is refused with ConfigError naming the column and --rebuild;
    ``reset`` (what --rebuild does first) makes it usable again."""
    async with make_index() as index:
        await put(index, record(1))
    await _drop_fee_column(request, tmp_path)
    async with make_index() as outdated:
        with pytest.raises(ConfigError, match=r"no column fee.*--rebuild"):
            await outdated.count(EVERY)
        await outdated.reset()
        await put(outdated, record(2, fee=0))
        assert await everything(outdated) == [record(2, fee=0)]


async def _drop_fee_column(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Make the backend's table what an earlier release created: without the ``fee`` column."""
    if request.node.callspec.params["make_index"] == "sqlite":
        with sqlite3.connect(tmp_path / "audit-index.sqlite3") as db:
            db.execute("ALTER TABLE audit_records DROP COLUMN fee")
        return
    connection = await asyncpg.connect(request.getfixturevalue("postgres_dsn"))
    try:
        await connection.execute("ALTER TABLE audit_records DROP COLUMN fee")
    finally:
        await connection.close()


async def test_hidden_exchanges_are_visible_to_the_citizen_only_from_their_date(
    index: AuditIndexBackend,
) -> None:
    """visible_to_citizen_at leaves out records hidden until later; a mark refused as such hides nothing."""
    until = T0 + timedelta(days=30)
    basis = "Bộ luật Tố tụng hình sự 2015, Điều 88"
    records = [
        record(0),
        record(1, hidden_until=until, hiding_legal_basis=basis),
        record(
            2, hidden_until=until, hiding_legal_basis=basis, status="REJECTED", reason_code="QUOTA_EXCEEDED"
        ),
        record(
            3,
            hidden_until=until,
            hiding_legal_basis=basis,
            status="REJECTED",
            reason_code="HIDING_NOT_ALLOWED",
        ),
        record(4, hidden_until=until + timedelta(days=1), hiding_legal_basis="\x00" + basis),
    ]
    await put(index, *records)
    assert await everything(index) == records  # the mark and its legal basis come back whole
    cases = {
        until - timedelta(milliseconds=1): [0, 3],
        until: [0, 1, 2, 3],
        until + timedelta(days=2): [0, 1, 2, 3, 4],
    }
    for at, expected in cases.items():
        q = AuditQuery(personal_id=AUDIT.personal_id, visible_to_citizen_at=at)
        assert await everything(index, q) == [records[i] for i in expected], at
        assert await index.count(q) == len(expected), at
        assert [r for r in records if visible_to_citizen(r, at)] == [records[i] for i in expected]


async def test_the_moment_of_visibility_is_no_part_of_a_cursor(index: AuditIndexBackend) -> None:
    """A citizen's next page is asked at a later moment: the previous page's cursor still serves it."""
    await put(index, *(record(n) for n in range(4)))
    first = await index.query(AuditQuery(visible_to_citizen_at=T0, newest_first=True), limit=2)
    later = AuditQuery(visible_to_citizen_at=T0 + timedelta(hours=1), newest_first=True)
    rest = await index.query(later, limit=2, cursor=first.next_cursor)
    assert [r.request_offset for r in first.records + rest.records] == [3, 2, 1, 0]
