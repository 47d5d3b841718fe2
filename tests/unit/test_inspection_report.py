"""The inspection report: its counts and rules over a known month, and HTML, CSV and JSON that agree."""

from __future__ import annotations

import argparse
import io
import json
from datetime import date, datetime
from pathlib import Path

import pytest

from dancu_bus.cli.audit_report import run_report
from dancu_bus.errors import ConfigError
from dancu_bus.inspection import (
    WORKING_HOURS,
    ChainStatement,
    Period,
    build_report,
    csv_text,
    html_text,
    json_text,
)
from dancu_bus.inspection.charts import refusals_chart, volume_chart
from dancu_bus.inspection.report import MAX_KEYS, OTHER_KEY
from dancu_bus.inspection.tables import tables
from dancu_bus.settings import Settings
from tests.inspection_samples import (
    BROKEN,
    GENERATED,
    HOSTILE_PURPOSE,
    INTACT,
    PERIOD,
    at_vietnam,
    bank,
    csv_sections,
    html_tables,
    month,
    record,
    sample_report,
)

MONDAY = date(2026, 11, 16)


def test_the_month_is_counted_as_it_was_made() -> None:
    """Volumes, refusals, quota hits, out-of-hours days and fields disclosed equal the known month."""
    report = sample_report()
    assert report.total == 21 * 10 + 90 + 5 + 4 + 3 + 2
    assert report.refusals == {"SUSPENDED": 4, "QUOTA_EXCEEDED": 3}
    assert report.quota_hits == {date(2026, 11, 18): 3}
    assert report.out_of_hours == {date(2026, 11, 7): 5}
    assert report.disclosed == {(HOSTILE_PURPOSE, "full_name"): 2, (HOSTILE_PURPOSE, "birth_date"): 2}
    assert report.by_operation() == {("VERIFY", "OK"): 305, ("VERIFY", "REJECTED"): 7, ("LOOKUP", "OK"): 2}
    assert report.by_day[date(2026, 11, 10), "VERIFY", "REJECTED"] == 4


def test_the_period_is_whole_days_in_vietnam_time() -> None:
    """23:30 on the last day (Vietnam time) is in the period, 00:30 the day after is not, whatever UTC."""
    last = record(at_vietnam(date(2026, 11, 30), 23, 30))
    after = record(at_vietnam(date(2026, 12, 1), 0, 30))
    before = record(at_vietnam(date(2026, 10, 31), 23, 59))
    report = build_report(bank(), PERIOD, [last, after, before], INTACT, GENERATED)
    assert report.total == 1 and report.daily_totals()[date(2026, 11, 30)] == 1
    assert len(report.daily_totals()) == 30


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        (at_vietnam(MONDAY, 6, 59), False),
        (at_vietnam(MONDAY, 7, 0), True),
        (at_vietnam(MONDAY, 17, 59), True),
        (at_vietnam(MONDAY, 18, 0), False),
        (at_vietnam(date(2026, 11, 21), 10, 0), False),  # a Saturday
        (at_vietnam(date(2026, 11, 22), 10, 0), False),  # a Sunday
        (datetime.fromisoformat("2026-11-16T01:30:00+00:00"), True),  # 08:30 in Hà Nội
        (datetime.fromisoformat("2026-11-16T23:30:00+00:00"), False),  # Tuesday 06:30 in Hà Nội
    ],
)
def test_working_hours_are_read_in_vietnam_time(moment: datetime, working: bool) -> None:
    """07:00–18:00 Monday to Friday, in UTC+7."""
    assert WORKING_HOURS.covers(moment) is working


def test_a_day_above_three_times_the_median_is_unusual() -> None:
    """100 on a day whose usual is 10 is flagged; 30 (exactly 3×) is not; idle days do not count."""
    report = sample_report()
    assert [(u.day, u.count, u.median) for u in report.unusual_days] == [(MONDAY, 100, 10.0)]
    days = [record(at_vietnam(date(2026, 11, d), 9)) for d in (2, 3, 4) for _ in range(10)]
    days += [record(at_vietnam(date(2026, 11, 5), 9)) for _ in range(30)]
    assert build_report(bank(), PERIOD, days, INTACT, GENERATED).unusual_days == ()


def test_registry_changes_in_the_period_and_usage_reports_apart() -> None:
    """November's suspension and resumption are changes; its usage-report request and answer are apart."""
    report = sample_report()
    assert [c.action for c in report.registry_changes] == ["SUSPEND", "RESUME"]
    assert [(c.action, c.document_ref) for c in report.usage_reports] == [
        ("USAGE_REPORT_REQUEST", "CV-77"),
        ("USAGE_REPORT_ANSWER", "BC-2026-11"),
    ]
    assert report.usage_requests_open == 1  # CV-80, asked in December, is still due


def test_agency_chosen_names_are_capped() -> None:
    """An agency sending a hundred made-up operations makes at most MAX_KEYS rows and one OTHER_KEY."""
    moment = at_vietnam(MONDAY, 9)
    made_up = [
        record(moment, operation=f"OP{n}", status="REJECTED", reason_code="UNKNOWN_OPERATION")
        for n in range(100)
    ]
    report = build_report(bank(), PERIOD, made_up, INTACT, GENERATED)
    operations = {operation for operation, _ in report.by_operation()}
    assert len(operations) == MAX_KEYS + 1 and OTHER_KEY in operations
    assert report.by_operation()[OTHER_KEY, "REJECTED"] == 100 - MAX_KEYS


def test_made_up_values_sent_first_cannot_push_the_registered_ones_out() -> None:
    """The agency's granted operations and registered purposes keep their own rows whatever came first."""
    moment = at_vietnam(MONDAY, 9)
    made_up = [
        record(moment, operation=f"OP{n}", purpose_code=f"P{n}", fields_disclosed=["full_name"])
        for n in range(100)
    ]
    agency = bank()
    (operation, *_) = sorted(agency.operations)
    (purpose, *_) = sorted(agency.purposes)
    real = record(moment, operation=str(operation), purpose_code=purpose, fields_disclosed=["full_name"])
    report = build_report(agency, PERIOD, [*made_up, real], INTACT, GENERATED)
    assert report.by_operation()[str(operation), real.status] == 1
    assert report.disclosed[purpose, "full_name"] == 1


def test_html_csv_and_json_carry_the_same_numbers() -> None:
    """Every section's rows are the same in the three formats, cell by cell."""
    report = sample_report()
    in_json = json.loads(json_text(report))["sections"]
    in_csv = csv_sections(csv_text(report))
    in_html = html_tables(html_text(report))
    for table in tables(report):
        expected = [{k: _text(v) for k, v in row.items()} for row in table.records()]
        assert [{k: _text(v) for k, v in row.items()} for row in in_json[table.section]] == expected
        assert [{k: row[k] for k in table.columns} for row in in_csv.get(table.section, [])] == expected
        if expected:
            assert [{k: row[k] for k in table.columns} for row in in_html[table.section]] == expected


def test_every_agency_string_is_escaped_in_html() -> None:
    """A purpose code with a script and a registry detail with markup appear as text, never as elements."""
    page = html_text(sample_report())
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert "kiểm tra &lt;b&gt;đột xuất&lt;/b&gt;" in page


def test_agency_text_that_would_start_a_formula_stays_text_in_csv() -> None:
    """A purpose code `=HYPERLINK(…)` is a cell of text in a spreadsheet (a leading '), never a formula."""
    formula = '=HYPERLINK("http://x.example","ok")'
    made_up = [record(at_vietnam(MONDAY, 9), purpose_code=formula, fields_disclosed=["full_name"])]
    text = csv_text(build_report(bank(), PERIOD, made_up, INTACT, GENERATED))
    assert "'" + formula.replace('"', '""') in text
    assert not any(cell.startswith("=") for line in text.splitlines() for cell in line.split(","))


def test_the_report_states_a_chain_failure() -> None:
    """A statement that the chain failed is the report's verdict, with the finding, in every format."""
    report = sample_report(BROKEN)
    page = html_text(report)
    assert 'class="verdict failed"' in page and "VERIFICATION FAILED" in page
    assert "CHANGED at offset 41 (exchange e-1)" in page
    summary = {r["measure"]: r["value"] for r in json.loads(json_text(report))["sections"]["summary"]}
    assert summary["chain_verified"] is False
    assert "summary,chain_verified,false" in csv_text(report)
    assert 'class="verdict ok"' in html_text(sample_report(INTACT))


def test_a_failed_checkpoint_fails_the_statement() -> None:
    """An intact chain whose signed checkpoints did not verify is not verified."""
    statement = ChainStatement(
        True, ("checkpoint of partition 3 does not match",), checkpoints_verified=False
    )
    assert not statement.verified
    assert "VERIFICATION FAILED" in html_text(sample_report(statement))


def test_charts_are_the_same_bytes_every_time() -> None:
    """Two drawings of one report are equal SVG, with no date in them."""
    report = sample_report()
    first, second = volume_chart(report), volume_chart(sample_report())
    assert first == second and refusals_chart(report) == refusals_chart(report)
    assert first.startswith("<svg") and "<dc:date>" not in first


def test_a_report_of_nothing_says_so() -> None:
    """No exchanges at all: zero counts, empty sections marked none, and the charts still draw."""
    report = build_report(bank(), PERIOD, [], INTACT, GENERATED)
    assert report.total == 0 and report.median_daily == 0.0 and report.unusual_days == ()
    assert "không có / none" in html_text(report)


@pytest.mark.parametrize(
    ("first", "last", "why"),
    [(date(2026, 11, 2), date(2026, 11, 1), "ends"), (date(2024, 1, 1), date(2026, 1, 1), "at most")],
)
def test_a_period_must_make_sense(first: date, last: date, why: str) -> None:
    """A period ending before it starts, or longer than two years, is refused with its reason."""
    with pytest.raises(ValueError, match=why):
        Period(first, last)


def test_records_are_folded_not_listed() -> None:
    """The builder reads a generator once; the month's records are never held."""
    records = month()
    report = build_report(bank(), PERIOD, records, INTACT, GENERATED)
    assert report.total > 0 and next(records, None) is None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@pytest.mark.parametrize(
    ("form", "out", "said"),
    [
        ("xml", None, "each format is one of html, pdf, csv, json"),
        ("pdf", None, "needs --out"),
        ("html,json", None, "needs --out"),
        ("", Path("r.html"), "each format is one of"),
    ],
)
def test_report_arguments_are_refused_before_anything_is_read(form: str, out: Path | None, said: str) -> None:
    """An unknown format, or a PDF or several formats with nowhere to write them, is one ConfigError."""
    args = argparse.Namespace(agency="demo-bank", first="2026-11-01", last="2026-11-30", format=form, out=out)
    with pytest.raises(ConfigError, match=said):
        run_report(args, Settings(), io.StringIO())
