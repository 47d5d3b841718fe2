"""Resolver internals: its worker, store, dead letters, lag, followed views and processes."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from dancu_bus.dashboards._sections import RESOLVER_JOB, lag_panels, process_panels, worker_panels
from dancu_bus.dashboards._widgets import (
    COUNT,
    SECONDS,
    Panel,
    Query,
    distribution,
    frame,
    numbered,
    rates_by,
    section,
    timeseries_panel,
)

__all__ = ["resolver"]

_VIEW = "{{view}} {{instance}}"


def resolver() -> model.Dashboard:
    """What the resolvers do inside: batches, transactions, store, failures, lag, views, processes."""
    board = frame(
        "dancu-resolver",
        "dancu-bus resolver internals",
        "The resolvers' exactly-once worker, store queries, dead letters, lag, followed views and processes",
        ["resolver"],
    )
    section(board, "Worker", worker_panels("dancu_resolver"))
    section(board, "Store and dead letters", _store_and_dead_letters())
    section(board, "Lag", [*lag_panels(RESOLVER_JOB, width=8), *_lag_polls()])
    section(board, "Views", _views())
    section(board, "Processes", process_panels(RESOLVER_JOB))
    return numbered(board.build())


def _store_and_dead_letters() -> list[Panel]:
    """How long the store and the whole handling take, and what was dead-lettered."""
    return [
        distribution(
            "Store query",
            "Time of one batched store query",
            "dancu_resolver_store_seconds_bucket",
            SECONDS,
        ).span(8),
        distribution(
            "Processing",
            "From a request's arrival at the broker to its response committed (the resolver's part of the"
            " end-to-end latency)",
            "dancu_resolver_processing_seconds_bucket",
            SECONDS,
        ).span(8),
        rates_by(
            "Dead letters by code",
            "Records sent to the dead-letter topic: STORE_FAILED and HANDLER_FAILED are the platform's fault,"
            " the other codes an agency's bad input",
            "dancu_resolver_dead_letters_total",
            "error_code",
        ).span(8),
    ]


def _lag_polls() -> list[Panel]:
    """Whether the resolver can read the offsets lag is computed from."""
    return [
        rates_by(
            "Lag polls by outcome",
            "Rounds of reading committed and end offsets: failed ones leave the lag figures stale",
            "dancu_lag_polls_total",
            "outcome",
        ).span(8),
    ]


def _views() -> list[Panel]:
    """How fresh and how large each resolver's views of the registry, corrections and catalogues are."""
    return [
        timeseries_panel(
            "View staleness",
            "Time since a view last read its topics to their end: it grows when the view stops following",
            SECONDS,
            [Query("time() - dancu_view_caught_up_timestamp_seconds", _VIEW)],
        ).span(8),
        timeseries_panel(
            "Age of the last applied record",
            "Time since the newest record applied to a view was written: how long ago its topic last changed",
            SECONDS,
            [Query("time() - dancu_view_last_applied_timestamp_seconds", _VIEW)],
        ).span(8),
        timeseries_panel(
            "View size",
            "Records applied to a view since the process started (its size, for compacted topics)",
            COUNT,
            [Query("dancu_view_records", _VIEW)],
        ).span(8),
    ]
