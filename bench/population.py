"""Seeded population stores cached under .cache/bench, and the sample of people the requests ask about.

A population is fixed by (citizens, seed): the generator is deterministic, so the SQLite file, the
PostgreSQL cluster and the sample file of one population describe the same people and are reused
across runs. Each is written under a temporary name (or marked when complete) so an interrupted
seeding is never mistaken for a finished one.
"""

from __future__ import annotations

import asyncio
import csv
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pgcluster import BenchCluster, find_binaries

from dancu_bus.contracts import Citizen
from dancu_bus.dev import repo_root
from dancu_bus.settings import StoreSettings
from dancu_bus.store import PopulationStore, StoreIdentity, open_store
from dancu_bus.store.protocol import BulkLoading
from dancu_bus.store.seeding import seed_store

__all__ = ["CACHE", "SAMPLE_SIZE", "Person", "Population", "postgres_store", "read_sample", "seed_into"]

CACHE = repo_root() / ".cache" / "bench"
SAMPLE_SIZE = 200_000  # people the requests ask about, spread evenly over the whole population
_BATCH = 20_000  # citizens per transaction, as `dancu-bus store seed`


@dataclass(frozen=True, slots=True)
class Person:
    """What a telecom or a bank holds about a subscriber or customer."""

    personal_id: str
    full_name: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class Population:
    """The cached files of one population."""

    citizens: int
    seed: int = 2026

    @property
    def sqlite_path(self) -> Path:
        """The seeded SQLite file."""
        return CACHE / f"sqlite-{self.citizens}-seed{self.seed}.sqlite3"

    @property
    def postgres_home(self) -> Path:
        """The folder of the seeded PostgreSQL cluster."""
        return CACHE / f"postgres-{self.citizens}-seed{self.seed}"

    @property
    def sample_path(self) -> Path:
        """Every k-th citizen's id, name and birth date, k = citizens / SAMPLE_SIZE."""
        return CACHE / f"sample-{self.citizens}-seed{self.seed}.tsv"

    @property
    def stride(self) -> int:
        """Keep one citizen in this many for the sample."""
        return max(1, self.citizens // SAMPLE_SIZE)


async def seed_into(store: PopulationStore, population: Population, progress: Callable[[int], None]) -> float:
    """Seed an open store with ``seed_store``, writing the sample on the way; the seconds it took."""
    partial = population.sample_path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as out:
        sampling = _Sampling(store, csv.writer(out, delimiter="\t"), population.stride)
        started = time.perf_counter()
        await seed_store(sampling, population.citizens, population.seed, _BATCH, progress)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
    os.replace(partial, population.sample_path)
    return elapsed


class _Sampling:
    """Passes batches on to the store, keeping every ``stride``-th citizen's id, name and birth date."""

    def __init__(self, store: PopulationStore, sample: Any, stride: int) -> None:
        self._store, self._sample, self._stride = store, sample, stride

    @asynccontextmanager
    async def loading(self) -> AsyncIterator[Callable[[Sequence[Citizen]], Awaitable[int]]]:
        """The store's own writer (its bulk load, or ``put_many``), sampling each batch on the way."""
        store = self._store
        inner = store.loading() if isinstance(store, BulkLoading) else nullcontext(store.put_many)
        async with inner as write:

            async def sampled(batch: Sequence[Citizen]) -> int:
                rows = (
                    (c.personal_id, c.full_name, c.birth_date.isoformat()) for c in batch[:: self._stride]
                )
                self._sample.writerows(rows)
                return await write(batch)

            yield sampled

    async def record_population(self) -> StoreIdentity:
        """The store's own: its identity now holds the seeded count."""
        return await self._store.record_population()


def read_sample(population: Population) -> list[Person]:
    """The cached sample; FileNotFoundError when the population was never seeded here."""
    with population.sample_path.open(encoding="utf-8", newline="") as source:
        return [
            Person(pid, name, date.fromisoformat(born))
            for pid, name, born in csv.reader(source, delimiter="\t")
        ]


def ensure_sqlite(population: Population, progress: Callable[[int], None]) -> tuple[Path, float | None]:
    """The seeded SQLite file, seeding it first if needed; the seconds seeding took, None if cached."""
    path = population.sqlite_path
    if path.exists() and population.sample_path.exists():
        return path, None
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    elapsed = asyncio.run(_seed_sqlite(partial, population, progress))
    os.replace(partial, path)
    return path, elapsed


async def _seed_sqlite(path: Path, population: Population, progress: Callable[[int], None]) -> float:
    async with open_store(StoreSettings(backend="sqlite", path=path), create=True) as store:
        return await seed_into(store, population, progress)


@contextmanager
def postgres_store(
    population: Population, progress: Callable[[int], None]
) -> Iterator[tuple[str, float | None]]:
    """A DSN of the seeded population in PostgreSQL, and the seconds seeding took (None if cached).

    DANCU_BENCH_POSTGRES_DSN names a server to use (seeded when its count differs); otherwise the
    benchmark's own cluster in .cache/bench runs for as long as the context lasts.
    """
    external = os.environ.get("DANCU_BENCH_POSTGRES_DSN")
    if external:
        yield external, _ensure_seeded(external, population, progress, marker=None)
        return
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("bench: PostgreSQL binaries not found: apt-get install -y postgresql")
    cluster = BenchCluster.at(binaries, population.postgres_home)
    cluster.start()
    try:
        marker = population.postgres_home / "seeded"
        yield cluster.dsn, _ensure_seeded(cluster.dsn, population, progress, marker)
    finally:
        cluster.stop()


def _ensure_seeded(
    dsn: str, population: Population, progress: Callable[[int], None], marker: Path | None
) -> float | None:
    if marker is not None and marker.exists() and population.sample_path.exists():
        return None
    settings = StoreSettings(backend="postgres", dsn=dsn)  # type: ignore[arg-type]  # pydantic turns str into SecretStr
    held = asyncio.run(_count(settings))
    if marker is None and held == population.citizens and population.sample_path.exists():
        return None
    elapsed = asyncio.run(_seed_postgres(settings, population, progress))
    if marker is not None:
        marker.write_text(str(population.citizens))
    return elapsed


async def _count(settings: StoreSettings) -> int:
    async with open_store(settings, create=True) as store:
        return await store.count()


async def _seed_postgres(
    settings: StoreSettings, population: Population, progress: Callable[[int], None]
) -> float:
    async with open_store(settings, create=True) as store:
        return await seed_into(store, population, progress)
