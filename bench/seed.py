"""Benchmark: how long seeding N synthetic citizens takes in SQLite and in PostgreSQL.

    .venv/bin/python bench/seed.py --citizens 10000000            # both stores, from scratch

Each store is seeded from scratch into the cache ``exchange.py`` reuses (.cache/bench), as
``dancu-bus store seed`` does (batches of 20,000, one transaction each). The generator alone is
timed too, on a prefix of the population, to show what the stores add. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from itertools import islice
from typing import Any

from population import Population, ensure_sqlite, postgres_store

from dancu_bus.store.seed import generate

_TARGET_S = 600.0  # issue 6: 10 million citizens in at most 10 minutes per store


def main() -> int:
    """Seed each store the arguments name; print the table and the JSON summary."""
    args = _arguments()
    population = Population(args.citizens)
    results: dict[str, Any] = {"citizens": args.citizens}
    results["generator_per_s"] = round(_generator_rate(min(args.citizens, 300_000)))
    for store in args.stores.split(","):
        results[f"{store}_s"] = round(_seed(store, population), 1)
    _print(results)
    return 0


def _generator_rate(count: int) -> float:
    started = time.perf_counter()
    for _ in islice(generate(count, 2026), count):
        pass
    return count / (time.perf_counter() - started)


def _seed(store: str, population: Population) -> float:
    """Seconds to seed ``store`` from scratch."""
    _log(f"{store}: seeding {population.citizens:,} citizens from scratch")
    population.sample_path.unlink(missing_ok=True)
    if store == "sqlite":
        population.sqlite_path.unlink(missing_ok=True)
        seconds = ensure_sqlite(population, _progress(store, population.citizens))[1]
    else:
        shutil.rmtree(population.postgres_home, ignore_errors=True)
        with postgres_store(population, _progress(store, population.citizens)) as (_dsn, seconds):
            pass
    assert seconds is not None
    return seconds


def _progress(store: str, total: int) -> Any:
    started = time.perf_counter()
    shown = [0]

    def report(written: int) -> None:
        if written * 10 // total > shown[0]:
            shown[0] = written * 10 // total
            rate = written / (time.perf_counter() - started)
            _log(f"{store}: {written:,} / {total:,} ({rate:,.0f}/s)")

    return report


def _print(results: dict[str, Any]) -> None:
    n = results["citizens"]
    print(f"\nseeding {n:,} citizens (target: 10,000,000 in at most {_TARGET_S / 60:.0f} min per store)")
    print(f"  {'':<12}{'seconds':>10}{'citizens/s':>14}{'10M at this rate':>20}")
    generated = results["generator_per_s"]
    print(f"  {'generator':<12}{'':>10}{generated:>14,}{10_000_000 / generated / 60:>16.1f} min")
    for key in (k for k in results if k.endswith("_s") and k != "generator_per_s"):
        seconds = results[key]
        rate = n / seconds
        print(f"  {key[:-2]:<12}{seconds:>10.0f}{rate:>14,.0f}{10_000_000 / rate / 60:>16.1f} min")
    print(json.dumps(results))


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--citizens", type=int, default=10_000_000)
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
