"""The inspection report's section of requests hidden from the citizen: how many, until when, why."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from dancu_bus.contracts import AuditRecord
from dancu_bus.inspection import build_report, csv_text, html_text, json_text
from dancu_bus.inspection.tables import tables
from tests.inspection_samples import (
    GENERATED,
    INTACT,
    PERIOD,
    at_vietnam,
    bank,
    csv_sections,
    html_tables,
    record,
)

CPC = "Bộ luật Tố tụng hình sự 2015, Điều 88"
DECISION = "Quyết định <b>12</b>/QĐ-CSĐT"
SOON = datetime(2027, 1, 15, tzinfo=UTC)
LATER = datetime(2027, 6, 1, tzinfo=UTC)


def _hidden_month() -> list[AuditRecord]:
    day = at_vietnam(date(2026, 11, 16), 9)
    return [
        record(day),
        record(day + timedelta(minutes=1), hidden_until=SOON, hiding_legal_basis=CPC),
        record(day + timedelta(minutes=2), hidden_until=LATER, hiding_legal_basis=CPC),
        record(
            day + timedelta(minutes=3),
            hidden_until=LATER,
            hiding_legal_basis=CPC,
            status="REJECTED",
            reason_code="QUOTA_EXCEEDED",
        ),
        record(day + timedelta(minutes=4), hidden_until=SOON, hiding_legal_basis=DECISION),
        record(
            day + timedelta(minutes=5),
            hidden_until=LATER,
            hiding_legal_basis=CPC,
            status="REJECTED",
            reason_code="HIDING_NOT_ALLOWED",
        ),
    ]


def test_the_hidden_requests_are_counted_by_legal_basis_with_their_dates() -> None:
    """Each legal basis: its exchanges hidden (refused ones too) and the first and last date; a refused
    mark hid nothing and is not counted."""
    report = build_report(bank(), PERIOD, _hidden_month(), INTACT, GENERATED)
    assert [(h.legal_basis, h.count, h.first_until, h.last_until) for h in report.hidden] == [
        (CPC, 3, SOON, LATER),
        (DECISION, 1, SOON, SOON),
    ]
    summary = {row[0]: row[1] for row in next(t for t in tables(report) if t.section == "summary").rows}
    assert summary["hidden_from_citizen"] == 4
    assert report.refusals["HIDING_NOT_ALLOWED"] == 1


def test_the_section_is_the_same_in_html_csv_and_json_and_escaped() -> None:
    """The three formats carry the section's rows alike; a legal basis with markup is text in HTML."""
    report = build_report(bank(), PERIOD, _hidden_month(), INTACT, GENERATED)
    expected = [
        {"legal_basis": CPC, "count": "3", "first_until": SOON.isoformat(), "last_until": LATER.isoformat()},
        {
            "legal_basis": DECISION,
            "count": "1",
            "first_until": SOON.isoformat(),
            "last_until": SOON.isoformat(),
        },
    ]
    in_json = json.loads(json_text(report))["sections"]["hidden_from_citizen"]
    assert [{k: str(v) for k, v in row.items()} for row in in_json] == expected
    columns = ("legal_basis", "count", "first_until", "last_until")
    in_csv = csv_sections(csv_text(report))["hidden_from_citizen"]
    assert [{k: row[k] for k in columns} for row in in_csv] == expected
    page = html_text(report)
    assert [{k: row[k] for k in columns} for row in html_tables(page)["hidden_from_citizen"]] == expected
    assert "<b>12</b>" not in page and "&lt;b&gt;12&lt;/b&gt;" in page


def test_a_period_without_hidden_requests_says_none() -> None:
    """No hidden exchange: the section is empty and the summary counts zero."""
    report = build_report(bank(), PERIOD, [record(at_vietnam(date(2026, 11, 16), 9))], INTACT, GENERATED)
    assert report.hidden == ()
    assert 'id="hidden_from_citizen"' in html_text(report)
