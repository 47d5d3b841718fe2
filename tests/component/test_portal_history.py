"""A citizen's access history over a real SQLite audit index: newest first, paged, own id, hidden marks."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from dancu_bus.portal.history import history_page
from dancu_bus.portal.requests import HistoryAsk
from dancu_bus.store.audit_index import IndexBatch, Indexed, SqliteAuditIndex
from tests.unit.samples import AUDIT

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OWN = "001090012345"
OTHER = "079185000123"
NAMES = {"demo-bank": ("Ngân hàng Demo", "000.00.00.G01")}


def names(agency: str) -> tuple[str, str | None]:
    return NAMES.get(agency, (agency, None))


def record(n: int, personal_id: str = OWN, **changes: object) -> AuditRecord:
    """The n-th exchange, received n minutes after T0."""
    base = dataclasses.replace(
        AUDIT,
        exchange_id=str(uuid.UUID(int=n + 1)),
        received_at=T0 + timedelta(minutes=n),
        personal_id=personal_id,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[SqliteAuditIndex]:
    """An index of 30 exchanges: OWN's at even minutes (one an SMS SELF), another person's at odd ones."""
    records = [record(n, OWN if n % 2 == 0 else OTHER) for n in range(30)]
    records[4] = record(4, agency="sms", operation="SELF", purpose_code="TRA-CUU", status="OK")
    async with SqliteAuditIndex(tmp_path / "index.sqlite3", create=True) as opened:
        changes = [(r.exchange_id, Indexed(r, 0, i)) for i, r in enumerate(records)]
        await opened.apply(IndexBatch("ndxp.dancu.audit", changes, {0: len(records)}))
        yield opened


def ask(page_size: int, cursor: str | None = None, minutes: tuple[int, int] = (0, 30)) -> HistoryAsk:
    return HistoryAsk(
        T0 + timedelta(minutes=minutes[0]), T0 + timedelta(minutes=minutes[1]), cursor, page_size
    )


async def every_page(
    index: SqliteAuditIndex, page_size: int, minutes: tuple[int, int] = (0, 30), at: datetime = T0
) -> list[list[datetime]]:
    """The received times of each page, following cursors to the end."""
    pages, cursor = [], None
    while True:
        page = await history_page(index, OWN, ask(page_size, cursor, minutes), names, at)
        pages.append([e.received_at for e in page.entries])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_the_history_is_the_persons_exchanges_newest_first_in_pages(index: SqliteAuditIndex) -> None:
    """15 of OWN's exchanges in pages of 4: newest first, each once, never another person's."""
    pages = await every_page(index, 4)
    assert [len(p) for p in pages] == [4, 4, 4, 3]
    assert [t for p in pages for t in p] == [T0 + timedelta(minutes=m) for m in range(28, -1, -2)]


async def test_the_period_bounds_the_history(index: SqliteAuditIndex) -> None:
    """start ≤ received_at < end: minutes 10 to 20 give 10, 12, 14, 16, 18."""
    pages = await every_page(index, 100, (10, 20))
    assert pages == [[T0 + timedelta(minutes=m) for m in (18, 16, 14, 12, 10)]]


async def test_an_entry_names_the_agency_and_what_was_disclosed(index: SqliteAuditIndex) -> None:
    """Name and official code from the registry; the citizen's own SELF exchange is listed too."""
    page = await history_page(index, OWN, ask(100), names, T0)
    bank = page.entries[0]
    assert (bank.agency, bank.agency_name, bank.agency_code) == (
        "demo-bank",
        "Ngân hàng Demo",
        "000.00.00.G01",
    )
    assert (bank.purpose_code, bank.legal_basis, bank.status) == (AUDIT.purpose_code, AUDIT.legal_basis, "OK")
    sms = [e for e in page.entries if e.operation == "SELF"]
    assert [(e.agency, e.agency_name, e.agency_code) for e in sms] == [("sms", "sms", None)]


async def test_a_cursor_of_another_person_or_period_is_refused(index: SqliteAuditIndex) -> None:
    """A cursor is bound to the person and the period: another's is a ConfigError (INVALID_CURSOR)."""
    first = await history_page(index, OWN, ask(2), names, T0)
    with pytest.raises(ConfigError):
        await history_page(index, OTHER, ask(2, first.next_cursor), names, T0)
    with pytest.raises(ConfigError):
        await history_page(index, OWN, ask(2, first.next_cursor, (0, 20)), names, T0)


async def test_hidden_exchanges_appear_only_after_their_date(tmp_path: Path) -> None:
    """Minutes 20 to 26 hidden until T0 + 1 day: left out before (pages still full), all there after."""
    until = T0 + timedelta(days=1)
    records = [record(n, hidden_until=until if 20 <= n <= 26 else None) for n in range(30)]
    async with SqliteAuditIndex(tmp_path / "hidden.sqlite3", create=True) as hidden:
        changes = [(r.exchange_id, Indexed(r, 0, i)) for i, r in enumerate(records)]
        await hidden.apply(IndexBatch("ndxp.dancu.audit", changes, {0: len(records)}))
        before = await every_page(hidden, 4, at=until - timedelta(milliseconds=1))
        after = await every_page(hidden, 4, at=until)
    visible = [T0 + timedelta(minutes=m) for m in (*range(29, 26, -1), *range(19, -1, -1))]
    assert [t for p in before for t in p] == visible
    assert all(len(p) == 4 for p in before[:-1])
    assert [t for p in after for t in p] == [T0 + timedelta(minutes=m) for m in range(29, -1, -1)]


async def test_a_hidden_exchange_whose_date_passes_between_pages_shows_on_the_next(tmp_path: Path) -> None:
    """Each page is asked at its own moment: the cursor of an earlier moment still serves the next page."""
    until = T0 + timedelta(hours=1)
    records = [record(n, hidden_until=until if n == 1 else None) for n in range(4)]
    async with SqliteAuditIndex(tmp_path / "later.sqlite3", create=True) as hidden:
        changes = [(r.exchange_id, Indexed(r, 0, i)) for i, r in enumerate(records)]
        await hidden.apply(IndexBatch("ndxp.dancu.audit", changes, {0: len(records)}))
        first = await history_page(hidden, OWN, ask(2, minutes=(0, 30)), names, T0)
        rest = await history_page(hidden, OWN, ask(2, first.next_cursor, (0, 30)), names, until)
    assert [e.received_at for e in first.entries] == [T0 + timedelta(minutes=m) for m in (3, 2)]
    assert [e.received_at for e in rest.entries] == [T0 + timedelta(minutes=m) for m in (1, 0)]
