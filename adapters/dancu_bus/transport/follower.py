"""Follows compacted topics from their beginning, forever: how services keep live views (registry, codes).

One consumer follows every topic of a view: each follower is a fetch loop of its own, and the
resolver's eleven catalogue topics once cost eleven of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.kafka import reader

__all__ = ["Apply", "Followed", "ViewState", "following"]

log = logging.getLogger(__name__)

Apply = Callable[[bytes | None, bytes | None], None]
"""Takes one record's key and value."""
# How often a follower asks the broker for its topics' ends, to say it is caught up (metrics).
_CHECK_END_S = 5.0


@dataclass(slots=True)
class ViewState:
    """What a view's follower did: records applied, the last one's broker time, when it was at the end."""

    records: int = 0
    last_applied_ms: int | None = None
    # Wall-clock seconds; None until the first catch-up. Stops moving when the follower is cut off.
    caught_up_at: float | None = None


class Followed:
    """The state of each view a process follows, by view name (``registry``, ``catalogues``, …)."""

    def __init__(self) -> None:
        self._views: dict[str, ViewState] = {}

    def view(self, name: str) -> ViewState:
        """The state of the view ``name``, created on first use."""
        return self._views.setdefault(name, ViewState())

    def items(self) -> list[tuple[str, ViewState]]:
        """Every view's name and state."""
        return sorted(self._views.items())


@asynccontextmanager
async def following(
    kafka: KafkaSettings,
    appliers: Mapping[str, Apply],
    timeout_s: float = 30.0,
    state: ViewState | None = None,
) -> AsyncIterator[None]:
    """Replay each topic of ``appliers`` into its Apply up to its end, then keep applying until exit.

    ``state`` (default: one nobody reads) says how far the view is, for its freshness metrics.
    """
    # No group: every process reads every partition. Changes reach services within about a second.
    consumer = reader(kafka, fetch_max_wait_ms=100)
    view = state or ViewState()
    await consumer.start()
    try:
        partitions = await _assign_all(consumer, sorted(appliers), timeout_s)
        await _catch_up(consumer, partitions, appliers, timeout_s, view)
        view.caught_up_at = time.time()
        follow = _follow(consumer, partitions, appliers, view)
        task = asyncio.create_task(follow, name=f"follow {', '.join(appliers)}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await consumer.stop()


async def _assign_all(
    consumer: AIOKafkaConsumer, topics: list[str], timeout_s: float
) -> list[KafkaTopicPartition]:
    deadline = time.monotonic() + timeout_s
    while True:
        # partitions_for_topic() only knows subscribed topics; a full metadata fetch knows them all.
        metadata = await consumer._client.fetch_all_metadata()
        missing = [topic for topic in topics if not metadata.partitions_for_topic(topic)]
        if not missing:
            break
        if time.monotonic() > deadline:
            raise BrokerError(f"topic {missing[0]} does not exist or is not readable")
        await asyncio.sleep(0.2)
    partitions = [
        KafkaTopicPartition(topic, p)
        for topic in topics
        for p in sorted(metadata.partitions_for_topic(topic))
    ]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return partitions


async def _catch_up(
    consumer: AIOKafkaConsumer,
    partitions: list[KafkaTopicPartition],
    appliers: Mapping[str, Apply],
    timeout_s: float,
    view: ViewState,
) -> None:
    ends = await consumer.end_offsets(partitions)
    deadline = time.monotonic() + timeout_s
    while behind := await _behind(consumer, partitions, ends):
        if time.monotonic() > deadline:
            raise BrokerError(f"could not read {behind[0].topic} to its end within {timeout_s:g} s")
        await _apply_batch(consumer, appliers, view)


async def _behind(
    consumer: AIOKafkaConsumer, partitions: list[KafkaTopicPartition], ends: Mapping[KafkaTopicPartition, int]
) -> list[KafkaTopicPartition]:
    return [tp for tp in partitions if await consumer.position(tp) < ends[tp]]


async def _follow(
    consumer: AIOKafkaConsumer,
    partitions: list[KafkaTopicPartition],
    appliers: Mapping[str, Apply],
    view: ViewState,
) -> None:
    checked = time.monotonic()
    while True:
        try:
            await _apply_batch(consumer, appliers, view)
            if time.monotonic() - checked >= _CHECK_END_S:
                # Asking the broker, not the last fetch: a follower cut off from it is not caught up.
                checked = time.monotonic()
                if not await _behind(consumer, partitions, await consumer.end_offsets(partitions)):
                    view.caught_up_at = time.time()
        except KafkaError as exc:
            # The client reconnects by itself; the view stays as it was meanwhile.
            log.warning("following %s: %s", ", ".join(appliers), exc)
            await asyncio.sleep(1)


async def _apply_batch(consumer: AIOKafkaConsumer, appliers: Mapping[str, Apply], view: ViewState) -> None:
    batches = await consumer.getmany(timeout_ms=200)
    for tp, messages in batches.items():
        apply = appliers[tp.topic]
        for message in messages:
            apply(message.key, message.value)
        if messages:
            view.records += len(messages)
            view.last_applied_ms = messages[-1].timestamp
