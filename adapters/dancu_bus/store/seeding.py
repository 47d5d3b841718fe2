"""Fill a population store with the synthetic population, one batch per transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from dancu_bus.contracts import Citizen
from dancu_bus.store.protocol import PopulationStore
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

    The next batch is generated while the store writes the previous one.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    written = 0
    writing: asyncio.Task[int] | None = None
    for chunk in _chunks(generate(count, seed), batch):
        if writing is not None:
            written += await _report(writing, written, progress)
        writing = asyncio.create_task(store.put_many(chunk))
        await asyncio.sleep(0)  # let the write start before the next batch is generated
    if writing is not None:
        written += await _report(writing, written, progress)
    return written


async def _report(writing: asyncio.Task[int], before: int, progress: Callable[[int], None] | None) -> int:
    """Wait for one batch; tell ``progress`` the running total."""
    done = await writing
    if progress is not None:
        progress(before + done)
    return done


def _chunks(items: Iterable[Citizen], size: int) -> Iterator[list[Citizen]]:
    """Consecutive lists of ``size`` items, the last one shorter."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
