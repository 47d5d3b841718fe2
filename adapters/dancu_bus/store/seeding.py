"""Fill a population store with the synthetic population: bulk load if it has one, else batch by batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from itertools import islice

from dancu_bus.contracts import Citizen
from dancu_bus.store.protocol import BulkLoading, PopulationStore
from dancu_bus.store.seed import generate

__all__ = ["seed_store"]


async def seed_store(
    store: PopulationStore,
    count: int,
    seed: int,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``generate(count, seed)`` into an open store; return how many citizens were written.

    The next batch is generated on a worker thread while the store writes the last one (in its own
    thread or server process), so seeding takes about as long as the slower of the two, not their sum.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    citizens = generate(count, seed)
    written = 0
    upcoming = asyncio.ensure_future(asyncio.to_thread(_take, citizens, batch))
    try:
        async with _writer(store) as write:
            while chunk := await upcoming:
                # One thread at a time advances the generator: the next take starts after this one ended.
                upcoming = asyncio.ensure_future(asyncio.to_thread(_take, citizens, batch))
                written += await write(chunk)
                if progress is not None:
                    progress(written)
    finally:
        await asyncio.wait([upcoming])  # a failed write leaves no generating thread behind
    await store.record_population()
    return written


def _writer(
    store: PopulationStore,
) -> AbstractAsyncContextManager[Callable[[Sequence[Citizen]], Awaitable[int]]]:
    """The store's bulk loader if it has one (SQLite), else its ``put_many``, one transaction per batch."""
    if isinstance(store, BulkLoading):
        return store.loading()
    return nullcontext(store.put_many)


def _take(citizens: Iterator[Citizen], size: int) -> list[Citizen]:
    """The next ``size`` citizens (fewer at the end, none when exhausted)."""
    return list(islice(citizens, size))
