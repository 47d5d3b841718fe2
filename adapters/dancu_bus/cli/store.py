"""``dancu-bus store init|seed|count``: create the population store, fill it with synthetic people, count.

Only ``init`` and ``seed`` create a store; every other command, and every service, refuses a path
where there is none, so a mistyped path is an error rather than an empty store.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from dancu_bus.settings import Settings, StoreSettings
from dancu_bus.store import StoreIdentity, open_store
from dancu_bus.store.seeding import seed_store

__all__ = ["register", "run_count", "run_init", "run_seed"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``store init``, ``store seed`` and ``store count``."""
    store = commands.add_parser("store", help="the population store")
    actions = store.add_subparsers(dest="store_command", required=True)
    init = actions.add_parser("init", help="create an empty store (or give an existing one its identity)")
    init.set_defaults(run=run_init)
    seed = actions.add_parser("seed", help="write a deterministic synthetic population (replaces same ids)")
    seed.add_argument("--citizens", type=_non_negative, required=True, metavar="N", help="how many")
    seed.add_argument("--seed", type=int, default=2026, metavar="S", help="same seed, same citizens")
    seed.add_argument("--batch", type=_positive, default=20_000, metavar="B", help="citizens per batch")
    seed.set_defaults(run=run_seed)
    count = actions.add_parser("count", help="print how many citizens the store holds")
    count.set_defaults(run=run_count)
    for parser in (init, seed, count):
        parser.add_argument(
            "--path", type=Path, default=None, help="SQLite file (default: settings store.path; sqlite only)"
        )


def run_seed(args: argparse.Namespace, settings: Settings) -> int:
    """Seed the store; print how many citizens were written, how long it took and how fast."""
    target = _store_settings(args, settings)
    started = time.perf_counter()
    written, held = asyncio.run(_seed(target, args.citizens, args.seed, args.batch))
    elapsed = time.perf_counter() - started
    rate = written / elapsed if elapsed > 0 else 0.0
    where = target.path if target.backend == "sqlite" else "PostgreSQL"  # a DSN may hold a password
    print(f"seeded {written:,} citizens into {where} in {elapsed:.1f} s ({rate:,.0f} citizens/s)")
    print(f"the store holds {held:,} citizens")
    return 0


def run_init(args: argparse.Namespace, settings: Settings) -> int:
    """Create the store; print its identity."""
    identity = asyncio.run(_init(_store_settings(args, settings)))
    created = f"{identity.created_at:%Y-%m-%d %H:%M}"
    print(f"store {identity.store_id} (created {created}): {identity.citizens:,} citizens")
    return 0


def run_count(args: argparse.Namespace, settings: Settings) -> int:
    """Print how many citizens the store holds."""
    print(asyncio.run(_count(_store_settings(args, settings))))
    return 0


def _store_settings(args: argparse.Namespace, settings: Settings) -> StoreSettings:
    """The store settings, with ``--path`` if given."""
    if args.path is None:
        return settings.store
    return settings.store.model_copy(update={"path": args.path})


async def _seed(target: StoreSettings, citizens: int, seed: int, batch: int) -> tuple[int, int]:
    """Seed the store; how many were written and how many it holds now."""
    async with open_store(target, create=True) as store:
        written = await seed_store(store, citizens, seed, batch, _Progress(citizens))
        return written, await store.count()


async def _init(target: StoreSettings) -> StoreIdentity:
    async with open_store(target, create=True) as store:
        return await store.record_population()


async def _count(target: StoreSettings) -> int:
    """How many citizens the store holds."""
    async with open_store(target) as store:
        return await store.count()


class _Progress:
    """Prints the running total to stderr each time another tenth of the work is done."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._shown = 0

    def __call__(self, written: int) -> None:
        tenths = written * 10 // max(self._total, 1)
        if tenths > self._shown:
            self._shown = tenths
            print(f"  {written:,} / {self._total:,}", file=sys.stderr, flush=True)


def _non_negative(text: str) -> int:
    """An argparse type: an integer ≥ 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def _positive(text: str) -> int:
    """An argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value
