"""Reads a consumer group's committed offsets and its partitions' ends, every interval (confluent-kafka).

The I/O half of ``dancu_bus.lag``: one AdminClient lists the topics the group reads, their last stable
offsets (read_committed: what a consumer of the group can see) and earliest offsets, and the group's
committed offsets; a partition never committed counts from its earliest offset. A partition whose
group stands still with lag is read once from its committed offset: when nothing is visible there
(transaction markers, aborted records), it is reported with no lag until either offset moves. Each
service watches its own group only, which its ACLs let it describe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from dancu_bus.admin.config import client_config
from dancu_bus.lag import Partition, PartitionLag, group_lag
from dancu_bus.settings import KafkaSettings

__all__ = ["GroupLag", "LagMonitor"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 10.0
# Partitions read per poll to see whether anything is visible past a group that stands still.
_MAX_CHECKS = 64

Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class GroupLag:
    """One poll of a group: each partition's lag and last stable offset."""

    group: str
    lags: Mapping[Key, PartitionLag]
    latest: Mapping[Key, int]


class LagMonitor:
    """Polls the lag of ``group`` over the topics ``topics`` matches; blocking calls run in a thread."""

    def __init__(self, kafka: KafkaSettings, group: str, topics: re.Pattern[str]) -> None:
        self._config: dict[str, str | int | float | bool] = {**client_config(kafka)}
        self._group = group
        self._topics = topics
        self._table: dict[Key, Partition] = {}
        self._committed: dict[Key, int] = {}
        self._admin: AdminClient | None = None

    @contextlib.asynccontextmanager
    async def running(
        self, stop: asyncio.Event, interval_s: float, report: Callable[[GroupLag | None], None]
    ) -> AsyncIterator[None]:
        """``run`` as a task for as long as the context lasts."""
        task = asyncio.create_task(self.run(stop, interval_s, report), name=f"lag of {self._group}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(
        self, stop: asyncio.Event, interval_s: float, report: Callable[[GroupLag | None], None]
    ) -> None:
        """Poll every ``interval_s`` until ``stop``; ``report`` gets each poll, or None when one failed."""
        while not stop.is_set():
            try:
                report(await asyncio.to_thread(self.poll))
            except (KafkaException, TimeoutError) as exc:
                log.warning("reading the lag of group %s failed: %s", self._group, exc)
                report(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    def poll(self) -> GroupLag:
        """One round: the group's committed offsets against its partitions' last stable offsets."""
        admin = self._admin = self._admin or AdminClient(self._config, logger=log)
        metadata = admin.list_topics(timeout=_TIMEOUT_S)
        partitions = [
            TopicPartition(name, p)
            for name, topic in sorted(metadata.topics.items())
            if self._topics.fullmatch(name) and topic.error is None
            for p in sorted(topic.partitions)
        ]
        if not partitions:
            return GroupLag(self._group, {}, {})
        latest = _offsets(admin, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        earliest = _offsets(admin, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        committed = self._committed_offsets(admin, partitions)
        start = {tp: committed.get(tp, earliest[tp]) for tp in latest}
        stalled = [tp for tp in start if tp in self._committed and self._committed[tp] == start[tp]]
        self._committed = start
        now = time.time()
        lags = group_lag(self._table, start, latest, now)
        self._check_visible([tp for tp in stalled if lags[tp].records > 0], start, latest)
        # What the checks found applies to this poll already.
        lags = {tp: self._table[tp].lag(start[tp], latest[tp], now) for tp in latest}
        return GroupLag(self._group, lags, latest)

    def _committed_offsets(self, admin: AdminClient, partitions: list[TopicPartition]) -> dict[Key, int]:
        request = [ConsumerGroupTopicPartitions(self._group, partitions)]
        future: Future[Any] = admin.list_consumer_group_offsets(request, request_timeout=_TIMEOUT_S)[
            self._group
        ]
        result = future.result(timeout=_TIMEOUT_S)
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions
            if tp.error is None and tp.offset >= 0
        }

    def _check_visible(
        self, stalled: list[Key], committed: Mapping[Key, int], latest: Mapping[Key, int]
    ) -> None:
        """Mark partitions where a read from the committed offset finds nothing before the end."""
        unchecked = [tp for tp in stalled if self._table[tp].nothing_visible != (committed[tp], latest[tp])]
        if not unchecked:
            return
        found = _visible(self._config, unchecked[:_MAX_CHECKS], committed)
        for tp in unchecked[:_MAX_CHECKS]:
            if tp not in found:
                self._table[tp].nothing_visible = (committed[tp], latest[tp])

    def close(self) -> None:
        """Let the AdminClient go (librdkafka closes it once unreferenced)."""
        self._admin = None


def _offsets(admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[Key, int]:
    futures = admin.list_offsets(
        {tp: spec for tp in partitions},
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=_TIMEOUT_S,
    )
    return {(tp.topic, tp.partition): f.result(timeout=_TIMEOUT_S).offset for tp, f in futures.items()}


def _visible(
    config: Mapping[str, str | int | float | bool], partitions: list[Key], committed: Mapping[Key, int]
) -> set[Key]:
    """The partitions where a read_committed consumer gets a record from the committed offset on."""
    consumer = KafkaConsumer(
        {
            **config,
            "group.id": f"dancu.lag.{uuid.uuid4().hex[:12]}",  # never joined, never committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        },
        logger=log,
    )
    found: set[Key] = set()
    ended: set[Key] = set()
    try:
        consumer.assign([TopicPartition(t, p, committed[t, p]) for t, p in partitions])
        deadline = time.monotonic() + _TIMEOUT_S
        while len(found | ended) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(len(partitions), 0.5):
                key = (message.topic() or "", message.partition() or 0)
                error = message.error()
                if error is None:
                    found.add(key)
                elif error.code() == KafkaError._PARTITION_EOF:
                    ended.add(key)
    finally:
        consumer.close()
    # A partition that neither gave a record nor reached its end in time counts as visible lag.
    return found | (set(partitions) - ended)
