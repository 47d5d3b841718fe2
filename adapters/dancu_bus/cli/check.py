"""``dancu-bus check faults|hostile``: break the system on purpose, or attack it as an agency."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from dancu_bus.dev import repo_root
from dancu_bus.errors import DancuError
from dancu_bus.faults import SCENARIOS, FaultOptions, Harness, Row, fault_broker, render
from dancu_bus.hostile import ProbeResult, describe_results
from dancu_bus.hostile.check import HostileCheck
from dancu_bus.settings import Settings

__all__ = ["register", "run_faults", "run_hostile"]

SHORT_REQUESTS = 3_000
SHORT_SECONDS = 8.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check faults``."""
    check = commands.add_parser("check", help="checks of the running system")
    verbs = check.add_subparsers(dest="check_command", required=True)
    faults = verbs.add_parser(
        "faults",
        help="kill, restart and starve the services on a broker of its own; exit 1 on any duplicate or loss",
    )
    faults.add_argument("--requests", type=int, default=50_000, help="requests per scenario (default 50,000)")
    faults.add_argument(
        "--short",
        action="store_true",
        help=f"{SHORT_REQUESTS:,} requests over {SHORT_SECONDS:g} s per scenario (CI)",
    )
    faults.add_argument(
        "--seconds", type=float, default=15.0, help="production of each scenario's requests takes this long"
    )
    faults.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="run only these (repeatable)"
    )
    faults.add_argument(
        "--port",
        type=int,
        help="the harness broker's client port (the next one is its controller's); default: free",
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


def run_faults(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run the chosen scenarios, print the table; 0 when every row passed."""
    requests, seconds = (SHORT_REQUESTS, SHORT_SECONDS) if args.short else (args.requests, args.seconds)
    options = FaultOptions(requests=requests, seconds=seconds, keep_workdirs=args.keep)
    workdir = repo_root() / ".cache" / "faults"
    rows: list[Row] = []
    errors: list[str] = []
    with Harness(fault_broker(args.port), settings, workdir, options) as harness:
        for name in args.scenario or list(SCENARIOS):
            try:
                rows.append(harness.run(SCENARIOS[name]))
            except DancuError as exc:
                errors.append(name)
                print(f"{name}: ERROR {exc}", file=out, flush=True)
                continue
            print(f"{name}: {'passed' if rows[-1].passed else 'FAILED'}", file=out, flush=True)
    for line in render(rows):
        print(line, file=out)
    failed = [row.scenario for row in rows if not row.passed] + errors
    if failed:
        print(f"failed: {', '.join(failed)} (logs and stores kept under {workdir})", file=out)
    return 1 if failed else 0
