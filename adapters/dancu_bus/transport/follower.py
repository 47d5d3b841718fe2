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

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.clients import kafka_options

__all__ = ["Apply", "following"]

log = logging.getLogger(__name__)

Apply = Callable[[bytes | None, bytes | None], None]
"""Takes one record's key and value."""


@asynccontextmanager
async def following(
    kafka: KafkaSettings, appliers: Mapping[str, Apply], timeout_s: float = 30.0
) -> AsyncIterator[None]:
    """Replay each topic of ``appliers`` into its Apply up to its end, then keep applying until exit."""
    consumer = AIOKafkaConsumer(
        **kafka_options(kafka),
        group_id=None,  # no group: every process reads every partition, and commits nothing
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=100,  # changes reach services within about a second
    )
    await consumer.start()
    try:
        partitions = await _assign_all(consumer, sorted(appliers), timeout_s)
        await _catch_up(consumer, partitions, appliers, timeout_s)
        task = asyncio.create_task(_follow(consumer, appliers), name=f"follow {', '.join(appliers)}")
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
) -> None:
    ends = await consumer.end_offsets(partitions)
    deadline = time.monotonic() + timeout_s
    while behind := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
        if time.monotonic() > deadline:
            raise BrokerError(f"could not read {behind[0].topic} to its end within {timeout_s:g} s")
        await _apply_batch(consumer, appliers)


async def _follow(consumer: AIOKafkaConsumer, appliers: Mapping[str, Apply]) -> None:
    while True:
        try:
            await _apply_batch(consumer, appliers)
        except KafkaError as exc:
            # The client reconnects by itself; the view stays as it was meanwhile.
            log.warning("following %s: %s", ", ".join(appliers), exc)
            await asyncio.sleep(1)


async def _apply_batch(consumer: AIOKafkaConsumer, appliers: Mapping[str, Apply]) -> None:
    batches = await consumer.getmany(timeout_ms=200)
    for tp, messages in batches.items():
        apply = appliers[tp.topic]
        for message in messages:
            apply(message.key, message.value)
