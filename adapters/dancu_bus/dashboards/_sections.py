"""Panels the resolver's and the audit's dashboards share: their exactly-once worker, their process, lag.

Both services run the same worker (dancu_bus.metrics.WorkerMetrics under the service's prefix), so the
same panels serve both, on the prefix and the scrape job given.
"""

from __future__ import annotations

from dancu_bus.dashboards._widgets import (
    BYTES,
    COUNT,
    CPU,
    EVENTS_PER_SECOND,
    SECONDS,
    Panel,
    Query,
    distribution,
    rate,
    rates_by,
    timeseries_panel,
)

__all__ = [
    "AUDIT_JOB",
    "PORTAL_JOB",
    "RESOLVER_JOB",
    "SMS_JOB",
    "lag_panels",
    "process_panels",
    "worker_panels",
]

RESOLVER_JOB = "dancu-resolver"
AUDIT_JOB = "dancu-audit"
SMS_JOB = "dancu-sms"
PORTAL_JOB = "dancu-portal"
"""The scrape jobs of deploy/prometheus's configuration."""


def worker_panels(prefix: str) -> list[Panel]:
    """Batches, transactions, fencing, partitions and failures of the worker whose metrics start with
    ``prefix`` (``dancu_resolver``, ``dancu_audit``)."""
    return [
        distribution("Batch size", "Records per handled batch", f"{prefix}_batch_size_bucket", COUNT),
        distribution(
            "Transaction commit",
            "Time to commit one batch's transaction (its outputs and input offsets together)",
            f"{prefix}_transaction_seconds_bucket",
            SECONDS,
        ),
        rates_by(
            "Aborted transactions by cause",
            "Aborted batches are read again from the last commit: rebalance and fenced are expected now and"
            " then; broker, timeout or error in a row need a look",
            f"{prefix}_transactions_aborted_total",
            "cause",
        ),
        timeseries_panel(
            "Fenced",
            "A newer writer or group generation took this worker's place: a restart, or two instances with"
            " the same name",
            EVENTS_PER_SECOND,
            [Query(f"sum by (instance) ({rate(f'{prefix}_fenced_total')})", "{{instance}}")],
        ),
        rates_by(
            "Rebalances",
            "Partitions assigned to and revoked from the workers: a storm means members come and go",
            f"{prefix}_rebalances_total",
            "change",
        ),
        timeseries_panel(
            "Assigned partitions",
            "Input partitions each worker owns now; their sum is the input topics' partitions",
            COUNT,
            [Query(f"sum by (instance) ({prefix}_assigned_partitions)", "{{instance}}")],
        ),
        timeseries_panel(
            "Quarantined records",
            "Records that failed alone after their batch failed, set aside as dead letters: a bug to fix",
            EVENTS_PER_SECOND,
            [Query(f"sum by (instance) ({rate(f'{prefix}_quarantined_records_total')})", "{{instance}}")],
        ),
        rates_by(
            "Worker failures by error",
            "Unexpected failures; the worker started again from the last commit. The logs say why",
            f"{prefix}_worker_failures_total",
            "error",
        ),
    ]


def lag_panels(job: str, width: int = 12) -> list[Panel]:
    """Consumer lag of the group the processes of ``job`` consume in (each reports its own, whatever its
    group id is set to), per topic-partition, in seconds and in records, each ``width`` wide (several
    processes report the same group: the largest is taken)."""
    selector = f'job="{job}"'
    by = "max by (group, topic, partition)"
    legend = "{{group}} {{topic}} [{{partition}}]"
    return [
        timeseries_panel(
            "Lag (seconds) per partition",
            "How long ago the group's committed offset was the partition's end",
            SECONDS,
            [
                Query(
                    f"{by} (dancu_consumergroup_group_lag_seconds{{{selector}}})",
                    legend,
                )
            ],
        ).span(width),
        timeseries_panel(
            "Lag (records) per partition",
            "Records between the group's committed offset and the partition's last stable offset",
            COUNT,
            [
                Query(
                    f"{by} (dancu_consumergroup_group_lag{{{selector}}})",
                    legend,
                )
            ],
        ).span(width),
    ]


def process_panels(job: str) -> list[Panel]:
    """CPU and resident memory of each process of the scrape ``job``."""
    selector = f'job="{job}"'
    return [
        timeseries_panel(
            "CPU",
            "CPU seconds per second of each process (100 % is one core)",
            CPU,
            [Query(rate("process_cpu_seconds_total", selector), "{{instance}}")],
        ),
        timeseries_panel(
            "Resident memory",
            "Resident set size of each process",
            BYTES,
            [Query(f"process_resident_memory_bytes{{{selector}}}", "{{instance}}")],
        ),
    ]
