"""A known month of one agency's exchanges for the inspection report's tests, hostile strings among them."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

from dancu_bus.agencies import Agency, Change, load_directory
from dancu_bus.contracts import AuditRecord
from dancu_bus.inspection import ChainStatement, Period, Report, build_report
from tests.keys import AGENCIES_FILE
from tests.unit import samples

# November 2026 in Vietnam time; the 16th is a Monday.
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))
GENERATED = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
HOSTILE_PURPOSE = '<script>alert("x")</script>&'
INTACT = ChainStatement(True, ("partition 3: intact, 1000 records, last hash ab12",), None)
BROKEN = ChainStatement(
    False,
    ("partition 3: CHANGED at offset 41 (exchange e-1): its fields no longer match its hash",),
    None,
)


def at_vietnam(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment given in Vietnam time (UTC+7), as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


def record(moment: datetime, **changes: object) -> AuditRecord:
    """The sample bank VERIFY record received at ``moment``, with ``changes``."""
    return dataclasses.replace(samples.AUDIT, received_at=moment, answered_at=moment, **changes)  # type: ignore[arg-type]


def bank() -> Agency:
    """demo-bank: suspended and resumed, a usage report asked and answered in November, one asked later."""
    agency = load_directory(AGENCIES_FILE).get("demo-bank")
    assert agency is not None
    history = (
        Change(at=datetime(2026, 10, 1, tzinfo=UTC), by="cuc-c06", document_ref="QD-0", action="REGISTER"),
        Change(
            at=at_vietnam(date(2026, 11, 10), 9),
            by="cuc-c06",
            document_ref="QD-12",
            action="SUSPEND",
            detail="kiểm tra <b>đột xuất</b>",
        ),
        Change(at=at_vietnam(date(2026, 11, 11), 9), by="cuc-c06", document_ref="QD-13", action="RESUME"),
        Change(
            at=at_vietnam(date(2026, 11, 20), 10),
            by="cuc-c06",
            document_ref="CV-77",
            action="USAGE_REPORT_REQUEST",
            detail="6 tháng đầu năm",
        ),
        Change(
            at=at_vietnam(date(2026, 11, 25), 16),
            by="demo-bank",
            document_ref="BC-2026-11",
            action="USAGE_REPORT_ANSWER",
            detail="answers CV-77 of 2026-11-20",
        ),
        Change(
            at=datetime(2026, 12, 3, tzinfo=UTC),
            by="cuc-c06",
            document_ref="CV-80",
            action="USAGE_REPORT_REQUEST",
            detail="kiểm tra đột xuất",
        ),
        Change(at=datetime(2026, 12, 5, tzinfo=UTC), by="cuc-c06", document_ref="QD-99", action="SUSPEND"),
    )
    return agency.model_copy(update={"history": history})


def month() -> Iterator[AuditRecord]:
    """The month's records: 10 a working day at 09:00, a spike of 100 on the 16th, and the odd ones out.

    Known counts: 21 working days (Nov 2026 has 21 weekdays) × 10, plus 90 more on the 16th; 5 at 20:00
    on Saturday the 7th (out of hours); 4 SUSPENDED on the 10th; 3 QUOTA_EXCEEDED on the 18th; 2 LOOKUPs
    disclosing two fields under a hostile purpose code; 1 record of another agency, 1 outside the period.
    """
    for day in PERIOD.days():
        if day.weekday() < 5:
            count = 100 if day == date(2026, 11, 16) else 10
            yield from (record(at_vietnam(day, 9)) for _ in range(count))
    yield from (record(at_vietnam(date(2026, 11, 7), 20)) for _ in range(5))
    refused = {"status": "REJECTED", "reason_code": "SUSPENDED"}
    yield from (record(at_vietnam(date(2026, 11, 10), 10), **refused) for _ in range(4))
    quota = {"status": "REJECTED", "reason_code": "QUOTA_EXCEEDED"}
    yield from (record(at_vietnam(date(2026, 11, 18), 11), **quota) for _ in range(3))
    lookup = {
        "operation": "LOOKUP",
        "purpose_code": HOSTILE_PURPOSE,
        "fields_disclosed": ("full_name", "birth_date"),
    }
    yield from (record(at_vietnam(date(2026, 11, 19), 14), **lookup) for _ in range(2))
    yield record(at_vietnam(date(2026, 11, 19), 14), agency="demo-telecom")
    yield record(at_vietnam(date(2026, 12, 1), 0, 30))  # the day after the period (Vietnam time)


def sample_report(chain: ChainStatement = INTACT) -> Report:
    """The month's report of demo-bank."""
    return build_report(bank(), PERIOD, month(), chain, GENERATED)


class _Tables(HTMLParser):
    """Collects the cells of every ``<table data-section=...>`` of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._section: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._section = dict(attrs).get("data-section")
            self.tables[self._section or ""] = []
        elif tag == "tr" and self._section is not None:
            self.tables[self._section].append([])
        elif tag in ("td", "th") and self._section is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._section = None
        elif tag in ("td", "th") and self._cell is not None and self._section is not None:
            self.tables[self._section][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each section's rows of an HTML report, as column → text (the header row gives the columns)."""
    parser = _Tables()
    parser.feed(text)
    return {
        section: [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]
        for section, rows in parser.tables.items()
    }


def csv_sections(text: str) -> dict[str, list[dict[str, str]]]:
    """Each section's rows of a CSV report, with only the columns that section fills."""
    sections: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        sections.setdefault(row.pop("section"), []).append(row)
    return sections


if __name__ == "__main__":
    # python -m tests.inspection_samples docs/inspection-report.png: the README's picture of a report.
    import sys
    import tempfile
    from pathlib import Path

    from dancu_bus.inspection import find_chromium, html_text, screenshot

    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        page.write_text(html_text(sample_report()), encoding="utf-8")
        screenshot(page, Path(sys.argv[1]), find_chromium(), size=(1100, 1400))
