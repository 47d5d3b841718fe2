"""``dancu-bus status --once`` against real sockets: the services' HealthServer, a refused port, a
stand-in for Prometheus' HTTP API."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from dancu_bus import __version__
from dancu_bus.cli import status as status_command
from dancu_bus.cli.main import build_parser, main
from dancu_bus.health import HealthServer
from dancu_bus.metrics import AuditMetrics, LagMetrics, ResolverMetrics, ServiceMetrics, build_commit
from dancu_bus.settings import Settings
from dancu_bus.status import status_from_prometheus
from dancu_bus.status.prometheus import queries


class Resolver:
    """A resolver's registry, filled with the real metrics classes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ServiceMetrics(self.registry, "resolver")
        self.metrics = ResolverMetrics(self.registry)
        self.lag = LagMetrics(self.registry)

    def traffic(self) -> None:
        """100 requests answered (10 refused), 5 failed in the store, 3 of no agency; 98 fast, 2 slow."""
        self.metrics.requests.labels("demo-bank", "VERIFY", "OK", "none").inc(90)
        self.metrics.requests.labels("demo-bank", "VERIFY", "REJECTED", "QUOTA_EXCEEDED").inc(10)
        self.metrics.dead_letters.labels("STORE_FAILED").inc(5)
        self.metrics.dead_letters.labels("UNKNOWN_AGENCY").inc(3)
        for _ in range(98):
            self.metrics.end_to_end_seconds.labels("demo-bank").observe(0.03)
        for _ in range(2):
            self.metrics.end_to_end_seconds.labels("demo-tax").observe(0.7)


def audit_registry() -> tuple[CollectorRegistry, LagMetrics]:
    registry = CollectorRegistry()
    ServiceMetrics(registry, "audit")
    AuditMetrics(registry)
    return registry, LagMetrics(registry)


def ready_with(problem: str | None) -> Any:
    async def ready() -> str | None:
        return problem

    return ready


def command(*argv: str) -> Any:
    return build_parser().parse_args(["status", *argv])


async def test_once_json_reports_what_the_processes_serve() -> None:
    """Rates, ratio and p99 count only what happened between the two scrapes; lag, backlog and builds."""
    resolver = Resolver()
    resolver.traffic()  # before the first scrape: must not count
    resolver.metrics.end_to_end_seconds.labels("demo-bank").observe(20.0)
    resolver.lag.lag.labels("dancu.resolver", "dancu.requests.demo-bank", "0").set(7)
    resolver.lag.lag_seconds.labels("dancu.resolver", "dancu.requests.demo-bank", "0").set(1.5)
    resolver.lag.lag.labels("dancu.audit", "dancu.responses.demo-bank", "0").set(2)
    resolver.lag.audit_backlog.set(4)
    resolver.lag.audit_backlog_oldest.set(12.5)
    audit, audit_lag = audit_registry()
    audit_lag.lag.labels("dancu.audit", "dancu.responses.demo-bank", "0").set(3)
    pauses: list[float] = []

    def between_scrapes(seconds: float) -> None:
        pauses.append(seconds)
        resolver.traffic()

    async with (
        HealthServer(resolver.registry, ready_with(None), 0) as served_resolver,
        HealthServer(audit, ready_with(None), 0) as served_audit,
    ):
        args = command(
            "--once",
            "--json",
            "--interval",
            "0.5",
            "--resolver",
            f"127.0.0.1:{served_resolver.port}",
            "--audit",
            f"http://127.0.0.1:{served_audit.port}/metrics",
        )
        out = io.StringIO()
        code = await asyncio.to_thread(status_command.run, args, Settings(), out, between_scrapes)
    body = json.loads(out.getvalue())
    assert code == 0 and body["ok"] and pauses == [0.5]
    assert body["requests_per_second"] * body["window_seconds"] == pytest.approx(100)
    assert body["error_ratio"] == pytest.approx(5 / 105)
    # Rank 99 of 100 falls in (0.5, 1]: 98 below, 2 inside, so 0.5 + 0.5 * 1/2.
    assert body["p99_end_to_end_seconds"] == pytest.approx(0.75)
    assert body["lag"] == {
        "dancu.audit": {"records": 3.0, "seconds": None},
        "dancu.resolver": {"records": 7.0, "seconds": 1.5},
    }
    assert body["audit_backlog"] == {"exchanges": 4.0, "oldest_seconds": 12.5}
    assert [(p["service"], p["ready"], p["reason"]) for p in body["processes"]] == [
        ("resolver", True, None),
        ("audit", True, None),
    ]
    assert {(p["version"], p["commit"]) for p in body["processes"]} == {(__version__, build_commit())}


async def test_once_table_says_why_a_process_is_not_ready() -> None:
    """The /readyz reason is shown beside the process, and --once exits 1."""
    resolver = Resolver()
    audit, _ = audit_registry()
    async with (
        HealthServer(resolver.registry, ready_with(None), 0) as served_resolver,
        HealthServer(audit, ready_with("the cluster: broker unreachable"), 0) as served_audit,
    ):
        audit_port = served_audit.port
        args = command(
            "--once",
            "--interval",
            "0.01",
            "--resolver",
            f"127.0.0.1:{served_resolver.port}",
            "--audit",
            f"127.0.0.1:{served_audit.port}",
        )
        out = io.StringIO()
        code = await asyncio.to_thread(status_command.run, args, Settings(), out)
    shown = " ".join(out.getvalue().split())
    assert code == 1
    assert f"audit http://127.0.0.1:{audit_port}: the cluster: broker unreachable" in shown
    assert "not ready" in shown and "0.0 req/s" in shown


@pytest.fixture
def refused() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused for as long as the test runs."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def test_unreachable_processes_are_one_line_each_and_exit_1(
    refused: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback: each process says where nothing answered and which setting names its port."""
    code = main(
        [
            "status",
            "--once",
            "--json",
            "--resolver",
            f"127.0.0.1:{refused}",
            "--audit",
            f"127.0.0.1:{refused}",
        ]
    )
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert code == 1 and not body["ok"] and captured.err == ""
    assert [p["reason"] for p in body["processes"]] == [
        f"no answer at http://127.0.0.1:{refused} (is the resolver running? DANCU_RESOLVER__METRICS_PORT)",
        f"no answer at http://127.0.0.1:{refused} (is the audit running? DANCU_AUDIT__METRICS_PORT)",
    ]
    assert body["requests_per_second"] is None


class _Prometheus(BaseHTTPRequestHandler):
    """Answers the instant queries of ``status`` as Prometheus would; any other query is bad_data."""

    canned: ClassVar[dict[str, list[dict[str, Any]]]] = {}

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        expr = urllib.parse.parse_qs(url.query).get("query", [""])[0]
        body: dict[str, Any] = {"status": "error", "errorType": "bad_data", "error": f"unexpected {expr!r}"}
        code = 400
        if url.path == "/api/v1/query" and expr in self.canned:
            body = {"status": "success", "data": {"resultType": "vector", "result": self.canned[expr]}}
            code = 200
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A stand-in for Prometheus' HTTP API on a loopback port: its base URL."""
    asked = queries("1m")
    resolver = {"job": "dancu-resolver", "instance": "127.0.0.1:9401"}
    _Prometheus.canned = {expr: [] for expr in asked.values()}
    answers: list[tuple[str, dict[str, str], str]] = [
        ("up", resolver, "1"),
        ("ready", resolver, "1"),
        ("build", {**resolver, "version": "0.1.0", "commit": "abc123"}, "1"),
        ("requests", {}, "40"),
        ("errors", {}, "0"),
        ("p99", {}, "0.2"),
        ("lag_records", {"group": "dancu.resolver"}, "0"),
    ]
    for key, labels, value in answers:
        _Prometheus.canned[asked[key]] = [{"metric": labels, "value": [1_700_000_000, value]}]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_status_from_prometheus_over_http(prometheus: str) -> None:
    """Every query is sent to /api/v1/query (URL-encoded) and its answer read into the status."""
    status = status_from_prometheus(prometheus)
    assert status.problem is None and status.ok
    assert (status.traffic.requests_per_second, status.traffic.error_ratio) == (40.0, 0.0)
    assert status.traffic.p99_end_to_end_seconds == 0.2
    assert [(p.address, p.commit) for p in status.processes] == [("127.0.0.1:9401", "abc123")]
    assert set(status.lag) == {"dancu.resolver"}


def test_prometheus_refusing_a_query_is_the_status_problem(prometheus: str) -> None:
    """Prometheus' error answer is shown as the problem (here: a window the stand-in was not given)."""
    status = status_from_prometheus(prometheus, window="5m")
    assert not status.ok and status.processes == ()
    assert (
        status.problem is not None
        and "refused" in status.problem
        and "bad_data: unexpected" in status.problem
    )


def test_no_prometheus_is_one_line(refused: int, capsys: pytest.CaptureFixture[str]) -> None:
    """A Prometheus that does not answer: one line in the table's place, exit 1."""
    code = main(["status", "--once", "--prometheus", f"http://127.0.0.1:{refused}"])
    shown = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert (
        f"no answer from Prometheus at http://127.0.0.1:{refused} (is it running? is --prometheus right?)"
        in shown
    )


def test_a_stranger_or_a_silent_port_is_named(prometheus: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Something else on the port says so; a port that accepts but never answers times out, in one line."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # never accepted: the request waits for the timeout
        port = silent.getsockname()[1]
        code = main(
            [
                "status",
                "--once",
                "--json",
                "--timeout",
                "0.2",
                "--resolver",
                prometheus,
                "--audit",
                f"127.0.0.1:{port}",
            ]
        )
    resolver, audit = json.loads(capsys.readouterr().out)["processes"]
    assert code == 1
    assert resolver["reason"] == (
        f"{prometheus.rstrip('/')}/readyz answered HTTP 400: is this a dancu-bus resolver?"
        " (DANCU_RESOLVER__METRICS_PORT)"
    )
    assert audit["reason"] == (
        f"no answer at http://127.0.0.1:{port} within 0.2 s (is the audit running? DANCU_AUDIT__METRICS_PORT)"
    )
