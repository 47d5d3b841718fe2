"""Every metric the code declares is set somewhere, and the metrics' own logic (views, lag, workers)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

import dancu_bus.metrics
from dancu_bus.lag import PartitionLag
from dancu_bus.metrics import (
    AuditMetrics,
    LagMetrics,
    ResolverMetrics,
    ServiceMetrics,
    ViewMetrics,
    WorkerMetrics,
)
from dancu_bus.transport import Followed

PACKAGE = Path(dancu_bus.metrics.__file__).parent
METRIC_CLASSES = {"Counter", "Gauge", "Histogram", "Info"}


def _declared() -> dict[str, dict[str, set[str]]]:
    """Per metrics class, each metric attribute and the methods of that class that set it, directly or
    through another of its methods."""
    tree = ast.parse(Path(dancu_bus.metrics.__file__).read_text())
    classes: dict[str, dict[str, set[str]]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        uses: dict[str, set[str]] = {}  # method -> attributes of self it names (metrics and methods)
        for method in (n for n in node.body if isinstance(n, ast.FunctionDef)):
            uses[method.name] = {
                sub.attr
                for sub in ast.walk(method)
                if isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == "self"
            }
        declared = {
            target.attr
            for n in ast.walk(node)
            if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Name)
            and n.value.func.id in METRIC_CLASSES
            for target in n.targets
            if isinstance(target, ast.Attribute)
        }
        if declared:
            classes[node.name] = {name: _setters(name, uses) for name in declared}
    return classes


def _setters(attribute: str, uses: dict[str, set[str]]) -> set[str]:
    """The methods (other than ``__init__``) that reach ``attribute``, through each other too."""
    setters = {m for m, named in uses.items() if attribute in named and m != "__init__"}
    while more := {m for m, named in uses.items() if named & setters and m not in setters | {"__init__"}}:
        setters |= more
    return setters


def _outside_source() -> str:
    return "\n".join(path.read_text() for path in PACKAGE.rglob("*.py") if path.name != "metrics.py")


def test_every_declared_metric_is_set_by_the_code() -> None:
    source = _outside_source()
    unset = []
    for cls, attributes in _declared().items():
        for attribute, setters in attributes.items():
            # Set, observed, or given a labelled child (which the caller then sets).
            setting = rf"\.{attribute}(\.labels\(.*?\))?\.(inc|dec|set|observe|set_function|labels)\("
            used = re.search(setting, source) is not None
            via_method = any(re.search(rf"\.{m}\b", source) for m in setters)
            # Info is set where it is declared (the build's constant facts).
            if not (used or via_method or attribute == "build"):
                unset.append(f"{cls}.{attribute}")
    assert unset == [], f"declared but never set: {unset}"


def test_the_walk_sees_every_metric_of_every_class() -> None:
    declared = _declared()
    assert {"ResolverMetrics", "AuditMetrics", "WorkerMetrics", "LagMetrics", "ServiceMetrics"} <= set(
        declared
    )
    assert "requests" in declared["ResolverMetrics"]
    assert declared["WorkerMetrics"]["batch_size"] == {"handled"}
    assert declared["LagMetrics"]["lag_seconds"] == {"report", "polled"}


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_views_show_only_what_is_followed() -> None:
    registry = CollectorRegistry()
    followed = Followed()
    ViewMetrics(registry, followed)
    assert not [k for k in _samples(registry) if k[0].startswith("dancu_view_")]
    state = followed.view("registry")
    state.records, state.last_applied_ms, state.caught_up_at = 7, 1_700_000_000_500, 1_700_000_001.0
    samples = _samples(registry)
    view = (("view", "registry"),)
    assert samples["dancu_view_records", view] == 7
    assert samples["dancu_view_last_applied_timestamp_seconds", view] == 1_700_000_000.5
    assert samples["dancu_view_caught_up_timestamp_seconds", view] == 1_700_000_001.0


def test_lag_replaces_its_series_each_poll_and_the_backlog_sums_responses() -> None:
    registry = CollectorRegistry()
    lag = LagMetrics(registry)
    lag.report(
        "g", {("t", 0): PartitionLag(5, 2.5), ("t", 1): PartitionLag(0, 0.0)}, {("t", 0): 9, ("t", 1): 4}
    )
    lag.report("g", {("t", 0): PartitionLag(1, 0.5)}, {("t", 0): 10})
    samples = _samples(registry)
    series = {k for k in samples if k[0] == "dancu_consumergroup_group_lag"}
    assert series == {("dancu_consumergroup_group_lag", (("group", "g"), ("partition", "0"), ("topic", "t")))}
    assert samples["dancu_consumergroup_group_max_lag_seconds", (("group", "g"),)] == 0.5
    lag.report_backlog([PartitionLag(3, 4.0), PartitionLag(2, 9.0)])
    lag.failed()
    samples = _samples(registry)
    assert samples["dancu_audit_backlog_exchanges", ()] == 5
    assert samples["dancu_audit_backlog_oldest_seconds", ()] == 9.0
    assert samples["dancu_lag_polls_total", (("outcome", "ok"),)] == 2
    assert samples["dancu_lag_polls_total", (("outcome", "failed"),)] == 1


def test_worker_events_count() -> None:
    registry = CollectorRegistry()
    worker = WorkerMetrics(registry, "dancu_test")
    worker.handled(3)
    worker.committed(0.02)
    worker.aborted("rebalance")
    worker.was_fenced()
    worker.rebalanced(4, 1, 3)
    worker.set_aside()
    samples = _samples(registry)
    assert samples["dancu_test_batch_size_sum", ()] == 3
    assert samples["dancu_test_transaction_seconds_count", ()] == 1
    assert samples["dancu_test_transactions_aborted_total", (("cause", "rebalance"),)] == 1
    assert samples["dancu_test_fenced_total", ()] == 1
    assert samples["dancu_test_rebalances_total", (("change", "assigned"),)] == 4
    assert samples["dancu_test_rebalances_total", (("change", "revoked"),)] == 1
    assert samples["dancu_test_assigned_partitions", ()] == 3
    assert samples["dancu_test_quarantined_records_total", ()] == 1


def test_every_service_has_build_info_and_the_process_metrics() -> None:
    registry = CollectorRegistry()
    ServiceMetrics(registry, "resolver")
    ResolverMetrics(registry)
    AuditMetrics(CollectorRegistry())
    names = {family.name for family in registry.collect()}
    assert {
        "dancu_build",
        "dancu_ready",
        "dancu_broker_reachable",
        "process_cpu_seconds",
        "python_info",
    } <= names
    info = next(s for f in registry.collect() if f.name == "dancu_build" for s in f.samples)
    assert info.labels["service"] == "resolver"
    assert re.fullmatch(r"[0-9a-f]{7,40}|unknown", info.labels["commit"])
