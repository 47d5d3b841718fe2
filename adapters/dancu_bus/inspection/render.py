"""The report as one self-contained HTML file, as CSV and as JSON: the same tables (``tables``) in each. Pure.

- **HTML**: inline CSS (a print stylesheet for A4, each section on its own page, table headings
  repeated across pages), the charts as inline SVG, no script and no external resource (a
  Content-Security-Policy forbids any). Every string is escaped: operation names, purpose codes,
  officer ids and registry details come from agencies and operators.
- **CSV**: one table; a ``section`` column names the report section, the other columns are the
  union of every section's (``tables.COLUMNS``), empty where a section has no such column.
- **JSON**: ``{"format": ..., "agency": ..., "period": ..., "generated_at": ..., "rules": [...],
  "sections": {section: [row objects]}}`` with keys sorted, so equal reports are equal bytes.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from dancu_bus.inspection.charts import refusals_chart, volume_chart
from dancu_bus.inspection.report import Report
from dancu_bus.inspection.tables import COLUMNS, Cell, Table, Title, tables
from dancu_bus.reasons import MESSAGES, Reason
from dancu_bus.text import spreadsheet_safe

__all__ = ["FORMAT", "TITLE", "csv_text", "html_text", "json_text"]

FORMAT = "dancu-bus inspection report 1"
TITLE = Title(
    "Báo cáo kiểm tra việc kết nối, chia sẻ dữ liệu với Cơ sở dữ liệu quốc gia về dân cư",
    "Inspection report: connection and data exchange with the National Population Database",
)
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_CSS = """
body { font-family: "DejaVu Sans", "Noto Sans", Arial, sans-serif; font-size: 10.5pt; color: #1b1b1b;
  margin: 2em auto; max-width: 60em; line-height: 1.35; }
h1 { font-size: 16pt; margin: 0 0 .2em; } h1 .en { display: block; font-size: 12pt; color: #444; }
h2 { font-size: 12.5pt; border-bottom: 1.5pt solid #2c6fbb; padding-bottom: .15em; margin-top: 1.6em; }
h2 .en { color: #444; font-weight: normal; }
table { border-collapse: collapse; margin: .4em 0 1em; min-width: 40%; }
th, td { border: .5pt solid #999; padding: .15em .5em; text-align: left; vertical-align: top; }
th { background: #e8eef6; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1em 1em; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
.verdict { padding: .5em .8em; border: 1.5pt solid; font-weight: bold; }
.verdict.ok { border-color: #2f7d4f; color: #2f7d4f; }
.verdict.failed { border-color: #c0392b; color: #c0392b; }
.empty { color: #666; font-style: italic; }
figure { margin: .5em 0; } figure svg { max-width: 100%; height: auto; }
@page { size: A4; margin: 15mm 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 9.5pt; }
  section { break-before: page; } section.first { break-before: auto; }
  thead { display: table-header-group; } tr, figure, .verdict { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def html_text(report: Report) -> str:
    """The report as one HTML document with everything inline."""
    sections = tables(report)
    body = [_header(report), _verdict(report), _section(sections[0], first=True), _charts(report)]
    body += [_section(table) for table in sections[1:]]
    return (
        '<!DOCTYPE html>\n<html lang="vi">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{_e(TITLE.vi)} — {_e(report.agency.id)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{''.join(body)}</body>\n</html>\n"
    )


def csv_text(report: Report) -> str:
    """Every section's rows in one CSV table, a ``section`` column first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=("section", *COLUMNS), lineterminator="\n")
    writer.writeheader()
    for table in tables(report):
        for record in table.records():
            # Agency text (operations, purposes) and operators' (registry changes) stays text in a sheet.
            cells = {
                k: spreadsheet_safe(_csv_cell(v)) if isinstance(v, str) else _csv_cell(v)
                for k, v in record.items()
            }
            writer.writerow({"section": table.section, **cells})
    return out.getvalue()


def json_text(report: Report) -> str:
    """The report as JSON with sorted keys."""
    agency = report.agency
    document: dict[str, Any] = {
        "format": FORMAT,
        "agency": {
            "id": agency.id,
            "name": agency.name,
            "code": agency.code,
            "status": agency.status,
            "status_reason": agency.status_reason,
            "quota": {"per_second": agency.quota_per_second, "per_day": agency.quota_per_day},
        },
        "period": {"from": report.period.first.isoformat(), "to": report.period.last.isoformat()},
        "generated_at": report.generated_at.isoformat(),
        "rules": list(report.rules.lines()),
        "sections": {table.section: table.records() for table in tables(report)},
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def _header(report: Report) -> str:
    agency, period = report.agency, report.period
    facts = [
        ("Cơ quan / Agency", f"{agency.name} ({agency.id})"),
        ("Mã định danh / Code", agency.code or "—"),
        (
            "Trạng thái / Status",
            agency.status + (f": {agency.status_reason}" if agency.status_reason else ""),
        ),
        ("Hạn mức / Quota", f"{agency.quota_per_second:g} per second, {agency.quota_per_day} per day"),
        ("Kỳ báo cáo / Period", f"{period.first.isoformat()} – {period.last.isoformat()} (UTC+7)"),
        ("Lập lúc / Generated", report.generated_at.isoformat(timespec="seconds")),
    ]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    rules = "".join(f"<li>{_e(line)}</li>" for line in report.rules.lines())
    return (
        f'<header>\n<h1>{_e(TITLE.vi)}<span class="en">{_e(TITLE.en)}</span></h1>\n'
        f'<dl class="facts">{rows}</dl>\n<p>Quy tắc / Rules:</p><ul>{rules}</ul>\n</header>\n'
    )


def _verdict(report: Report) -> str:
    chain = report.chain
    if chain.verified:
        text = "Chuỗi nhật ký đã được xác minh / The audit chain verified for the period"
    else:
        text = "XÁC MINH THẤT BẠI / VERIFICATION FAILED: the audit chain or its checkpoints did not verify"
    if chain.checkpoints_verified is None:
        text += " (không kiểm tra điểm kiểm tra đã ký / signed checkpoints not checked)"
    css = "ok" if chain.verified else "failed"
    return f'<p class="verdict {css}" id="verdict">{_e(text)}</p>\n'


def _charts(report: Report) -> str:
    return f"<figure>{volume_chart(report)}</figure>\n<figure>{refusals_chart(report)}</figure>\n"


def _section(table: Table, first: bool = False) -> str:
    css = ' class="first"' if first else ""
    heading = f'<h2>{_e(table.title.vi)} <span class="en">/ {_e(table.title.en)}</span></h2>'
    if not table.rows:
        return f'<section id="{table.section}"{css}>{heading}<p class="empty">không có / none</p></section>\n'
    meaning = table.section in _MEANINGS
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns) + (
        "<th>ý nghĩa / meaning</th>" if meaning else ""
    )
    body = "".join(_row(row, _MEANINGS.get(table.section)) for row in table.rows)
    return (
        f'<section id="{table.section}"{css}>{heading}\n<table data-section="{table.section}">'
        f"<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody></table></section>\n"
    )


def _row(row: Iterable[Cell], meaning: Callable[[str], str] | None) -> str:
    cells = list(row)
    html_cells = "".join(_td(cell) for cell in cells)
    if meaning is not None:
        html_cells += f"<td>{_e(meaning(str(cells[0])))}</td>"
    return f"<tr>{html_cells}</tr>\n"


def _td(cell: Cell) -> str:
    numeric = isinstance(cell, int | float) and not isinstance(cell, bool)
    return f'<td class="n">{_e(_csv_cell(cell))}</td>' if numeric else f"<td>{_e(_csv_cell(cell))}</td>"


def _reason_meaning(reason: str) -> str:
    message = MESSAGES.get(Reason(reason)) if reason in Reason.__members__ else None
    return "" if message is None else f"{message.vi} / {message.en}"


def _measure_meaning(measure: str) -> str:
    if measure.startswith("status "):
        return "số lượt có kết quả này / exchanges with this outcome"
    return _MEASURES.get(measure, "")


_MEASURES = {
    "exchanges": "tổng số lượt trao đổi / exchanges in the period",
    "refused": "số lượt bị từ chối / exchanges refused",
    "out_of_hours": "ngoài giờ làm việc / out of working hours",
    "quota_hits": "vượt hạn mức / refused for the quota",
    "hidden_from_citizen": "yêu cầu được ẩn với công dân đến một thời hạn / requests hidden from the citizen"
    " until a date",
    "unusual_days": "số ngày lưu lượng bất thường / days far above the usual volume",
    "median_daily": "trung vị số lượt mỗi ngày có hoạt động / median exchanges of an active day",
    "registry_changes": "thay đổi hồ sơ kết nối / registry changes",
    "usage_reports": "yêu cầu và báo cáo tình hình sử dụng / usage-report requests and answers",
    "usage_requests_open": "yêu cầu báo cáo chưa được trả lời / usage reports still due",
    "chain_verified": "nhật ký được xác minh / the audit log verified",
    "checkpoints_verified": "điểm kiểm tra đã ký được xác minh / the signed checkpoints verified",
    "detail": "chi tiết / detail",
}
_MEANINGS: dict[str, Callable[[str], str]] = {
    "summary": _measure_meaning,
    "refusals_by_reason": _reason_meaning,
    "chain": _measure_meaning,
}


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else str(cell)
    return str(cell)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
