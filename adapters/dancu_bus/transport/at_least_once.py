"""An at-least-once worker for the channel adapters: read a batch, write what it makes, then commit.

The adapters' outputs (an SMS reply, a portal response) go to a party outside the platform that
cannot take part in a Kafka transaction, so exactly-once buys nothing there. What the worker does
promise: a record's output is on the broker (acks=all) before the record's offset is committed, so a
crash loses nothing; only a crash between the two answers a record again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.consuming import WorkerOptions, handle_with_retries, next_batch
from dancu_bus.transport.kafka import consumer, producer
from dancu_bus.transport.records import Incoming, Outgoing

__all__ = ["BatchAnswerer", "run_at_least_once"]

log = logging.getLogger(__name__)


class BatchAnswerer(Protocol):
    """Turns a batch of records into the records to write for them (replies, dead letters)."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]: ...


async def run_at_least_once(
    kafka: KafkaSettings,
    group_id: str,
    handler: BatchAnswerer,
    stop: asyncio.Event,
    options: WorkerOptions,
) -> None:
    """Consume ``options.pattern`` (a topic name) in ``group_id`` until ``stop``; each batch's output is
    written and acknowledged before its offsets are committed."""
    reading = consumer(kafka, group_id, options.max_records)
    writing = producer(kafka)
    await writing.start()
    try:
        await reading.start()
        try:
            reading.subscribe([options.pattern])
            while not stop.is_set():
                batch = await next_batch(reading, options)
                if not batch:
                    continue
                outgoing = await handle_with_retries(handler, batch, stop, options)
                sent = [
                    await writing.send(
                        o.topic, o.value, key=o.key, headers=list(o.headers), partition=o.partition
                    )
                    for o in outgoing
                ]
                await asyncio.gather(*sent)
                await reading.commit()
                options.events.handled(len(batch))
        finally:
            await reading.stop()
    finally:
        await writing.stop()
