"""``dancu-bus status --prometheus``: the queries and the reading of Prometheus' HTTP API answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from dancu_bus.status.model import Service
from dancu_bus.status.prometheus import Sample, parse_vector, queries, status_from_answers, window_seconds


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    """An instant query's answer, as /api/v1/query gives it."""
    result = [{"metric": labels, "value": [1_700_000_000.5, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


RESOLVER = {"job": "dancu-resolver", "instance": "127.0.0.1:9401"}
AUDIT = {"job": "dancu-audit", "instance": "127.0.0.1:9402"}


def answers(**given: list[Sample]) -> dict[str, Sequence[Sample]]:
    """Every query answered with an empty vector unless given."""
    return {key: given.get(key, []) for key in queries("1m")}


def test_parse_vector_reads_labels_and_values() -> None:
    """Values come as strings, NaN and +Inf included."""
    payload = vector(({"group": "dancu.resolver"}, "12"), ({"group": "dancu.audit"}, "NaN"), ({}, "+Inf"))
    parsed = parse_vector(payload)
    assert parsed[0] == ({"group": "dancu.resolver"}, 12.0)
    assert parsed[1][1] != parsed[1][1]  # NaN
    assert parsed[2] == ({}, float("inf"))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"},
            "bad_data: parse error",
        ),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "a matrix where"),
        ({"status": "success", "data": {"result": []}}, "not the shape"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
            "not the shape",
        ),
        ([], "not a JSON object"),
    ],
    ids=["error", "matrix", "no result type", "no value", "a list"],
)
def test_parse_vector_refuses_errors_and_other_shapes(payload: object, match: str) -> None:
    """An error answer or an unexpected shape is a ValueError naming what was wrong."""
    with pytest.raises(ValueError, match=match):
        parse_vector(payload)


def test_queries_use_the_window_and_the_platform_faults() -> None:
    """Rates over the window; errors are STORE_FAILED and HANDLER_FAILED dead letters only."""
    asked = queries("5m")
    assert asked["requests"] == "sum(rate(dancu_resolver_requests_total[5m]))"
    assert asked["errors"] == (
        'sum(rate(dancu_resolver_dead_letters_total{error_code=~"HANDLER_FAILED|STORE_FAILED"}[5m]))'
    )
    assert asked["p99"] == (
        "histogram_quantile(0.99, sum by (le) (rate(dancu_resolver_end_to_end_seconds_bucket[5m])))"
    )
    assert asked["up"] == 'up{job=~"dancu-resolver|dancu-audit"}'


@pytest.mark.parametrize(("window", "seconds"), [("30s", 30.0), ("1m", 60.0), ("2h", 7200.0)])
def test_window_seconds(window: str, seconds: float) -> None:
    """A PromQL range in seconds."""
    assert window_seconds(window) == seconds


@pytest.mark.parametrize("window", ["1", "0m", "1d", "1m30s", "-1m"])
def test_window_refused(window: str) -> None:
    """What status does not understand is refused rather than sent to Prometheus."""
    with pytest.raises(ValueError, match="whole number"):
        window_seconds(window)


def test_status_from_answers() -> None:
    """Readiness from up and dancu_ready, build info, rates, ratio, p99, lag per group and backlog."""
    given = answers(
        up=[(RESOLVER, 1.0), (AUDIT, 1.0)],
        ready=[(RESOLVER, 1.0), (AUDIT, 0.0)],
        build=[({**RESOLVER, "version": "0.1.0", "commit": "abc123", "service": "resolver"}, 1.0)],
        requests=[({}, 95.0)],
        errors=[({}, 5.0)],
        p99=[({}, 0.75)],
        lag_records=[({"group": "dancu.resolver"}, 7.0), ({"group": "dancu.audit"}, 2.0)],
        lag_seconds=[({"group": "dancu.resolver"}, 1.5)],
        backlog=[({}, 4.0)],
        backlog_oldest=[({}, 12.5)],
    )
    status = status_from_answers(given, 60.0)
    resolver, audit = status.processes
    assert (resolver.service, resolver.address, resolver.ready, resolver.reason) == (
        Service.RESOLVER,
        "127.0.0.1:9401",
        True,
        None,
    )
    assert (resolver.version, resolver.commit) == ("0.1.0", "abc123")
    assert (audit.reachable, audit.ready) == (True, False)
    assert audit.reason == "not ready (dancu_ready 0): its /readyz says why"
    assert not status.ok
    traffic = status.traffic
    assert (traffic.requests_per_second, traffic.error_ratio, traffic.p99_end_to_end_seconds) == (
        95.0,
        0.05,
        0.75,
    )
    assert traffic.window_seconds == 60.0
    assert {g: (lag.records, lag.seconds) for g, lag in status.lag.items()} == {
        "dancu.audit": (2.0, None),
        "dancu.resolver": (7.0, 1.5),
    }
    assert (status.audit_backlog.exchanges, status.audit_backlog.oldest_seconds) == (4.0, 12.5)
    assert status.as_json()["source"] == "prometheus"


def test_a_process_down_or_without_readiness() -> None:
    """up 0 says Prometheus cannot scrape it (and which setting); no dancu_ready is not taken as ready."""
    status = status_from_answers(answers(up=[(RESOLVER, 0.0), (AUDIT, 1.0)]), 60.0)
    resolver, audit = status.processes
    assert not resolver.reachable and resolver.reason == (
        "Prometheus cannot scrape 127.0.0.1:9401 (up 0):"
        " is the resolver running? (DANCU_RESOLVER__METRICS_PORT)"
    )
    assert audit.reachable and not audit.ready and "no dancu_ready" in (audit.reason or "")
    # No resolver up: the traffic is unknown, not zero.
    assert status.traffic.requests_per_second is None


def test_no_traffic_yet_is_zero_and_no_ratio() -> None:
    """A resolver up whose request counter has no series yet: 0 req/s, no error ratio, p99 NaN is None."""
    status = status_from_answers(
        answers(up=[(RESOLVER, 1.0)], ready=[(RESOLVER, 1.0)], p99=[({}, float("nan"))]), 60.0
    )
    assert status.ok
    traffic = status.traffic
    assert (traffic.requests_per_second, traffic.error_ratio, traffic.p99_end_to_end_seconds) == (
        0.0,
        None,
        None,
    )


def test_a_foreign_job_is_an_error_not_a_guess() -> None:
    """A series of a job the query did not ask for is refused, not taken for one of ours."""
    with pytest.raises(ValueError, match="job 'node'"):
        status_from_answers(answers(up=[({"job": "node", "instance": "x:9100"}, 1.0)]), 60.0)
