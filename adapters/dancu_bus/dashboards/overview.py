"""The overview: is the bus serving agencies well right now (rate, errors, latency, lag, audit, processes)?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from dancu_bus.dashboards._widgets import (
    COUNT,
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
    states,
    timeseries_panel,
)

__all__ = ["PLATFORM_FAILURES", "overview"]

PLATFORM_FAILURES = 'error_code=~"STORE_FAILED|HANDLER_FAILED"'
"""Dead letters that are the platform's fault (the error-ratio SLO's errors); the others are bad input."""

_REQUESTS = rate("dancu_resolver_requests_total")
_FAILED = f"(sum({rate('dancu_resolver_dead_letters_total', PLATFORM_FAILURES)}) or vector(0))"
_ERROR_RATIO = f"{_FAILED} / (sum({_REQUESTS}) + {_FAILED})"
_P99 = quantile(0.99, "dancu_resolver_end_to_end_seconds_bucket")
_NOT_FOUND = ratio(
    rate("dancu_resolver_answers_total", 'verdict="NOT_FOUND"'), rate("dancu_resolver_answers_total")
)
_BACKLOG_AGE = "max(dancu_audit_backlog_oldest_seconds)"

_ERROR_STEPS = (Step(None, "green"), Step(0.001, "orange"), Step(0.01, "red"))
_BACKLOG_STEPS = (Step(None, "green"), Step(60, "orange"), Step(300, "red"))


def overview() -> model.Dashboard:
    """Rate, errors, latency, NOT_FOUND, lag, the audit backlog and each process's health."""
    board = frame(
        "dancu-overview",
        "dancu-bus overview",
        "Is the bus serving agencies well: rate, errors, latency, lag, audit backlog, processes",
        ["overview"],
    )
    section(board, "Now", _headline())
    section(board, "Requests", _requests())
    section(board, "Lag and audit", _lag_and_audit())
    section(board, "Processes", _processes())
    return numbered(board.build())


def _headline() -> list[Panel]:
    """The four numbers to look at first."""
    return [
        stat_panel(
            "Requests",
            "Requests answered per second, all agencies",
            REQUESTS_PER_SECOND,
            Query(f"sum({_REQUESTS})", "requests"),
        ),
        stat_panel(
            "Error ratio",
            "Requests the platform failed (dead letters STORE_FAILED, HANDLER_FAILED) among those it had to"
            " answer",
            RATIO,
            Query(_ERROR_RATIO, "errors"),
            _ERROR_STEPS,
        ),
        stat_panel(
            "p99 end to end",
            "99th percentile from the agency's sent_at to the response committed (SLO: 1 s)",
            SECONDS,
            Query(_P99, "p99"),
            LATENCY_STEPS,
        ),
        stat_panel(
            "Oldest exchange not yet audited",
            "How long the oldest committed response has waited for the audit consumer (Art. 13 at risk)",
            SECONDS,
            Query(_BACKLOG_AGE, "oldest"),
            _BACKLOG_STEPS,
        ),
    ]


def _requests() -> list[Panel]:
    """Traffic, errors, latency and the NOT_FOUND ratio over time."""
    return [
        timeseries_panel(
            "Requests by status",
            "Requests answered per second: OK, or REJECTED with a reason (the per-agency dashboard says"
            " which)",
            REQUESTS_PER_SECOND,
            [Query(f"sum by (status) ({_REQUESTS})", "{{status}}")],
        ),
        timeseries_panel(
            "Error ratio",
            "Requests the platform failed (dead letters STORE_FAILED, HANDLER_FAILED) among those it had to"
            " answer; bad input from an agency is not an error of the platform",
            RATIO,
            [Query(_ERROR_RATIO, "errors")],
            _ERROR_STEPS,
        ),
        latency(
            "End-to-end latency",
            "From the agency's sent_at to the response committed. SLO: 99 % within 1 s; 0.25 s a warning",
            "dancu_resolver_end_to_end_seconds_bucket",
        ),
        timeseries_panel(
            "NOT_FOUND ratio",
            "Answers NOT_FOUND among all answers: a jump means a store emptied or replaced, not agencies"
            " suddenly asking about unknown people",
            RATIO,
            [Query(_NOT_FOUND, "NOT_FOUND")],
        ),
    ]


def _lag_and_audit() -> list[Panel]:
    """How far behind the consumer groups and the audit trail are."""
    return [
        timeseries_panel(
            "Consumer lag (seconds) per group",
            "The largest lag in seconds of any partition a group reads (kafka-lag-exporter's"
            " max_lag_seconds)",
            SECONDS,
            [Query("max by (group) (dancu_consumergroup_group_max_lag_seconds)", "{{group}}")],
        ).span(8),
        timeseries_panel(
            "Audit backlog",
            "Responses committed that the audit consumer has not read yet: exchanges not yet in the log",
            COUNT,
            [Query("max(dancu_audit_backlog_exchanges)", "exchanges")],
        ).span(8),
        timeseries_panel(
            "Oldest exchange not yet audited",
            "How long the oldest committed response has waited for the audit consumer (Art. 13 at risk)",
            SECONDS,
            [Query(_BACKLOG_AGE, "oldest")],
            _BACKLOG_STEPS,
        ).span(8),
    ]


def _processes() -> list[Panel]:
    """Each process: scraped, ready, and connected to the Kafka cluster."""
    process = "{{job}} {{instance}}"
    return [
        states(
            "Up",
            "Prometheus could scrape the process's /metrics",
            Query('up{job=~"dancu-.*"}', process),
            [(1, "UP", "green"), (0, "DOWN", "red")],
        ).span(8),
        states(
            "Ready",
            "What the process's /readyz says",
            Query("dancu_ready", process),
            [(1, "READY", "green"), (0, "NOT READY", "red")],
        ).span(8),
        states(
            "Broker reachable",
            "The process's connection to the Kafka cluster works",
            Query("dancu_broker_reachable", process),
            [(1, "REACHABLE", "green"), (0, "UNREACHABLE", "red")],
        ).span(8),
    ]
