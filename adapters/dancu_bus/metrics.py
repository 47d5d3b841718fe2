"""Prometheus metrics of each service, built on an injected registry (no module-level globals).

Names follow Prometheus' conventions: base units (seconds, records), ``_total`` on counters (the
client adds it), bounded labels only. A label value is one of a closed set the platform defines:
a registered agency's id (a topic the platform created), a registered operation, a status, a reason
or error code of ours, a verdict; never a request id, a personal id or any text an agency wrote.
``deploy/prometheus`` (rules), ``deploy/grafana`` (dashboards) and ``dancu-bus status`` read them;
``tests/unit/test_metrics.py`` checks that every metric declared here is set by the code.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from dancu_bus import __version__
from dancu_bus.lag import PartitionLag

__all__ = [
    "LATENCY_BUCKETS",
    "NO_REASON",
    "OTHER",
    "PLATFORM_FAULTS",
    "AuditMetrics",
    "LagMetrics",
    "ResolverMetrics",
    "ServiceMetrics",
    "ViewMetrics",
    "WorkerMetrics",
    "agency_label",
    "build_commit",
    "operation_label",
]

OTHER = "other"
"""The label value of anything outside a label's closed set."""
NO_REASON = "none"
"""The ``reason`` of a request that was served (Prometheus treats an empty label as no label)."""
PLATFORM_FAULTS = frozenset({"STORE_FAILED", "HANDLER_FAILED"})
"""The dead-letter codes that are the platform's fault, not an agency's bad input: the errors of the
error-ratio SLO (``dancu-bus status`` and deploy/prometheus's rules count these and only these)."""
_AGENCY_ID = re.compile(r"[a-z0-9-]{2,40}")


def operation_label(operation: str, registered: Collection[str]) -> str:
    """An operation as a label value: a ``registered`` one, else ``other`` (never the agency's text)."""
    return operation if operation in registered else OTHER


def agency_label(agency: str) -> str:
    """An agency id (a topic's, so one the platform created) as a label value; ``other`` if no slug."""
    return agency if _AGENCY_ID.fullmatch(agency) else OTHER


_BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds. 1.0 is the latency SLO's threshold (99 % within it) and 0.25 the dashboards' warning
(deploy/prometheus/rules): the ratio of requests under a threshold is exact only at a bucket bound."""


def build_commit() -> str:
    """The source commit this process runs: ``DANCU_BUILD_COMMIT`` when a build sets it, else the
    checkout's HEAD, else ``unknown`` (an installed wheel outside a checkout)."""
    given = os.environ.get("DANCU_BUILD_COMMIT")
    if given:
        return given[:40]
    checkout = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,40}", commit) else "unknown"


class ServiceMetrics:
    """What every process exposes: build info, readiness, the broker's reachability, process metrics."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.build = Info(
            "dancu_build", "The running build: version, source commit and service", registry=registry
        )
        self.build.info({"version": __version__, "commit": build_commit(), "service": service})
        self.ready = Gauge(
            "dancu_ready",
            "1 when the process can serve (what /readyz says), 0 when not; evaluated at each scrape",
            registry=registry,
        )
        self.broker_reachable = Gauge(
            "dancu_broker_reachable",
            "1 while the process's connection to the Kafka cluster works, 0 while it does not",
            registry=registry,
        )
        # The standard process_*, python_info and python_gc_* series, on this registry: the client
        # registers them only on its global one, which no service uses.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)


class WorkerMetrics:
    """What an exactly-once worker does (the resolver's and the audit's), under the service's prefix.

    Its methods are the transport's ``WorkerEvents``: the worker reports, this counts.
    """

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.batch_size = Histogram(
            f"{prefix}_batch_size",
            "Records per handled batch",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.transaction_seconds = Histogram(
            f"{prefix}_transaction_seconds",
            "Time to commit one batch's transaction (outputs and offsets)",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.transactions_aborted = Counter(
            f"{prefix}_transactions_aborted",
            "Transactions aborted (the batch is read again from the last commit), by cause",
            ["cause"],
            registry=registry,
        )
        self.fenced = Counter(
            f"{prefix}_fenced",
            "Times this worker found itself fenced: a newer writer or group generation took over",
            registry=registry,
        )
        self.rebalances = Counter(
            f"{prefix}_rebalances",
            "Partitions assigned to or revoked from this worker",
            ["change"],
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            f"{prefix}_assigned_partitions",
            "Input partitions this worker owns now",
            registry=registry,
        )
        self.quarantined = Counter(
            f"{prefix}_quarantined_records",
            "Records that failed alone after their batch failed, set aside as dead letters (a bug to fix)",
            registry=registry,
        )
        self.worker_failures = Counter(
            f"{prefix}_worker_failures",
            "Unexpected failures of the worker, which was started again from the last commit, by error type",
            ["error"],
            registry=registry,
        )

    # The transport's WorkerEvents, structurally (metrics may not import transport).
    def handled(self, records: int) -> None:
        """A batch of ``records`` was handed to the handler."""
        self.batch_size.observe(records)

    def committed(self, seconds: float) -> None:
        """A batch's transaction committed in ``seconds``."""
        self.transaction_seconds.observe(seconds)

    def aborted(self, cause: str) -> None:
        """A batch's transaction aborted; ``cause`` is one of the transport's closed set."""
        self.transactions_aborted.labels(cause).inc()

    def was_fenced(self) -> None:
        """The worker's producer or group membership was fenced."""
        self.fenced.inc()

    def rebalanced(self, assigned: int, revoked: int, owned: int) -> None:
        """Partitions came and went; the worker now owns ``owned``."""
        if assigned:
            self.rebalances.labels("assigned").inc(assigned)
        if revoked:
            self.rebalances.labels("revoked").inc(revoked)
        self.assigned_partitions.set(owned)

    def set_aside(self) -> None:
        """A record that failed alone was dead-lettered by the quarantine."""
        self.quarantined.inc()


class ResolverMetrics:
    """What SREs watch on a resolver."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.worker = WorkerMetrics(registry, "dancu_resolver")
        self.requests = Counter(
            "dancu_resolver_requests",
            "Requests answered, by agency, operation, status (OK, REJECTED) and reason (none when OK)",
            ["agency", "operation", "status", "reason"],
            registry=registry,
        )
        self.answers = Counter(
            "dancu_resolver_answers",
            "Answers served, by verdict (VERIFY's MATCH, MISMATCH, NOT_FOUND, …; FOUND or NOT_FOUND of a"
            " lookup); a batch counts each item",
            ["agency", "operation", "verdict"],
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "dancu_resolver_end_to_end_seconds",
            "From the request's sent_at (within the admitted clock skew) to its response committed",
            ["agency"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "dancu_resolver_processing_seconds",
            "From the request's arrival at the broker to its response committed",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_seconds = Histogram(
            "dancu_resolver_store_seconds",
            "Time of one batched store query",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.dead_letters = Counter(
            "dancu_resolver_dead_letters",
            "Records sent to the dead-letter topic, by error code",
            ["error_code"],
            registry=registry,
        )
        self.quota_used = Counter(
            "dancu_resolver_quota_used",
            "Quota units spent (one per answered request or batch item, or audit gate refusal), by agency",
            ["agency"],
            registry=registry,
        )
        self.quota_used_today = Gauge(
            "dancu_resolver_quota_used_today",
            "Quota units an agency spent today (UTC) on this resolver",
            ["agency"],
            registry=registry,
        )
        self.quota_per_day = Gauge(
            "dancu_resolver_quota_per_day",
            "An agency's daily quota, as the registry says",
            ["agency"],
            registry=registry,
        )
        self.audit_gate_closed = Gauge(
            "dancu_resolver_audit_gate_closed",
            "1 while new requests of at least one agency are refused AUDIT_UNAVAILABLE: the audit may be"
            " further behind on its exchanges than DANCU_RESOLVER__AUDIT_MAX_LAG_S (no exchange without a"
            " log; /readyz names the agencies)",
            registry=registry,
        )
        self.audit_lag_seconds = Gauge(
            "dancu_resolver_audit_lag_seconds",
            "How old the oldest exchange (of any agency) not yet in the audit topic may be, as the"
            " resolver's gate reckons it from the audit group's lag (growing while that lag cannot be read)",
            registry=registry,
        )

    def gated(self, closed: Callable[[], bool], lag_s: Callable[[], float]) -> None:
        """The audit gate's state, read at each scrape (it changes with time, not only with polls)."""
        self.audit_gate_closed.set_function(lambda: 1.0 if closed() else 0.0)
        self.audit_lag_seconds.set_function(lag_s)


class AuditMetrics:
    """What SREs watch on the audit consumer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.worker = WorkerMetrics(registry, "dancu_audit")
        self.records = Counter(
            "dancu_audit_records",
            "Audit records written, by agency and status",
            ["agency", "status"],
            registry=registry,
        )
        self.pending = Gauge(
            "dancu_audit_pending",
            "Requests or responses seen whose other half has not arrived yet",
            registry=registry,
        )
        self.pending_oldest = Gauge(
            "dancu_audit_pending_oldest_seconds",
            "Age of the oldest half of an exchange still waiting for its other half",
            registry=registry,
        )
        self.held = Gauge(
            "dancu_audit_requests_held",
            "1 while request topics are paused because too many requests wait for their responses",
            registry=registry,
        )
        self.undecodable = Counter(
            "dancu_audit_undecodable",
            "Records the audit consumer could not decode (requests are dead-lettered by the resolver)",
            ["error_code"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "dancu_audit_dead_letters",
            "Records the audit consumer dead-lettered: undecodable responses, unreadable batches, poison",
            ["error_code"],
            registry=registry,
        )


class LagMetrics:
    """Consumer-group lag, named and computed as kafka-lag-exporter does, and the audit's backlog."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["group", "topic", "partition"]
        self.lag = Gauge(
            "dancu_consumergroup_group_lag",
            "Records between a group's committed offset and the partition's last stable offset",
            labels,
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "dancu_consumergroup_group_lag_seconds",
            "How long ago the group's committed offset was the partition's end (interpolated)",
            labels,
            registry=registry,
        )
        self.max_lag_seconds = Gauge(
            "dancu_consumergroup_group_max_lag_seconds",
            "The largest lag in seconds of any partition a group reads",
            ["group"],
            registry=registry,
        )
        self.latest_offset = Gauge(
            "dancu_partition_latest_offset",
            "A partition's last stable offset (read_committed end)",
            ["topic", "partition"],
            registry=registry,
        )
        self.audit_backlog = Gauge(
            "dancu_audit_backlog_exchanges",
            "Responses committed that the audit consumer has not read yet: exchanges not yet in the log",
            registry=registry,
        )
        self.audit_backlog_oldest = Gauge(
            "dancu_audit_backlog_oldest_seconds",
            "How long the oldest response the audit consumer has not read yet has waited (Art. 13)",
            registry=registry,
        )
        self.polls = Counter(
            "dancu_lag_polls",
            "Rounds of reading committed and end offsets, by outcome (ok, failed)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self.polls.labels(outcome)

    def report(
        self, group: str, lags: Mapping[tuple[str, int], PartitionLag], latest: Mapping[tuple[str, int], int]
    ) -> None:
        """One poll of ``group`` (this process's only group): every series replaced, gone ones dropped."""
        self.polls.labels("ok").inc()
        for gauge in (self.lag, self.lag_seconds, self.latest_offset):
            gauge.clear()
        for (topic, partition), lag in lags.items():
            self.lag.labels(group, topic, str(partition)).set(lag.records)
            self.lag_seconds.labels(group, topic, str(partition)).set(lag.seconds)
        for (topic, partition), offset in latest.items():
            self.latest_offset.labels(topic, str(partition)).set(offset)
        self.max_lag_seconds.labels(group).set(max((lag.seconds for lag in lags.values()), default=0.0))

    def report_backlog(self, lags: Iterable[PartitionLag]) -> None:
        """The audit group's lag over the response topics: exchanges answered, not yet in the log."""
        behind = list(lags)
        self.audit_backlog.set(sum(lag.records for lag in behind))
        self.audit_backlog_oldest.set(max((lag.seconds for lag in behind), default=0.0))

    def failed(self) -> None:
        """A poll failed: the last figures stay, the failure is counted."""
        self.polls.labels("failed").inc()

    def polled(self, polled: _GroupLag | None) -> None:
        """A poll's outcome (``admin.lag_monitor``): its figures, or None when it failed."""
        if polled is None:
            self.failed()
        else:
            self.report(polled.group, polled.lags, polled.latest)


class _GroupLag(Protocol):
    @property
    def group(self) -> str: ...
    @property
    def lags(self) -> Mapping[tuple[str, int], PartitionLag]: ...
    @property
    def latest(self) -> Mapping[tuple[str, int], int]: ...


class _ViewState(Protocol):
    records: int
    last_applied_ms: int | None
    caught_up_at: float | None


class _Views(Protocol):
    def items(self) -> Iterable[tuple[str, _ViewState]]: ...


class ViewMetrics(Collector):
    """How fresh and how large each followed view (registry, catalogues, corrections) is, read at scrape.

    Only views a process follows are shown: one served from a file or the packaged data has no series.
    """

    def __init__(self, registry: CollectorRegistry, views: _Views) -> None:
        self._views = views
        registry.register(self)

    def describe(self) -> Iterable[Metric]:
        """The families, without samples (so registering does not read the views)."""
        return _view_families()

    def collect(self) -> Iterable[Metric]:
        """One sample per view and family."""
        records, last_applied, caught_up = families = _view_families()
        for name, state in self._views.items():
            records.add_metric([name], state.records)
            if state.last_applied_ms is not None:
                last_applied.add_metric([name], state.last_applied_ms / 1000)
            if state.caught_up_at is not None:
                caught_up.add_metric([name], state.caught_up_at)
        return families


def _view_families() -> list[GaugeMetricFamily]:
    return [
        GaugeMetricFamily(
            "dancu_view_records",
            "Records applied to a view since the process started (its size, for compacted topics)",
            labels=["view"],
        ),
        GaugeMetricFamily(
            "dancu_view_last_applied_timestamp_seconds",
            "Broker time of the last record applied to a view (its age is time() minus this)",
            labels=["view"],
        ),
        GaugeMetricFamily(
            "dancu_view_caught_up_timestamp_seconds",
            "When a view last read its topics to their end: stale when this stops moving",
            labels=["view"],
        ),
    ]
