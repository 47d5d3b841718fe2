"""Benchmark: N requests through dancu-bus against a bare Kafka round trip measured in the same run.

    .venv/bin/python bench/exchange.py --requests 200000                 # bulk VERIFY, SQLite, 1M citizens
    .venv/bin/python bench/exchange.py --workload lookup --store postgres
    .venv/bin/python bench/exchange.py --workload steady --rate 1000 --duration 60
    .venv/bin/python bench/exchange.py --workload verify-batch --requests 1000000  # VERIFY_BATCH
    .venv/bin/python bench/exchange.py --workload scale-out --resolvers 1,2,4 --of verify

It seeds (once, cached in .cache/bench) the population, creates topics under a prefix of its own,
runs the baseline (``baseline.py``), then the same number of requests through the SDK, the resolver
processes and the store; prints a table and, as its last line, one JSON object. ``verify-batch``
counts verifications (a VERIFY_BATCH record carries 1,000) against bare round trips of messages of a
single VERIFY request's size; ``scale-out`` runs ``--of`` (VERIFY_BATCH, or bulk VERIFY) once per
resolver count, each with its own baseline, and ends with one JSON object holding every run's. It
deletes its topics, stops its processes and its PostgreSQL server before it exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from baseline import BareRoundTrip
from cpu import CpuMeter
from deployment import bench_topics, resolver_processes
from population import Person, Population, ensure_sqlite, postgres_store, read_sample
from report import Report, Resolver, print_report
from workloads import WORKLOADS, SdkRun, Workload, sdk_batch_round_trip, sdk_round_trip

from dancu_bus.dev import broker_kafka, start_broker, stop_broker
from dancu_bus.operations import platform_codec
from dancu_bus.sdk.requests import build_request
from dancu_bus.settings import BrokerSettings, KafkaSettings

_PARTITIONS = 6  # as the request and response topics in topics.yaml
# The requests each bench workload sends.
_WORKLOAD_OF = {"steady": "verify", "verify-batch": "verify"}
_TITLES = {"verify-batch": "VERIFY_BATCH (SIM owner, 1,000 a record): verifications"}


@dataclass(frozen=True)
class Plan:
    """What this run measures."""

    workload: str
    store: str
    population: Population
    n: int
    rate: float | None
    bootstrap: str
    profile: Path | None
    max_batch: int | None = None
    resolvers: int = 1


def main() -> int:
    """Run the benchmark the arguments describe; the JSON summary is the last line printed."""
    args = _arguments()
    with ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(_development_broker())
        plan = _plan(args, bootstrap)
        store_env = stack.enter_context(_store(plan))
        people = read_sample(plan.population)
        if plan.workload != "scale-out":
            print_report(_measure(plan, store_env, people))
            return 0
        reports = []
        for count in args.resolvers:
            _log(f"scale-out: {count} resolver process(es)")
            reports.append(_measure(replace(plan, workload=args.of, resolvers=count), store_env, people))
            print_report(reports[-1])
    _print_scale_out(reports)
    return 0


def _print_scale_out(reports: list[Report]) -> None:
    """Throughput per resolver count against one resolver, and one JSON line with every run's summary."""
    first = reports[0].e2e.outcome.rps
    print(f"\nscale-out, {reports[0].title} — {reports[0].store}, {reports[0].citizens:,} citizens")
    print(f"  {'resolvers':<12}{'per second':>12}{'× one':>8}{'bare Kafka/s':>14}{'ratio':>8}{'p99 ms':>9}")
    for report in reports:
        s = report.summary()
        scale = s["e2e_rps"] / first if first else 0.0
        print(
            f"  {s['resolvers']:<12}{s['e2e_rps']:>12,}{scale:>8.2f}{s['baseline_rps']:>14,}"
            f"{s['ratio']:>8.2f}{s['p99_ms']:>9.1f}"
        )
    print(json.dumps({"workload": "scale-out", "runs": [r.summary() for r in reports]}, ensure_ascii=False))


def _measure(plan: Plan, store_env: dict[str, str], people: list[Person]) -> Report:
    workload = WORKLOADS[_WORKLOAD_OF.get(plan.workload, plan.workload)]
    prefix = f"bench{uuid.uuid4().hex[:8]}.dancu"
    kafka = KafkaSettings(bootstrap_servers=plan.bootstrap, topic_prefix=prefix)
    baseline_topics = (f"{prefix}.baseline.req", f"{prefix}.baseline.res")
    env = {**store_env, **_resolver_env(kafka)}
    if plan.max_batch is not None:
        env["DANCU_RESOLVER__MAX_BATCH"] = str(plan.max_batch)
    with bench_topics(kafka, baseline_topics, _PARTITIONS):
        bare = BareRoundTrip(plan.bootstrap, *baseline_topics, _payload(workload, people[0]))
        _log(f"baseline: {plan.n:,} bare round trips")
        meter = CpuMeter(0.0)
        baseline = bare.run(plan.n, plan.rate, window=10_000)
        baseline_cpu = meter.stop(0.0)
        _log(f"baseline: {baseline.rps:,.0f}/s; dancu-bus: {plan.n:,} requests")
        with resolver_processes(env, plan.resolvers, _profile_file(plan, "resolver")) as resolvers:
            meter = CpuMeter(resolvers.cpu_seconds())
            run = _sdk(plan, kafka, workload, people)
            cpu = meter.stop(resolvers.cpu_seconds())
            used = Resolver(resolvers.peak_rss_mb(), resolvers.metric("dancu_resolver_batch_size_count"))
    size = plan.population.citizens
    title = _TITLES.get(plan.workload, workload.name)
    if plan.rate is not None:
        title = f"steady VERIFY at {plan.rate:,.0f}/s"
    report = Report(plan.workload, title, plan.store, size, baseline, run, used, (baseline_cpu, cpu))
    return replace(report, resolvers=plan.resolvers)


def _sdk(plan: Plan, kafka: KafkaSettings, workload: Workload, people: list[Person]) -> SdkRun:
    """The SDK side, under pyinstrument when profiling (its main thread: the produce loop)."""
    if plan.workload == "verify-batch":
        return sdk_batch_round_trip(kafka, workload, people, plan.n)
    if plan.profile is None:
        return sdk_round_trip(kafka, workload, people, plan.n, plan.rate)
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    with profiler:
        run = sdk_round_trip(kafka, workload, people, plan.n, plan.rate)
    target = _profile_file(plan, "sdk")
    assert target is not None
    target.write_text(profiler.output_html())
    target.with_suffix(".txt").write_text(profiler.output_text(show_all=False))
    return run


def _payload(workload: Workload, person: Person) -> bytes:
    """An encoded request of the workload: the baseline sends bytes of exactly this size."""
    query = next(workload.queries([person], 1))
    return platform_codec().encode_request(build_request(workload.agency, workload.context, query, 120.0))


def _resolver_env(kafka: KafkaSettings) -> dict[str, str]:
    return {
        "DANCU_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "DANCU_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "DANCU_RESOLVER__GROUP_ID": f"{kafka.topic_prefix}.resolver",
    }


@contextmanager
def _store(plan: Plan) -> Iterator[dict[str, str]]:
    """The seeded store for the run (seeding it first if it is not cached) as resolver settings."""
    if plan.store == "sqlite":
        path, seconds = ensure_sqlite(plan.population, _Progress(plan.population.citizens))
        _seeded(seconds, plan)
        yield {"DANCU_STORE__BACKEND": "sqlite", "DANCU_STORE__PATH": str(path)}
        return
    with postgres_store(plan.population, _Progress(plan.population.citizens)) as (dsn, seconds):
        _seeded(seconds, plan)
        yield {"DANCU_STORE__BACKEND": "postgres", "DANCU_STORE__DSN": dsn}


def _seeded(seconds: float | None, plan: Plan) -> None:
    if seconds is not None:
        _log(f"seeded {plan.population.citizens:,} citizens into {plan.store} in {seconds:.0f} s")


def _profile_file(plan: Plan, side: str) -> Path | None:
    if plan.profile is None:
        return None
    plan.profile.mkdir(parents=True, exist_ok=True)
    return plan.profile / f"{plan.workload}-{plan.store}-{side}.html"


class _Progress:
    """Seeding progress on stderr, every tenth."""

    def __init__(self, total: int) -> None:
        self._total, self._shown = total, 0

    def __call__(self, written: int) -> None:
        tenths = written * 10 // max(self._total, 1)
        if tenths > self._shown:
            self._shown = tenths
            _log(f"seeding: {written:,} / {self._total:,}")


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@contextmanager
def _development_broker() -> Iterator[str]:
    """The development broker's address (``dancu-bus dev broker``), started for this run if need be.

    The README's set-up stops its broker when the demo ends; one started here is stopped afterwards.
    """
    broker = BrokerSettings()
    _log("broker: starting the development broker if it is not running")
    started = start_broker(broker)
    try:
        yield broker_kafka(broker).bootstrap_servers
    finally:
        if started:
            stop_broker(broker)


def _plan(args: argparse.Namespace, bootstrap: str) -> Plan:
    steady = args.workload == "steady"
    n = round(args.rate * args.duration) if steady else args.requests
    return Plan(
        args.workload,
        args.store,
        Population(args.citizens),
        n,
        args.rate if steady else None,
        bootstrap,
        args.profile,
        args.max_batch,
    )


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("resolver counts are positive integers, e.g. 1,2,4")
    return counts


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workload", choices=("verify", "lookup", "steady", "verify-batch", "scale-out"), default="verify"
    )
    parser.add_argument(
        "--of",
        choices=("verify", "verify-batch"),
        default="verify-batch",
        help="scale-out: of which workload",
    )
    parser.add_argument(
        "--resolvers", type=_counts, default=[1, 2, 4], help="scale-out: resolver counts, e.g. 1,2,4"
    )
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--citizens", type=int, default=1_000_000, help="population size (seeded once, cached)"
    )
    parser.add_argument("--requests", type=int, default=200_000, help="requests of a bulk workload")
    parser.add_argument("--rate", type=float, default=1000.0, help="steady: requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="steady: seconds")
    parser.add_argument(
        "--max-batch", type=int, default=None, help="the resolver's max_batch (default: its own)"
    )
    parser.add_argument(
        "--bootstrap",
        default=None,
        help="a plaintext broker to use (default: the development broker, started if not running)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="DIR", help="pyinstrument profiles here"
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
