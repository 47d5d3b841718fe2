"""The report's charts as SVG text, drawn with matplotlib and the same input always giving the same bytes.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot: no global figure state, no GUI
backend), written with the SVG backend; a fixed ``svg.hashsalt`` makes the element ids stable and
``metadata={"Date": None}`` leaves the date out. Text is kept as text (``svg.fonttype: none``), so
the browser draws Vietnamese with its own fonts and the SVG stays small; ``text.parse_math`` is off
so no label is read as TeX.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

from dancu_bus.inspection.report import Report

__all__ = ["refusals_chart", "volume_chart"]

_STYLE: dict[RcKeyType, object] = {
    "svg.hashsalt": "dancu-bus inspection report",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# Colours by outcome (OK, refused, never answered); any other outcome takes the next of the cycle.
_COLOURS = {"OK": "#2f7d4f", "REJECTED": "#c0392b", "UNANSWERED": "#7f8c8d"}
_CYCLE = ("#2c6fbb", "#d68910", "#8e44ad", "#16a085")
_MAX_TICKS = 16


def volume_chart(report: Report) -> str:
    """Exchanges per day, stacked by outcome, as SVG."""
    days = report.period.days()
    per_status: dict[str, list[int]] = {}
    for (day, _, status), count in report.by_day.items():
        per_status.setdefault(status, [0] * len(days))[(day - days[0]).days] += count
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(7.2, 2.8))
        axes = figure.add_subplot()
        _stacked(axes, days, per_status)
        axes.set_ylabel("exchanges / lượt")
        axes.set_title("Exchanges per day by outcome — Số lượt theo ngày, theo kết quả", loc="left")
        figure.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.9)
        return _svg(figure)


def refusals_chart(report: Report) -> str:
    """Refusals by reason, largest first, as SVG."""
    reasons = sorted(report.refusals.items(), key=lambda kv: (kv[1], kv[0]))
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(7.2, max(1.4, 0.3 * len(reasons) + 0.9)))
        axes = figure.add_subplot()
        if reasons:
            names, counts = zip(*reasons, strict=True)
            bars = axes.barh(range(len(names)), counts, color=_COLOURS["REJECTED"])
            axes.set_yticks(range(len(names)), names)
            axes.bar_label(bars, padding=2)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            axes.text(0.5, 0.5, "no refusals — không có từ chối", ha="center", va="center")
            axes.set_yticks([])
        axes.set_xlabel("exchanges refused / lượt bị từ chối")
        axes.set_title("Refusals by reason — Từ chối theo lý do", loc="left")
        # Fixed margins (tight_layout would draw the figure once more); the left fits the longest reason.
        longest = max((len(name) for name, _ in reasons), default=0)
        height = figure.get_figheight()
        figure.subplots_adjust(
            left=min(0.5, 0.05 + 0.0095 * longest), right=0.95, bottom=0.55 / height, top=1 - 0.35 / height
        )
        return _svg(figure)


def _stacked(axes: Axes, days: Sequence[date], per_status: Mapping[str, list[int]]) -> None:
    bottom = [0] * len(days)
    extra = iter(_CYCLE * (1 + len(per_status)))
    for status in sorted(per_status, key=lambda s: (s not in _COLOURS, s)):
        counts = per_status[status]
        colour = _COLOURS.get(status) or next(extra)
        axes.bar(range(len(days)), counts, bottom=bottom, color=colour, label=status, width=0.8)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    step = max(1, len(days) // _MAX_TICKS + (len(days) % _MAX_TICKS > 0))
    ticks = range(0, len(days), step)
    axes.set_xticks(list(ticks), [days[i].strftime("%d/%m") for i in ticks], rotation=0)
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if per_status:
        axes.legend(loc="upper left", fontsize=8, frameon=False)


def _svg(figure: Figure) -> str:
    """The figure as an SVG element to inline in HTML: no XML declaration, no doctype, no date."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]
