"""Prometheus metrics of each service, built on an injected registry (no module-level globals)."""

from __future__ import annotations

import re
from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["OTHER", "AuditMetrics", "ResolverMetrics", "agency_label", "operation_label"]

OTHER = "other"
"""The label value of anything outside a label's closed set."""
_AGENCY_ID = re.compile(r"[a-z0-9-]{2,40}")


def operation_label(operation: str, registered: Collection[str]) -> str:
    """An operation as a label value: a ``registered`` one, else ``other`` (never the agency's text)."""
    return operation if operation in registered else OTHER


def agency_label(agency: str) -> str:
    """An agency id (a topic's, so one the platform created) as a label value; ``other`` if no slug."""
    return agency if _AGENCY_ID.fullmatch(agency) else OTHER


_BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ResolverMetrics:
    """What SREs watch on a resolver."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "dancu_resolver_requests",
            "Requests answered, by agency, operation and status",
            ["agency", "operation", "status"],
            registry=registry,
        )
        self.rejections = Counter(
            "dancu_resolver_rejections",
            "Rejections by agency and reason",
            ["agency", "reason"],
            registry=registry,
        )
        self.quota_used = Counter(
            "dancu_resolver_quota_used",
            "Requests admitted within each agency's quota",
            ["agency"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "dancu_resolver_dead_letters",
            "Records sent to the dead-letter topic, by error code",
            ["error_code"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "dancu_resolver_batch_size",
            "Records per handled batch",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.store_seconds = Histogram(
            "dancu_resolver_store_seconds",
            "Time of one batched store query",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.request_age = Histogram(
            "dancu_resolver_request_age_seconds",
            "From the agency's sent_at to the answer",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.worker_failures = Counter(
            "dancu_resolver_worker_failures",
            "Unexpected failures of the worker, which was started again from the last commit, by error type",
            ["error"],
            registry=registry,
        )


class AuditMetrics:
    """What SREs watch on the audit consumer."""

    def __init__(self, registry: CollectorRegistry) -> None:
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
        self.worker_failures = Counter(
            "dancu_audit_worker_failures",
            "Unexpected failures of the worker, which was started again from the last commit, by error type",
            ["error"],
            registry=registry,
        )
