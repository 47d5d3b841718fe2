"""The series names dancu_bus.metrics declares, and those a PromQL expression reads.

Rules (deploy/prometheus) and dashboards (deploy/grafana) may only read what the processes expose: their
tests compare the two sets, so that a metric renamed in the code breaks a test rather than a dashboard
or an alert in production.
"""

from __future__ import annotations

import functools
import re

from prometheus_client import CollectorRegistry

from dancu_bus.metrics import AuditMetrics, LagMetrics, ResolverMetrics, ServiceMetrics, ViewMetrics
from dancu_bus.portal import PortalMetrics
from dancu_bus.sms.metrics import SmsMetrics
from dancu_bus.transport import Followed

__all__ = ["PROMETHEUS_SERIES", "dancu_names_in", "declared_series", "series_in", "undeclared_in"]

PROMETHEUS_SERIES = frozenset({"up"})
"""Series Prometheus itself writes for every scrape target."""

# What the exposition format calls a family's series, by the family's type.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
    "summary": ("", "_sum", "_count", "_created"),
}
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"inf", "nan"}
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_BRACED = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A whole name, not the tail of a number (1e3, 5m) nor a function's (followed by "(").
_NAME = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()")


@functools.cache
def declared_series() -> frozenset[str]:
    """Every series name the metrics classes expose on a fresh registry, labelled ones included (a
    labelled family has no series until its first labels, so names come from each family's type)."""
    registry = CollectorRegistry()
    ResolverMetrics(registry)
    AuditMetrics(registry)
    LagMetrics(registry)
    ViewMetrics(registry, Followed())
    ServiceMetrics(registry, "resolver")
    # The channel adapters serve their own registries (each with its ServiceMetrics, so apart).
    registries = [registry, CollectorRegistry(), CollectorRegistry()]
    SmsMetrics(registries[1])
    PortalMetrics(registries[2])
    return frozenset(
        family.name + suffix
        for each in registries
        for family in each.collect()
        for suffix in _SUFFIXES[family.type]
    )


def series_in(expr: str) -> set[str]:
    """The series names a PromQL expression reads (not its functions, keywords, labels or durations)."""
    bare = _GROUPING.sub(" ", _BRACED.sub(" ", _STRINGS.sub(" ", expr)))
    return {name for name in _NAME.findall(bare) if name.lower() not in _KEYWORDS}


# A dancu_ identifier not inside a longer one (recording rules are dancu:…, job names dancu-…).
_DANCU_NAME = re.compile(r"(?<![A-Za-z0-9_:])dancu_[A-Za-z0-9_]*")


def dancu_names_in(expression: str) -> frozenset[str]:
    """The ``dancu_`` series names an expression (or a template holding queries) reads."""
    return frozenset(_DANCU_NAME.findall(expression))


def undeclared_in(expression: str) -> frozenset[str]:
    """The ``dancu_`` names an expression reads that no service declares."""
    return dancu_names_in(expression) - declared_series()
