"""``dancu-bus status``'s arithmetic: parsing, increases, PromQL's quantile, ratios, missing metrics."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dancu_bus.metrics import LagMetrics, ResolverMetrics, ServiceMetrics
from dancu_bus.status.model import (
    DEAD_LETTERS,
    REQUESTS,
    Exposition,
    Reading,
    Service,
    Target,
    bucket_increases,
    histogram_quantile,
    increase,
    parse_exposition,
    ratio,
    status_from_readings,
)

RESOLVER = Target(Service.RESOLVER, "http://127.0.0.1:9401")
AUDIT = Target(Service.AUDIT, "http://127.0.0.1:9402")


def exposition(text: str) -> Exposition:
    return parse_exposition(text)


def counter(name: str, *series: tuple[str, float]) -> str:
    lines = [f"# TYPE {name.removesuffix('_total')} counter"]
    lines += [f"{name}{{{labels}}} {value}" for labels, value in series]
    return "\n".join(lines) + "\n"


def test_parse_keeps_samples_by_labels_and_families_without_samples() -> None:
    """Keyed by name and sorted labels; a labelled counter never used still declares its family."""
    registry = CollectorRegistry()
    resolver = ResolverMetrics(registry)
    resolver.requests.labels("demo-bank", "VERIFY", "OK", "none").inc(3)
    parsed = parse_exposition(generate_latest(registry).decode())
    labels = (("agency", "demo-bank"), ("operation", "VERIFY"), ("reason", "none"), ("status", "OK"))
    assert parsed.samples[REQUESTS, labels] == 3.0
    assert "dancu_resolver_dead_letters" in parsed.families
    assert list(parsed.series(DEAD_LETTERS)) == []


def test_parse_refuses_what_is_not_an_exposition() -> None:
    """An HTML page where /metrics was expected is a ValueError (the probe says so in one line)."""
    with pytest.raises(ValueError, match="invalid metric name"):
        parse_exposition("<html>not found</html>\n")


def test_increase_counts_resets_and_new_series_from_zero() -> None:
    """A counter that went down restarted from 0; a series created between scrapes counts from 0."""
    before = exposition(counter(REQUESTS, ('status="OK"', 10), ('status="REJECTED"', 50)))
    after = exposition(
        counter(REQUESTS, ('status="OK"', 25), ('status="REJECTED"', 4), ('status="OTHER"', 2))
    )
    assert increase(before, after, REQUESTS) == 15 + 4 + 2


def test_increase_of_some_error_codes_only() -> None:
    """Only the codes asked for count: the platform's faults, not an agency's bad input."""
    before = exposition(counter(DEAD_LETTERS, ('error_code="STORE_FAILED"', 1)))
    after = exposition(
        counter(DEAD_LETTERS, ('error_code="STORE_FAILED"', 4), ('error_code="UNKNOWN_AGENCY"', 9))
    )
    assert increase(before, after, DEAD_LETTERS, frozenset({"STORE_FAILED"})) == 3


def test_bucket_increases_sum_label_sets_by_bound() -> None:
    """Buckets of every agency add up by upper bound; only what was observed between the scrapes."""
    registry = CollectorRegistry()
    latency = ResolverMetrics(registry).end_to_end_seconds
    latency.labels("demo-bank").observe(20.0)  # before the first scrape: not in the increase
    before = parse_exposition(generate_latest(registry).decode())
    latency.labels("demo-bank").observe(0.003)
    latency.labels("demo-tax").observe(0.7)
    buckets = bucket_increases(
        before, parse_exposition(generate_latest(registry).decode()), "dancu_resolver_end_to_end_seconds"
    )
    assert buckets[0.0025] == 0 and buckets[0.005] == 1 and buckets[1.0] == 2 and buckets[math.inf] == 2


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # Interpolated inside the bucket the rank falls in.
        (0.5, {0.1: 0, 0.5: 50, 1.0: 100, math.inf: 100}, 0.5),
        (0.99, {0.1: 0, 0.5: 50, 1.0: 100, math.inf: 100}, 0.99),
        (0.25, {0.1: 0, 0.5: 50, 1.0: 100, math.inf: 100}, 0.3),
        # The first bucket starts at 0.
        (0.5, {1.0: 10, math.inf: 10}, 0.5),
        # A rank in the +Inf bucket is the highest finite bound.
        (0.99, {0.1: 90, 1.0: 98, math.inf: 100}, 1.0),
        # Non-monotonic counts (buckets read at different moments) are made monotonic first.
        (0.5, {0.1: 10, 0.5: 8, math.inf: 10}, 0.05),
        # A non-positive first bound is returned as is.
        (0.1, {0.0: 5, 1.0: 10, math.inf: 10}, 0.0),
    ],
)
def test_quantile_as_promql(q: float, buckets: dict[float, float], expected: float) -> None:
    """histogram_quantile's linear interpolation, with PromQL's edge cases."""
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


@pytest.mark.parametrize(
    "buckets",
    [{0.1: 0, 1.0: 0, math.inf: 0}, {0.1: 3, 1.0: 5}, {math.inf: 4}, {}],
    ids=["no observation", "no +Inf bucket", "only +Inf", "no bucket"],
)
def test_quantile_unknown(buckets: dict[float, float]) -> None:
    """No observations, or buckets PromQL would answer NaN for, give None."""
    assert histogram_quantile(0.99, buckets) is None


def test_quantile_outside_zero_one_is_refused() -> None:
    """A quantile of 99 (for 0.99) is a mistake, not +Inf."""
    with pytest.raises(ValueError, match="between 0 and 1"):
        histogram_quantile(99, {1.0: 1, math.inf: 1})


def test_ratio_without_traffic_is_unknown() -> None:
    """No requests have no error ratio (None), not 0 % and not a ZeroDivisionError."""
    assert ratio(0, 0) is None
    assert ratio(1, 4) == 0.25


def resolver_text(requests: int = 0, store_failed: int = 0) -> str:
    registry = CollectorRegistry()
    ServiceMetrics(registry, "resolver")
    resolver = ResolverMetrics(registry)
    if requests:
        resolver.requests.labels("demo-bank", "VERIFY", "OK", "none").inc(requests)
    if store_failed:
        resolver.dead_letters.labels("STORE_FAILED").inc(store_failed)
    return generate_latest(registry).decode()


def reading(target: Target, at: float, text: str | None, ready: bool = True) -> Reading:
    metrics = None if text is None else parse_exposition(text)
    return Reading(target, at, ready, None if ready else "the cluster: down", metrics)


def test_zero_traffic_is_zero_rate_and_unknown_ratio() -> None:
    """A resolver read twice without requests: 0 req/s, and neither an error ratio nor a p99."""
    status = status_from_readings(
        [reading(RESOLVER, 10.0, resolver_text())], [reading(RESOLVER, 12.0, resolver_text())]
    )
    traffic = status.traffic
    assert (traffic.requests_per_second, traffic.error_ratio, traffic.p99_end_to_end_seconds) == (
        0.0,
        None,
        None,
    )
    assert traffic.window_seconds == 2.0


def test_rates_from_two_readings() -> None:
    """Rate over the time between the readings; the platform's dead letters over them and the answered."""
    before = [reading(RESOLVER, 10.0, resolver_text(requests=100, store_failed=1))]
    after = [reading(RESOLVER, 14.0, resolver_text(requests=180, store_failed=6))]
    traffic = status_from_readings(before, after).traffic
    assert traffic.requests_per_second == 20.0
    assert traffic.error_ratio == pytest.approx(5 / 85)


def test_first_reading_has_no_rates_but_readiness_and_build() -> None:
    """Without a previous reading the rates are unknown; readiness and build are known at once."""
    status = status_from_readings([], [reading(RESOLVER, 1.0, resolver_text())])
    assert status.traffic.requests_per_second is None and status.traffic.window_seconds is None
    (process,) = status.processes
    assert process.ready and process.reachable and process.version == "0.1.0" and process.commit


def test_missing_metrics_are_unknown_not_zero() -> None:
    """An exposition without the resolver's, lag or backlog metrics leaves them None (or no group)."""
    audit_only = "# TYPE dancu_audit_pending gauge\ndancu_audit_pending 3\n"
    status = status_from_readings([reading(AUDIT, 1.0, audit_only)], [reading(AUDIT, 2.0, audit_only)])
    assert status.traffic.requests_per_second is None
    assert status.lag == {}
    assert (status.audit_backlog.exchanges, status.audit_backlog.oldest_seconds) == (None, None)
    assert status.processes[0].version is None


def test_lag_is_the_largest_of_any_process_and_partition() -> None:
    """Per group, the partition furthest behind among what every process reports; the backlog's largest."""
    registries = [CollectorRegistry(), CollectorRegistry()]
    lags = [LagMetrics(r) for r in registries]
    lags[0].lag.labels("dancu.resolver", "requests.a", "0").set(3)
    lags[0].lag.labels("dancu.resolver", "requests.a", "1").set(7)
    lags[0].lag_seconds.labels("dancu.resolver", "requests.a", "1").set(1.5)
    lags[0].lag.labels("dancu.audit", "responses.a", "0").set(2)
    lags[1].lag.labels("dancu.audit", "responses.a", "0").set(5)
    lags[0].audit_backlog.set(4)
    lags[0].audit_backlog_oldest.set(12.5)
    texts = [generate_latest(r).decode() for r in registries]
    status = status_from_readings([], [reading(RESOLVER, 1.0, texts[0]), reading(AUDIT, 1.0, texts[1])])
    assert {g: (lag.records, lag.seconds) for g, lag in status.lag.items()} == {
        "dancu.audit": (5.0, None),
        "dancu.resolver": (7.0, 1.5),
    }
    assert (status.audit_backlog.exchanges, status.audit_backlog.oldest_seconds) == (4.0, 12.5)


def test_ok_only_when_every_process_answered_and_is_ready() -> None:
    """One process not ready (or unreadable) makes the status not ok: --once exits 1."""
    ready = reading(RESOLVER, 1.0, resolver_text())
    assert status_from_readings([], [ready]).ok
    assert not status_from_readings([], [ready, reading(AUDIT, 1.0, "", ready=False)]).ok
    assert not status_from_readings([], [ready, Reading(AUDIT, 1.0, True, "unreadable", None)]).ok
    assert not status_from_readings([], []).ok


def test_target_from_what_a_person_types() -> None:
    """host:port, a URL with a slash or the /metrics URL itself all name the same process."""
    for typed in ("127.0.0.1:9401", "http://127.0.0.1:9401/", "http://127.0.0.1:9401/metrics"):
        assert Target.at(Service.RESOLVER, typed) == RESOLVER
    assert RESOLVER.no_answer(" within 3 s") == (
        "no answer at http://127.0.0.1:9401 within 3 s"
        " (is the resolver running? DANCU_RESOLVER__METRICS_PORT)"
    )


def test_json_keys_are_stable() -> None:
    """Scripts rely on these keys: renaming one breaks them."""
    body = status_from_readings([], [reading(RESOLVER, 1.0, resolver_text())]).as_json()
    assert list(body) == [
        "ok",
        "source",
        "problem",
        "processes",
        "requests_per_second",
        "error_ratio",
        "p99_end_to_end_seconds",
        "window_seconds",
        "lag",
        "audit_backlog",
    ]
    assert list(body["processes"][0]) == [
        "service",
        "address",
        "reachable",
        "ready",
        "reason",
        "version",
        "commit",
    ]
    assert list(body["audit_backlog"]) == ["exchanges", "oldest_seconds"]
