"""Per agency: what one connected database (or several) asks, what it is refused, and its quota."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from dancu_bus.dashboards._widgets import (
    COUNT,
    DATASOURCE,
    EVENTS_PER_SECOND,
    LATENCY_STEPS,
    RATIO,
    REQUESTS_PER_SECOND,
    SECONDS,
    Panel,
    Query,
    Step,
    frame,
    latency,
    numbered,
    quantile,
    rate,
    ratio,
    section,
    stat_panel,
    timeseries_panel,
)

__all__ = ["agency"]

_AGENCY = 'agency=~"$agency"'
_REQUESTS = "dancu_resolver_requests_total"
_REJECTED = f'{_AGENCY}, status="REJECTED"'
_QUOTA_USED = f"sum by (agency) (dancu_resolver_quota_used_today{{{_AGENCY}}})"
# Every resolver knows an agency's quota from the registry: the same value, counted once.
_QUOTA_PER_DAY = f"max by (agency) (dancu_resolver_quota_per_day{{{_AGENCY}}})"
_QUOTA_STEPS = (Step(None, "green"), Step(0.8, "orange"), Step(1.0, "red"))


def agency() -> model.Dashboard:
    """Requests, rejections, verdicts, latency and quota of the agencies chosen in ``$agency``."""
    board = frame(
        "dancu-agency",
        "dancu-bus per agency",
        "One agency's exchanges: its requests, why it is refused, its answers, latency and quota",
        ["agency"],
    ).with_variable(_agency_variable())
    section(board, "$agency now", _headline())
    section(board, "Requests and answers", _requests())
    section(board, "Quota", _quota())
    return numbered(board.build())


def _agency_variable() -> dashboard_builders.QueryVariable:
    """The agencies that sent requests in the time range, several at once or all."""
    return (
        dashboard_builders.QueryVariable("agency")
        .label("Agency")
        .description("Agency ids as the resolver counts them (their topics' names)")
        .datasource(DATASOURCE)
        .query(f"label_values({_REQUESTS}, agency)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def _headline() -> list[Panel]:
    """The chosen agencies' rate, refusals, latency and quota, as numbers."""
    return [
        stat_panel(
            "Requests",
            "Requests answered per second",
            REQUESTS_PER_SECOND,
            Query(f"sum({rate(_REQUESTS, _AGENCY)})", "requests"),
        ),
        stat_panel(
            "Rejected",
            "Requests refused (status REJECTED) among those answered",
            RATIO,
            Query(ratio(rate(_REQUESTS, _REJECTED), rate(_REQUESTS, _AGENCY)), "rejected"),
        ),
        stat_panel(
            "p99 end to end",
            "99th percentile from the agency's sent_at to the response committed (SLO: 1 s)",
            SECONDS,
            Query(quantile(0.99, "dancu_resolver_end_to_end_seconds_bucket", _AGENCY), "p99"),
            LATENCY_STEPS,
        ),
        stat_panel(
            "Quota used today",
            "Quota units spent today (UTC) over the daily quota",
            RATIO,
            Query(f"{_QUOTA_USED} / {_QUOTA_PER_DAY}", "{{agency}}"),
            _QUOTA_STEPS,
        ),
    ]


def _requests() -> list[Panel]:
    """What the chosen agencies ask, how they are answered or refused, and how fast."""
    return [
        timeseries_panel(
            "Requests by operation and status",
            "Requests answered per second, OK or REJECTED, per operation",
            REQUESTS_PER_SECOND,
            [
                Query(
                    f"sum by (agency, operation, status) ({rate(_REQUESTS, _AGENCY)})",
                    "{{agency}} {{operation}} {{status}}",
                )
            ],
        ),
        timeseries_panel(
            "Rejections by reason",
            "Why requests are refused: the reason codes of docs/CONTRACT.md (QUOTA_EXCEEDED, SUSPENDED, …)",
            REQUESTS_PER_SECOND,
            [Query(f"sum by (agency, reason) ({rate(_REQUESTS, _REJECTED)})", "{{agency}} {{reason}}")],
        ),
        timeseries_panel(
            "Answers by verdict",
            "Answers per second by verdict (a batch counts each item): MATCH, MISMATCH, NOT_FOUND, …",
            EVENTS_PER_SECOND,
            [
                Query(
                    f"sum by (agency, operation, verdict) ({rate('dancu_resolver_answers_total', _AGENCY)})",
                    "{{agency}} {{operation}} {{verdict}}",
                )
            ],
        ),
        latency(
            "End-to-end latency",
            "From the agency's sent_at to the response committed, per agency. SLO: 99 % within 1 s",
            "dancu_resolver_end_to_end_seconds_bucket",
            _AGENCY,
            by="agency",
        ),
    ]


def _quota() -> list[Panel]:
    """Quota spent today against the daily quota, and how fast it is spent."""
    return [
        timeseries_panel(
            "Quota used today and per day",
            "Units spent today (UTC, one per answered request or batch item) and the registry's daily quota",
            COUNT,
            [Query(_QUOTA_USED, "{{agency}} used today"), Query(_QUOTA_PER_DAY, "{{agency}} per day")],
        ),
        timeseries_panel(
            "Quota spent",
            "Quota units spent per second",
            EVENTS_PER_SECOND,
            [Query(f"sum by (agency) ({rate('dancu_resolver_quota_used_total', _AGENCY)})", "{{agency}}")],
        ),
    ]
