"""Reads every partition of one topic from the offsets a reader stored, to its end or on and on.

How a copy of a topic kept elsewhere (the audit index) resumes: the offsets live with the copy, not in
a consumer group, so the copy and its offsets change in one database transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from dancu_bus.errors import BrokerError, ConfigError
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.consuming import incoming
from dancu_bus.transport.kafka import kafka_options
from dancu_bus.transport.records import Incoming

__all__ = ["TopicReader", "topic_reader"]


class TopicReader:
    """Every partition of one topic, each read from where ``start_at`` put it."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, partitions: list[int]) -> None:
        self.topic = topic
        self._consumer = consumer
        self._partitions = [KafkaTopicPartition(topic, p) for p in partitions]

    async def start_at(self, offsets: Mapping[int, int]) -> None:
        """Read each partition from its offset in ``offsets``, else (or if retention removed it) its start.

        ConfigError for an offset beyond a partition's end: the topic was recreated since it was read.
        """
        try:
            begins = await self._consumer.beginning_offsets(self._partitions)
            ends = await self._consumer.end_offsets(self._partitions)
        except KafkaError as exc:
            raise BrokerError(f"cannot read the offsets of {self.topic}: {exc}") from exc
        for tp in self._partitions:
            wanted = offsets.get(tp.partition, begins[tp])
            if wanted > ends[tp]:
                raise ConfigError(
                    f"{self.topic}[{tp.partition}] ends at offset {ends[tp]}, before {wanted} already read:"
                    " the topic was recreated; rebuild the copy (`--rebuild`)"
                )
            self._consumer.seek(tp, max(wanted, begins[tp]))

    async def ends(self) -> dict[int, int]:
        """The end offset of every partition now (the last stable offset: committed records only)."""
        try:
            ends = await self._consumer.end_offsets(self._partitions)
        except KafkaError as exc:
            raise BrokerError(f"cannot read the end offsets of {self.topic}: {exc}") from exc
        return {tp.partition: offset for tp, offset in ends.items()}

    async def fetch(
        self, timeout_ms: int = 500, max_records: int = 2000
    ) -> tuple[list[Incoming], dict[int, int]]:
        """The next records (each partition's in order), and the offset each partition is read to after them.

        The positions pass transaction markers and aborted records, which are never returned.
        """
        try:
            batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
            positions = {tp.partition: await self._consumer.position(tp) for tp in self._partitions}
        except KafkaError as exc:
            raise BrokerError(f"reading {self.topic}: {exc}") from exc
        return [incoming(m) for messages in batches.values() for m in messages], positions


@asynccontextmanager
async def topic_reader(
    kafka: KafkaSettings, topic: str, timeout_s: float = 30.0
) -> AsyncIterator[TopicReader]:
    """A reader of every partition of ``topic``, in no consumer group; BrokerError when it is not there."""
    consumer = AIOKafkaConsumer(
        **kafka_options(kafka),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=200,
        # Retention may delete what is being read: go on from the oldest record left, never skip to the end.
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise BrokerError(f"cannot reach the cluster to read {topic}: {exc}") from exc
    try:
        partitions = await _partitions(consumer, topic, timeout_s)
        consumer.assign([KafkaTopicPartition(topic, p) for p in partitions])
        yield TopicReader(consumer, topic, partitions)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        # partitions_for_topic() only knows subscribed topics; a full metadata fetch knows them all.
        metadata = await consumer._client.fetch_all_metadata()
        found = metadata.partitions_for_topic(topic)
        if found:
            return sorted(found)
        if time.monotonic() > deadline:
            raise BrokerError(
                f"topic {topic} does not exist or is not readable (run `dancu-bus topics apply`)"
            )
        await asyncio.sleep(0.2)
