"""``dancu-bus check faults|hostile``: break the system on purpose, or attack it as an agency."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO, TypeVar

from dancu_bus.dev import repo_root
from dancu_bus.errors import ConfigError, DancuError
from dancu_bus.faults import (
    CLUSTER_SCENARIOS,
    SCENARIOS,
    FaultCluster,
    FaultOptions,
    Harness,
    Row,
    Scenario,
    SingleBroker,
    fault_broker,
    fault_cluster,
    render,
)
from dancu_bus.hostile import ProbeResult, describe_results
from dancu_bus.hostile.check import HostileCheck
from dancu_bus.settings import Settings

__all__ = ["register", "run_faults", "run_hostile"]

T = TypeVar("T")

SHORT_REQUESTS = 3_000
SHORT_SECONDS = 8.0
# On the cluster a fault takes longer (a node restarts, its replicas catch up): the load lasts longer.
CLUSTER_REQUESTS = 20_000
CLUSTER_SECONDS = 90.0
CLUSTER_SHORT_SECONDS = 20.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check faults``."""
    check = commands.add_parser("check", help="checks of the running system")
    verbs = check.add_subparsers(dest="check_command", required=True)
    faults = verbs.add_parser(
        "faults",
        help="kill, restart and starve the services on a broker of its own; exit 1 on any duplicate or loss",
    )
    faults.add_argument("--requests", type=int, help="requests per scenario (default 50,000)")
    faults.add_argument(
        "--short",
        action="store_true",
        help=f"{SHORT_REQUESTS:,} requests over {SHORT_SECONDS:g} s per scenario (CI)",
    )
    faults.add_argument(
        "--seconds", type=float, help="production of each scenario's requests takes this long (default 15)"
    )
    faults.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS) + sorted(CLUSTER_SCENARIOS),
        help="run only these (repeatable)",
    )
    faults.add_argument(
        "--cluster",
        action="store_true",
        help=f"the cluster scenarios, on three secured KRaft nodes of its own ({CLUSTER_REQUESTS:,}"
        f" requests over {CLUSTER_SECONDS:g} s unless given; --short: {SHORT_REQUESTS:,} over"
        f" {CLUSTER_SHORT_SECONDS:g} s)",
    )
    faults.add_argument(
        "--port",
        type=int,
        help="the harness broker's client port (the next one is its controller's; a cluster's nodes take"
        " six from it); default: free",
    )
    faults.add_argument("--keep", action="store_true", help="keep every scenario's logs and store")
    faults.set_defaults(run=lambda args, settings: run_faults(args, settings, sys.stdout))
    _register_hostile(verbs)


def _register_hostile(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hostile = verbs.add_parser(
        "hostile",
        help="attack a running stack as a connected agency (its own login and topic only); exit 1 on any"
        " wrong answer, untruthful audit record, or another agency not served meanwhile",
        description="DANCU_KAFKA__* are the operator's login (reads the dead letters, the audit topic and"
        " the registry); DANCU_STORE__* the population store the people asked about come from.",
    )
    hostile.add_argument("--agency", required=True, help="the connected agency to act as")
    hostile.add_argument("--witness", required=True, help="another connected agency, served meanwhile")
    hostile.add_argument(
        "--agency-password-file", type=Path, help="the agency's SCRAM secret (secured clusters)"
    )
    hostile.add_argument("--witness-password-file", type=Path, help="the witness agency's SCRAM secret")
    hostile.add_argument(
        "--operator-keys",
        type=Path,
        help="the operators' private dead-letter keys (JWK Set): also check what dead letters sealed",
    )
    hostile.add_argument("--probe", action="append", help="run only the probes so named (repeatable)")
    hostile.add_argument(
        "--resolver-metrics",
        help="a resolver's /metrics URL: also fail if any label value came from an agency's text",
    )
    hostile.set_defaults(run=lambda args, settings: run_hostile(args, settings, sys.stdout))


def _progress(result: ProbeResult, out: TextIO) -> None:
    print(f"{result.probe.name}: {'ok' if result.passed else 'FAILED'}", file=out, flush=True)


def run_hostile(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run the battery against the stack ``settings`` reach; print its table; 0 when every probe passed."""
    check = HostileCheck.of(settings, args)
    results = check.run(args.probe, lambda result: _progress(result, out))
    print(describe_results(results), file=out)
    foreign = check.foreign_labels(args.resolver_metrics) if args.resolver_metrics else []
    for label in foreign:
        print(f"metric label from an agency's text: {label}", file=out)
    return 0 if results and all(r.passed for r in results) and not foreign else 1


def _options(args: argparse.Namespace) -> FaultOptions:
    """How much load each scenario gets: ``--short``, else the flags, else the defaults of its kind."""
    if args.short:
        seconds = CLUSTER_SHORT_SECONDS if args.cluster else SHORT_SECONDS
        return FaultOptions(SHORT_REQUESTS, seconds, keep_workdirs=args.keep)
    requests, seconds = (CLUSTER_REQUESTS, CLUSTER_SECONDS) if args.cluster else (50_000, 15.0)
    return FaultOptions(args.requests or requests, args.seconds or seconds, keep_workdirs=args.keep)


def _chosen(args: argparse.Namespace, scenarios: dict[str, Scenario[T]]) -> list[Scenario[T]]:
    """The scenarios named with ``--scenario`` (all when none is), each of the kind ``--cluster`` says."""
    names = args.scenario or list(scenarios)
    other = [name for name in names if name not in scenarios]
    if other:
        where = "a single broker: drop --cluster" if args.cluster else "the cluster: add --cluster"
        raise ConfigError(f"scenarios {', '.join(other)} run on {where}")
    return [scenarios[name] for name in names]


def run_faults(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run the chosen scenarios, print the table; 0 when every row passed."""
    workdir = repo_root() / ".cache" / "faults"
    if args.cluster:
        cluster = Harness(FaultCluster(fault_cluster(args.port)), settings, workdir, _options(args))
        rows, errors = _run_all(cluster, _chosen(args, CLUSTER_SCENARIOS), out)
    else:
        single = Harness(SingleBroker(fault_broker(args.port)), settings, workdir, _options(args))
        rows, errors = _run_all(single, _chosen(args, SCENARIOS), out)
    for line in render(rows):
        print(line, file=out)
    failed = [row.scenario for row in rows if not row.passed] + errors
    if failed:
        print(f"failed: {', '.join(failed)} (logs and stores kept under {workdir})", file=out)
    return 1 if failed else 0


def _run_all(harness: Harness[T], scenarios: list[Scenario[T]], out: TextIO) -> tuple[list[Row], list[str]]:
    """Each scenario's row, and the names of those that could not finish, on one running harness."""
    rows: list[Row] = []
    errors: list[str] = []
    with harness:
        for scenario in scenarios:
            try:
                rows.append(harness.run(scenario))
            except DancuError as exc:
                errors.append(scenario.name)
                print(f"{scenario.name}: ERROR {exc}", file=out, flush=True)
                continue
            print(f"{scenario.name}: {'passed' if rows[-1].passed else 'FAILED'}", file=out, flush=True)
    return rows, errors
