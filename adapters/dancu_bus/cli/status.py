"""``dancu-bus status``: readiness, traffic, latency, lag and audit backlog at a glance, refreshed in place.

It reads each process's ``/readyz`` and ``/metrics`` (by default the resolver's and the audit's ports
of the settings, on 127.0.0.1), or Prometheus' HTTP API with ``--prometheus``. Rates from ``/metrics``
are the difference between two scrapes, so ``--once`` scrapes twice, 1 s apart (``--interval``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import TextIO

from rich.console import Console
from rich.live import Live

from dancu_bus.settings import Settings
from dancu_bus.status import Scraper, Service, Status, Target, render, status_from_prometheus, window_seconds

__all__ = ["register", "run"]

LIVE_INTERVAL_S = 2.0
ONCE_INTERVAL_S = 1.0
_EPILOG = """\
--json prints one object (with --once; without it, one line per refresh). Its keys are stable;
an unknown value is null:
  ok                      every process answered and is ready
  source                  "metrics" (each process's /metrics) or "prometheus"
  problem                 why the source could not be read at all (Prometheus), else null
  processes[]             service, address, reachable, ready, reason (why not), version, commit
  requests_per_second     requests the resolvers answered (OK and REJECTED), per second
  error_ratio             requests dead-lettered for the platform's fault (STORE_FAILED,
                          HANDLER_FAILED) over those and the answered ones
  p99_end_to_end_seconds  99th percentile of request sent_at -> response committed
  window_seconds          what the rates are over: between two scrapes, or Prometheus' --window
  lag                     {group: {records, seconds}}: the group's partition furthest behind
  audit_backlog           {exchanges, oldest_seconds}: responses the audit has not read yet

Exit status with --once: 0 when every process answered and is ready, 1 otherwise."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status``."""
    status = commands.add_parser(
        "status",
        help="readiness, request rate, errors, p99, lag and audit backlog of the running services",
        description="Readiness, traffic, latency, lag and audit backlog, refreshed in place. It reads each"
        " process's /readyz and /metrics (by default 127.0.0.1 and the resolver's and audit's metrics ports"
        " of the settings), or Prometheus' HTTP API with --prometheus. Rates from /metrics are the"
        " difference between two scrapes, so --once scrapes twice, 1 s apart (--interval).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "--resolver",
        action="append",
        metavar="ADDRESS",
        help="a resolver's metrics address, host:port or URL (repeatable; default 127.0.0.1 and"
        " DANCU_RESOLVER__METRICS_PORT)",
    )
    status.add_argument(
        "--audit",
        action="append",
        metavar="ADDRESS",
        help="an audit consumer's metrics address (repeatable; default 127.0.0.1 and"
        " DANCU_AUDIT__METRICS_PORT)",
    )
    status.add_argument("--prometheus", metavar="URL", help="ask this Prometheus instead of the processes")
    status.add_argument(
        "--window",
        type=_window,
        default="1m",
        metavar="RANGE",
        help="with --prometheus: the range rates are over (default 1m)",
    )
    status.add_argument(
        "--interval",
        type=_seconds,
        metavar="SECONDS",
        help=f"seconds between refreshes (default {LIVE_INTERVAL_S:g}; with --once, between its two scrapes,"
        f" default {ONCE_INTERVAL_S:g})",
    )
    status.add_argument("--once", action="store_true", help="print the status once and exit (0: all ready)")
    status.add_argument("--json", action="store_true", help="JSON for scripts instead of tables (keys below)")
    status.add_argument(
        "--timeout", type=_seconds, default=3.0, metavar="SECONDS", help="to wait for each answer (default 3)"
    )
    status.set_defaults(run=lambda args, settings: run(args, settings, sys.stdout))


def _window(text: str) -> str:
    try:
        window_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a number of seconds above 0, not {text!r}")
    return value


def run(
    args: argparse.Namespace, settings: Settings, out: TextIO, pause: Callable[[float], None] = time.sleep
) -> int:
    """Show the status once (exit 0 when all ready) or until interrupted; ``pause`` waits between looks."""
    if args.prometheus and (args.resolver or args.audit):
        print(
            "dancu-bus status: --prometheus reads what Prometheus scrapes: drop --resolver/--audit",
            file=sys.stderr,
        )
        return 2
    look, heading = _source(args, settings)
    if args.once:
        status = look()
        if not args.prometheus and any(p.reachable for p in status.processes):
            pause(args.interval or ONCE_INTERVAL_S)  # rates need a second scrape
            status = look()
        _show(status, heading, args.json, out)
        return 0 if status.ok else 1
    return _watch(look, heading, args, out, pause)


def _source(args: argparse.Namespace, settings: Settings) -> tuple[Callable[[], Status], str]:
    """What each look reads, and the words that say so."""
    if args.prometheus:
        return partial(status_from_prometheus, args.prometheus, args.window, args.timeout), (
            f"from Prometheus at {args.prometheus}"
        )
    resolvers = args.resolver or [f"127.0.0.1:{settings.resolver.metrics_port}"]
    audits = args.audit or [f"127.0.0.1:{settings.audit.metrics_port}"]
    targets = [Target.at(Service.RESOLVER, a) for a in resolvers] + [
        Target.at(Service.AUDIT, a) for a in audits
    ]
    return Scraper(targets, args.timeout).look, f"from the /metrics of {len(targets)} processes"


def _show(status: Status, heading: str, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(status.as_json()), file=out, flush=True)
        return
    Console(file=out).print(render(status, _heading(heading)))


def _heading(source: str) -> str:
    return f"dancu-bus status {source} at {time.strftime('%H:%M:%S')}"


def _watch(
    look: Callable[[], Status],
    heading: str,
    args: argparse.Namespace,
    out: TextIO,
    pause: Callable[[float], None],
) -> int:
    """Refresh in place (JSON: a line per refresh) until Ctrl-C."""
    interval = args.interval or LIVE_INTERVAL_S
    try:
        if args.json:
            while True:
                _show(look(), heading, True, out)
                pause(interval)
        with Live(console=Console(file=out), auto_refresh=False) as live:
            while True:
                live.update(render(look(), _heading(heading)), refresh=True)
                pause(interval)
    except KeyboardInterrupt:
        return 0
