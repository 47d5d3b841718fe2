"""The audit: is every exchange written to the audit trail (Art. 13), and how far behind is it?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from dancu_bus.dashboards._sections import AUDIT_JOB, lag_panels, process_panels, worker_panels
from dancu_bus.dashboards._widgets import (
    COUNT,
    EVENTS_PER_SECOND,
    SECONDS,
    Panel,
    Query,
    Step,
    frame,
    numbered,
    rate,
    rates_by,
    section,
    stat_panel,
    states,
    timeseries_panel,
)

__all__ = ["audit"]

_AGE_STEPS = (Step(None, "green"), Step(60, "orange"), Step(300, "red"))


def audit() -> model.Dashboard:
    """Records written, exchanges waiting, the backlog, bad input, the worker and the processes."""
    board = frame(
        "dancu-audit",
        "dancu-bus audit",
        "The audit trail: records written, halves of exchanges waiting, backlog, lag, bad input, the worker",
        ["audit"],
    )
    section(board, "Now", _headline())
    section(board, "Audit records", _records())
    section(board, "Backlog and lag", [*_backlog(), *lag_panels(AUDIT_JOB)])
    section(board, "Bad input", _bad_input())
    section(board, "Worker", worker_panels("dancu_audit"))
    section(board, "Processes", process_panels(AUDIT_JOB))
    return numbered(board.build())


def _headline() -> list[Panel]:
    """Records written, the oldest exchange not yet audited, halves waiting, and whether requests are held."""
    return [
        stat_panel(
            "Records written",
            "Audit records written per second",
            EVENTS_PER_SECOND,
            Query(f"sum({rate('dancu_audit_records_total')})", "records"),
        ),
        stat_panel(
            "Oldest exchange not yet audited",
            "How long the oldest committed response has waited for the audit consumer (Art. 13 at risk)",
            SECONDS,
            Query("max(dancu_audit_backlog_oldest_seconds)", "oldest"),
            _AGE_STEPS,
        ),
        stat_panel(
            "Oldest half waiting",
            "Age of the oldest request or response still waiting for its other half",
            SECONDS,
            Query("max(dancu_audit_pending_oldest_seconds)", "oldest"),
            _AGE_STEPS,
        ),
        states(
            "Requests held",
            "HELD while request topics are paused because too many requests wait for their responses",
            Query("dancu_audit_requests_held", "{{instance}}"),
            [(0, "FLOWING", "green"), (1, "HELD", "orange")],
        ),
    ]


def _records() -> list[Panel]:
    """Records by status, and the halves of exchanges waiting for their other half."""
    return [
        rates_by(
            "Records by status",
            "Audit records written per second: OK, REJECTED, UNANSWERED (a request whose response never"
            " came)",
            "dancu_audit_records_total",
            "status",
        ).span(8),
        timeseries_panel(
            "Halves waiting",
            "Requests or responses seen whose other half has not arrived yet",
            COUNT,
            [Query("dancu_audit_pending", "{{instance}}")],
        ).span(8),
        timeseries_panel(
            "Oldest half waiting",
            "Age of the oldest request or response still waiting for its other half",
            SECONDS,
            [Query("dancu_audit_pending_oldest_seconds", "{{instance}}")],
            _AGE_STEPS,
        ).span(8),
    ]


def _backlog() -> list[Panel]:
    """Responses committed but not yet read by the audit consumer."""
    return [
        timeseries_panel(
            "Audit backlog",
            "Responses committed that the audit consumer has not read yet: exchanges not yet in the log",
            COUNT,
            [Query("max(dancu_audit_backlog_exchanges)", "exchanges")],
        ),
        timeseries_panel(
            "Oldest exchange not yet audited",
            "How long the oldest committed response has waited for the audit consumer (Art. 13 at risk)",
            SECONDS,
            [Query("max(dancu_audit_backlog_oldest_seconds)", "oldest")],
            _AGE_STEPS,
        ),
    ]


def _bad_input() -> list[Panel]:
    """What the audit consumer could not read or set aside."""
    return [
        rates_by(
            "Undecodable records by code",
            "Records the audit consumer could not decode (requests are dead-lettered by the resolver)",
            "dancu_audit_undecodable_total",
            "error_code",
        ),
        rates_by(
            "Dead letters by code",
            "Records the audit consumer dead-lettered: undecodable responses, unreadable batches, poison",
            "dancu_audit_dead_letters_total",
            "error_code",
        ),
    ]
