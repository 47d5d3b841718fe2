"""Reads the end of a partition, newest record first: how a writer learns where its partition stands."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from dancu_bus.errors import BrokerError
from dancu_bus.transport.clients import KafkaClients
from dancu_bus.transport.consuming import incoming
from dancu_bus.transport.records import Incoming, TopicPartition

__all__ = ["offer_tail", "partition_count", "read_partition"]

_FIRST_WINDOW = 16


async def offer_tail(
    clients: KafkaClients,
    tp: TopicPartition,
    accept: Callable[[Incoming | None], bool],
    timeout_s: float = 60,
) -> None:
    """Offer ``accept`` the committed records of ``tp``, newest first, until it takes one; then None."""
    reader = clients.reader()
    await reader.start()
    try:
        partition = KafkaTopicPartition(*tp)
        reader.assign([partition])
        begin = (await reader.beginning_offsets([partition]))[partition]
        end = (await reader.end_offsets([partition]))[partition]
        deadline = time.monotonic() + timeout_s
        window = _FIRST_WINDOW
        # Usually the newest record is taken; windows grow in case the newest ones are not (foreign bytes).
        while end > begin:
            start = max(begin, end - window)
            for record in reversed(await _read_range(reader, partition, start, end, deadline)):
                if accept(record):
                    return
            end, window = start, window * 4
        accept(None)
    finally:
        await reader.stop()


async def read_partition(clients: KafkaClients, tp: TopicPartition, timeout_s: float = 60) -> list[Incoming]:
    """Every committed record of ``tp``, from its beginning to its end now."""
    reader = clients.reader()
    await reader.start()
    try:
        partition = KafkaTopicPartition(*tp)
        reader.assign([partition])
        begin = (await reader.beginning_offsets([partition]))[partition]
        end = (await reader.end_offsets([partition]))[partition]
        if end <= begin:
            return []
        return await _read_range(reader, partition, begin, end, time.monotonic() + timeout_s)
    finally:
        await reader.stop()


async def _read_range(
    reader: AIOKafkaConsumer, partition: KafkaTopicPartition, start: int, end: int, deadline: float
) -> list[Incoming]:
    reader.seek(partition, start)
    records: list[Incoming] = []
    # The position passes transaction markers and aborted records, which are never returned.
    while await reader.position(partition) < end:
        if time.monotonic() > deadline:
            raise BrokerError(f"could not read {partition.topic}[{partition.partition}] up to offset {end}")
        fetched = await reader.getmany(partition, timeout_ms=200)
        records += [incoming(m) for m in fetched.get(partition, []) if m.offset < end]
    return records


async def partition_count(clients: KafkaClients, topic: str) -> int:
    """How many partitions ``topic`` has; BrokerError when it does not exist."""
    probe = clients.producer()
    await probe.start()
    try:
        return len(await probe.partitions_for(topic))
    except KafkaError as exc:
        raise BrokerError(f"cannot find topic {topic} (run `dancu-bus topics apply`): {exc}") from exc
    finally:
        await probe.stop()
