"""The report as named tables of plain cells, which HTML, CSV and JSON all lay out: the same numbers. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dancu_bus.agencies import Change
from dancu_bus.inspection.report import Report

__all__ = ["COLUMNS", "Cell", "Table", "Title", "tables"]

Cell = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Title:
    """A heading in Vietnamese and English."""

    vi: str
    en: str


@dataclass(frozen=True, slots=True)
class Table:
    """One section of the report: its stable name, its heading, its columns and rows."""

    section: str
    title: Title
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def records(self) -> list[dict[str, Cell]]:
        """The rows as column → cell mappings."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


_CHANGE_COLUMNS = ("at", "action", "by", "document_ref", "detail")
# Every column any section has, in the order the CSV lays them out (``render.csv_text``).
COLUMNS = (
    "measure",
    "value",
    "day",
    "operation",
    "status",
    "reason",
    "purpose",
    "field",
    "count",
    "median",
    *_CHANGE_COLUMNS,
    "legal_basis",
    "first_until",
    "last_until",
)


def tables(report: Report) -> tuple[Table, ...]:
    """Every section, in the order the report shows them."""
    return (
        _summary(report),
        _volume_by_operation(report),
        _volume_by_day(report),
        _refusals(report),
        _disclosed(report),
        _hidden(report),
        _out_of_hours(report),
        _unusual(report),
        _quota(report),
        _changes(
            "registry_changes", Title("Thay đổi hồ sơ kết nối", "Registry changes"), report.registry_changes
        ),
        _changes(
            "usage_reports",
            Title("Yêu cầu báo cáo tình hình sử dụng", "Usage-report requests and answers (Art. 14.1.b)"),
            report.usage_reports,
        ),
        _chain(report),
    )


def _summary(report: Report) -> Table:
    statuses = report.by_status()
    rows: list[tuple[Cell, ...]] = [("exchanges", report.total)]
    rows += [(f"status {status}", statuses[status]) for status in sorted(statuses)]
    rows += [
        ("refused", sum(report.refusals.values())),
        ("out_of_hours", sum(report.out_of_hours.values())),
        ("quota_hits", sum(report.quota_hits.values())),
        ("hidden_from_citizen", sum(h.count for h in report.hidden)),
        ("unusual_days", len(report.unusual_days)),
        ("median_daily", report.median_daily),
        ("registry_changes", len(report.registry_changes)),
        ("usage_reports", len(report.usage_reports)),
        ("usage_requests_open", report.usage_requests_open),
        ("chain_verified", report.chain.verified),
    ]
    return Table("summary", Title("Tóm tắt", "Summary"), ("measure", "value"), tuple(rows))


def _volume_by_operation(report: Report) -> Table:
    rows = tuple((op, status, n) for (op, status), n in sorted(report.by_operation().items()))
    title = Title("Số lượt trao đổi theo loại yêu cầu và kết quả", "Exchanges by operation and outcome")
    return Table("volume_by_operation", title, ("operation", "status", "count"), rows)


def _volume_by_day(report: Report) -> Table:
    rows = tuple((day.isoformat(), op, status, n) for (day, op, status), n in sorted(report.by_day.items()))
    title = Title("Số lượt trao đổi theo ngày", "Exchanges per day by operation and outcome")
    return Table("volume_by_day", title, ("day", "operation", "status", "count"), rows)


def _refusals(report: Report) -> Table:
    rows = tuple((reason, n) for reason, n in sorted(report.refusals.items(), key=lambda kv: (-kv[1], kv[0])))
    return Table(
        "refusals_by_reason", Title("Từ chối theo lý do", "Refusals by reason"), ("reason", "count"), rows
    )


def _disclosed(report: Report) -> Table:
    rows = tuple((purpose, name, n) for (purpose, name), n in sorted(report.disclosed.items()))
    title = Title("Trường thông tin đã cung cấp theo mục đích", "Fields disclosed by purpose")
    return Table("fields_by_purpose", title, ("purpose", "field", "count"), rows)


def _hidden(report: Report) -> Table:
    rows = tuple(
        (h.legal_basis, h.count, _moment(h.first_until), _moment(h.last_until)) for h in report.hidden
    )
    title = Title("Yêu cầu được ẩn với công dân", "Requests hidden from the citizen")
    return Table("hidden_from_citizen", title, ("legal_basis", "count", "first_until", "last_until"), rows)


def _out_of_hours(report: Report) -> Table:
    rows = tuple((day.isoformat(), n) for day, n in sorted(report.out_of_hours.items()))
    title = Title("Hoạt động ngoài giờ làm việc", "Activity out of working hours")
    return Table("out_of_hours_by_day", title, ("day", "count"), rows)


def _unusual(report: Report) -> Table:
    rows = tuple((u.day.isoformat(), u.count, u.median) for u in report.unusual_days)
    title = Title("Ngày có lưu lượng bất thường", "Days far above the agency's usual volume")
    return Table("unusual_days", title, ("day", "count", "median"), rows)


def _quota(report: Report) -> Table:
    rows = tuple((day.isoformat(), n) for day, n in sorted(report.quota_hits.items()))
    return Table("quota_hits_by_day", Title("Vượt hạn mức", "Quota hits"), ("day", "count"), rows)


def _changes(section: str, title: Title, changes: Iterable[Change]) -> Table:
    rows = tuple((_moment(c.at), c.action, c.by, c.document_ref, c.detail) for c in changes)
    return Table(section, title, _CHANGE_COLUMNS, rows)


def _chain(report: Report) -> Table:
    chain = report.chain
    checkpoints: Cell = "not checked" if chain.checkpoints_verified is None else chain.checkpoints_verified
    rows: Sequence[tuple[Cell, ...]] = [
        ("chain_verified", chain.chain_verified),
        ("checkpoints_verified", checkpoints),
        *(("detail", line) for line in chain.lines),
    ]
    title = Title("Xác minh chuỗi nhật ký và điểm kiểm tra đã ký", "Audit chain and signed checkpoints")
    return Table("chain", title, ("measure", "value"), tuple(rows))


def _moment(at: datetime) -> str:
    return at.isoformat()
