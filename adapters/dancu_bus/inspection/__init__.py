"""Inspection reports from the audit log (Art. 10, 14.2.e): one agency over a period, as HTML, PDF, CSV, JSON.

``report`` folds an agency's audit records, its registry record and a statement of the chain's
verification into a ``Report`` (pure; the rules it applies are in its docstring and in the report);
``tables`` lays the report out as named tables, which ``render`` writes as HTML (with ``charts``'
SVG), CSV and JSON, so the three carry the same numbers; ``pdf`` prints the HTML with headless
Chromium. Reading the records and the registry is the CLI's (``dancu-bus audit report``).
"""

from dancu_bus.inspection.pdf import find_chromium, print_pdf, screenshot
from dancu_bus.inspection.render import csv_text, html_text, json_text
from dancu_bus.inspection.report import (
    VIETNAM,
    WORKING_HOURS,
    ChainStatement,
    Period,
    Report,
    ReportBuilder,
    Rules,
    build_report,
)
from dancu_bus.inspection.tables import Table, tables

__all__ = [
    "VIETNAM",
    "WORKING_HOURS",
    "ChainStatement",
    "Period",
    "Report",
    "ReportBuilder",
    "Rules",
    "Table",
    "build_report",
    "csv_text",
    "find_chromium",
    "html_text",
    "json_text",
    "print_pdf",
    "screenshot",
    "tables",
]
