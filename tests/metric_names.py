"""The series names the services declare, and the ``dancu_`` names a PromQL expression reads.

The tests of deploy/prometheus (rules) and deploy/grafana (dashboards) check the second against the
first, so that a rule or a panel cannot read a metric the code does not have.
"""

from __future__ import annotations

import functools
import re

from prometheus_client import CollectorRegistry

from dancu_bus.metrics import AuditMetrics, LagMetrics, ResolverMetrics, ServiceMetrics, ViewMetrics

__all__ = ["dancu_names_in", "declared_series", "undeclared_in"]

# The series each kind of metric family is exposed as (prometheus-client's names; `_created` too).
_SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "info": ("_info",),
    "summary": ("", "_count", "_sum", "_created"),
}
# A dancu_ identifier not inside a longer one (recording rules are dancu:…, job names dancu-…).
_DANCU_NAME = re.compile(r"(?<![A-Za-z0-9_:])dancu_[A-Za-z0-9_]*")


@functools.cache
def declared_series() -> frozenset[str]:
    """Every ``dancu_`` series name the services' metrics can expose, from a fresh registry of all of them."""
    registry = CollectorRegistry()
    ServiceMetrics(registry, "resolver")
    ResolverMetrics(registry)
    AuditMetrics(registry)
    LagMetrics(registry)
    ViewMetrics(registry)
    names = {
        family.name + suffix for family in registry.collect() for suffix in _SERIES_SUFFIXES[family.type]
    }
    return frozenset(name for name in names if name.startswith("dancu_"))


def dancu_names_in(expression: str) -> frozenset[str]:
    """The ``dancu_`` series names an expression (or a template holding queries) reads."""
    return frozenset(_DANCU_NAME.findall(expression))


def undeclared_in(expression: str) -> frozenset[str]:
    """The ``dancu_`` names an expression reads that no service declares."""
    return dancu_names_in(expression) - declared_series()
