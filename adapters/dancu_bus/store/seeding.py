"""Fill a population store with the synthetic population, one batch per transaction."""

from __future__ import annotations

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
    """Write ``generate(count, seed)`` into an open store; return how many citizens were written."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    written = 0
    for chunk in _chunks(generate(count, seed), batch):
        written += await store.put_many(chunk)
        if progress is not None:
            progress(written)
    return written


def _chunks(items: Iterable[Citizen], size: int) -> Iterator[list[Citizen]]:
    """Consecutive lists of ``size`` items, the last one shorter."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
