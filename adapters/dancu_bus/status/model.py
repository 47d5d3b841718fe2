"""What ``dancu-bus status`` shows, computed from scrapes of ``/metrics``. Pure: no I/O, no clock.

Rates and the p99 come from the difference between two scrapes of the same process, as Prometheus'
``rate()`` and ``histogram_quantile()`` compute them from two samples. A counter that went down was
reset (its process restarted) and counts from zero; a series absent from the earlier scrape was created
since (prometheus_client adds a labelled series at its first use) and counts from zero too.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from prometheus_client.parser import text_string_to_metric_families

from dancu_bus.metrics import PLATFORM_FAULTS

__all__ = [
    "AUDIT_BACKLOG",
    "AUDIT_BACKLOG_OLDEST",
    "BUILD_INFO",
    "DEAD_LETTERS",
    "END_TO_END",
    "GROUP_LAG",
    "GROUP_LAG_SECONDS",
    "NO_TRAFFIC",
    "P99",
    "REQUESTS",
    "Backlog",
    "Exposition",
    "GroupLag",
    "ProcessStatus",
    "Reading",
    "Service",
    "Status",
    "Target",
    "Traffic",
    "bucket_increases",
    "group_lag",
    "histogram_quantile",
    "increase",
    "parse_exposition",
    "ratio",
    "status_from_readings",
    "traffic",
]

# The series read, as deploy/prometheus and adapters/dancu_bus/metrics.py name them.
REQUESTS = "dancu_resolver_requests_total"
DEAD_LETTERS = "dancu_resolver_dead_letters_total"
END_TO_END = "dancu_resolver_end_to_end_seconds"
GROUP_LAG = "dancu_consumergroup_group_lag"
GROUP_LAG_SECONDS = "dancu_consumergroup_group_lag_seconds"
AUDIT_BACKLOG = "dancu_audit_backlog_exchanges"
AUDIT_BACKLOG_OLDEST = "dancu_audit_backlog_oldest_seconds"
BUILD_INFO = "dancu_build_info"
P99 = 0.99

Labels = tuple[tuple[str, str], ...]


class Service(StrEnum):
    """The processes that serve ``/metrics``, each on its own port setting."""

    RESOLVER = "resolver"
    AUDIT = "audit"

    @property
    def port_setting(self) -> str:
        """The environment variable of this service's metrics port."""
        return f"DANCU_{self.name}__METRICS_PORT"


@dataclass(frozen=True)
class Target:
    """One process to read: its service and the base URL of its ``/metrics`` and ``/readyz``."""

    service: Service
    url: str

    @classmethod
    def at(cls, service: Service, address: str) -> Target:
        """A target from what a person typed: ``host:port``, a URL, or the URL of its ``/metrics``."""
        url = address if "://" in address else f"http://{address}"
        return cls(service, url.rstrip("/").removesuffix("/metrics").removesuffix("/readyz"))

    def no_answer(self, detail: str = "") -> str:
        """The line for a process that did not answer: where, and what to check."""
        return f"no answer at {self.url}{detail} (is the {self.service} running? {self.service.port_setting})"


@dataclass(frozen=True)
class Exposition:
    """One scrape of ``/metrics``: each sample by name and labels, and the metric families declared."""

    samples: Mapping[tuple[str, Labels], float]
    families: frozenset[str]

    def series(self, name: str) -> Iterator[tuple[dict[str, str], float]]:
        """The labels and value of each sample named ``name``."""
        for (sample, labels), value in self.samples.items():
            if sample == name:
                yield dict(labels), value


def parse_exposition(text: str) -> Exposition:
    """The samples of a text exposition; ``ValueError`` when it is not one."""
    samples: dict[tuple[str, Labels], float] = {}
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return Exposition(samples, frozenset(families))


@dataclass(frozen=True)
class Reading:
    """One look at one process at ``at`` (monotonic seconds): readiness and metrics, or what failed.

    ``metrics`` is None when ``/metrics`` could not be read; ``problem`` then says why, as it says why
    the process is not ready.
    """

    target: Target
    at: float
    ready: bool
    problem: str | None
    metrics: Exposition | None


def _increase(before: float | None, after: float) -> float:
    """A counter's increase; a decrease is a reset, after which it counted ``after`` from zero."""
    if before is None or after < before:
        return after
    return after - before


def increase(before: Exposition, after: Exposition, name: str, codes: frozenset[str] | None = None) -> float:
    """The increase of every series named ``name`` (of those whose ``error_code`` is in ``codes``)."""
    total = 0.0
    for (sample, labels), value in after.samples.items():
        if sample != name or (codes is not None and dict(labels).get("error_code") not in codes):
            continue
        total += _increase(before.samples.get((sample, labels)), value)
    return total


def bucket_increases(before: Exposition, after: Exposition, histogram: str) -> dict[float, float]:
    """The increase of a histogram's cumulative buckets, summed by upper bound over its label sets."""
    buckets: defaultdict[float, float] = defaultdict(float)
    for (sample, labels), value in after.samples.items():
        if sample == f"{histogram}_bucket":
            bound = float(dict(labels)["le"])
            buckets[bound] += _increase(before.samples.get((sample, labels)), value)
    return dict(buckets)


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q``-quantile of cumulative ``buckets`` (upper bound → count), as PromQL computes it.

    Linear interpolation inside the bucket the rank falls in (from 0 for the first bucket); the
    highest finite bound when it falls in the +Inf bucket; None without observations or a +Inf bucket.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile is between 0 and 1, not {q}")
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return None
    # Counts made monotonic, as PromQL does for buckets scraped at slightly different moments.
    counts = list(itertools.accumulate((buckets[b] for b in bounds), max))
    if counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    b = next((i for i, count in enumerate(counts[:-1]) if count >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, below = (bounds[b - 1], counts[b - 1]) if b > 0 else (0.0, 0.0)
    inside = counts[b] - below
    return start + (bounds[b] - start) * ((rank - below) / inside if inside else 0.0)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``; None when ``whole`` is zero (no traffic has no error ratio)."""
    return part / whole if whole else None


@dataclass(frozen=True)
class ProcessStatus:
    """One process: ready or why not (or why it could not be read), and its build."""

    service: Service
    address: str
    reachable: bool
    ready: bool
    reason: str | None
    version: str | None
    commit: str | None


@dataclass(frozen=True)
class Traffic:
    """The resolvers' traffic over ``window_seconds``; None where no two readings give it."""

    requests_per_second: float | None
    error_ratio: float | None
    p99_end_to_end_seconds: float | None
    window_seconds: float | None


NO_TRAFFIC = Traffic(None, None, None, None)


@dataclass(frozen=True)
class GroupLag:
    """A consumer group's partition furthest behind: in records, and in seconds."""

    records: float | None
    seconds: float | None


@dataclass(frozen=True)
class Backlog:
    """Responses committed that the audit has not read yet, and how long the oldest has waited."""

    exchanges: float | None
    oldest_seconds: float | None


@dataclass(frozen=True)
class Status:
    """Everything ``dancu-bus status`` shows; ``problem`` says why its source could not be read at all."""

    source: Literal["metrics", "prometheus"]
    processes: tuple[ProcessStatus, ...]
    traffic: Traffic
    lag: Mapping[str, GroupLag]
    audit_backlog: Backlog
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Every process answered and is ready (and there is at least one)."""
        return (
            self.problem is None
            and bool(self.processes)
            and all(p.reachable and p.ready for p in self.processes)
        )

    def as_json(self) -> dict[str, Any]:
        """The stable JSON form (``dancu-bus status --json``): keys never renamed, unknowns null."""
        return {
            "ok": self.ok,
            "source": self.source,
            "problem": self.problem,
            "processes": [
                {
                    "service": str(p.service),
                    "address": p.address,
                    "reachable": p.reachable,
                    "ready": p.ready,
                    "reason": p.reason,
                    "version": p.version,
                    "commit": p.commit,
                }
                for p in self.processes
            ],
            "requests_per_second": self.traffic.requests_per_second,
            "error_ratio": self.traffic.error_ratio,
            "p99_end_to_end_seconds": self.traffic.p99_end_to_end_seconds,
            "window_seconds": self.traffic.window_seconds,
            "lag": {
                g: {"records": lag.records, "seconds": lag.seconds} for g, lag in sorted(self.lag.items())
            },
            "audit_backlog": {
                "exchanges": self.audit_backlog.exchanges,
                "oldest_seconds": self.audit_backlog.oldest_seconds,
            },
        }


def status_from_readings(before: Sequence[Reading], after: Sequence[Reading]) -> Status:
    """The status of the processes ``after`` shows; rates from their difference with ``before``."""
    earlier = {r.target: r for r in before}
    pairs = [(earlier[r.target], r) for r in after if r.target in earlier]
    shown = [r.metrics for r in after if r.metrics is not None]
    return Status(
        "metrics",
        tuple(_process(r) for r in after),
        traffic(pairs),
        group_lag(shown),
        Backlog(_largest(shown, AUDIT_BACKLOG), _largest(shown, AUDIT_BACKLOG_OLDEST)),
    )


def _process(reading: Reading) -> ProcessStatus:
    build = next(reading.metrics.series(BUILD_INFO), ({}, 0.0))[0] if reading.metrics else {}
    return ProcessStatus(
        reading.target.service,
        reading.target.url,
        reading.metrics is not None,
        reading.ready,
        reading.problem,
        build.get("version"),
        build.get("commit"),
    )


def traffic(pairs: Sequence[tuple[Reading, Reading]]) -> Traffic:
    """Rate, error ratio and p99 over the processes read twice that serve the resolvers' requests."""
    read = [
        (a.metrics, b.metrics, b.at - a.at)
        for a, b in pairs
        if a.metrics is not None
        and b.metrics is not None
        and b.at > a.at
        # The counter's family is declared from the start, before any request has a series.
        and REQUESTS.removesuffix("_total") in b.metrics.families
    ]
    if not read:
        return NO_TRAFFIC
    answered = sum(increase(a, b, REQUESTS) for a, b, _ in read)
    failed = sum(increase(a, b, DEAD_LETTERS, PLATFORM_FAULTS) for a, b, _ in read)
    buckets: defaultdict[float, float] = defaultdict(float)
    for a, b, _ in read:
        for bound, count in bucket_increases(a, b, END_TO_END).items():
            buckets[bound] += count
    return Traffic(
        sum(increase(a, b, REQUESTS) / seconds for a, b, seconds in read),
        # A request dead-lettered for the platform's fault was not answered: it adds to both.
        ratio(failed, answered + failed),
        histogram_quantile(P99, buckets),
        max(seconds for _, _, seconds in read),
    )


def group_lag(shown: Sequence[Exposition]) -> dict[str, GroupLag]:
    """Per consumer group, the largest lag any process reports for any of its partitions."""
    records = _largest_by_group(shown, GROUP_LAG)
    seconds = _largest_by_group(shown, GROUP_LAG_SECONDS)
    return {g: GroupLag(records.get(g), seconds.get(g)) for g in sorted(records.keys() | seconds.keys())}


def _largest_by_group(shown: Sequence[Exposition], name: str) -> dict[str, float]:
    largest: dict[str, float] = {}
    for metrics in shown:
        for labels, value in metrics.series(name):
            group = labels.get("group", "")
            largest[group] = max(value, largest.get(group, value))
    return largest


def _largest(shown: Sequence[Exposition], name: str) -> float | None:
    values = [value for metrics in shown for _, value in metrics.series(name)]
    return max(values) if values else None
