"""Reads a consumer group's committed offsets and its partitions' ends, every interval (confluent-kafka).

The I/O half of ``dancu_bus.lag``. One consumer that never joins the group (it is named after it
only to fetch its committed offsets, and never commits) lists the topics the group reads, their
offsets (read_committed: the end a consumer of the group can see; the earliest, for a partition the
group never committed, which counts from there) and the group's committed offsets. A partition whose
group stands still with lag is read once from its committed offset: when nothing is visible there
(transaction markers, aborted records), it is reported with no lag until either offset moves. Each
service watches its own group only, which its ACLs let it describe. No AdminClient: its offset
listing leaks memory when called forever (confluent-kafka-python issue 1901), and its group-offset
listing has crashed the process on a coordinator still loading (issue 1982).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import (
    KafkaError,
    KafkaException,
    TopicPartition,
)

from dancu_bus.admin.config import client_config
from dancu_bus.lag import Partition, PartitionLag, group_lag
from dancu_bus.settings import KafkaSettings

__all__ = ["GroupLag", "LagMonitor"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 10.0
# Partitions read per poll to see whether anything is visible past a group that stands still.
_MAX_CHECKS = 64

Key = tuple[str, int]
_T = TypeVar("_T")


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
        self._principal = f"User:{kafka.username}" if kafka.username else "this service's principal"
        self._group = group
        self._topics = topics
        self._table: dict[Key, Partition] = {}
        self._committed: dict[Key, int] = {}
        self._consumer: KafkaConsumer | None = None

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
                report(await _on_a_daemon_thread(self.poll))
            except (KafkaException, TimeoutError) as exc:
                log.warning("reading the lag of group %s failed: %s", self._group, exc)
                report(None)
                await _on_a_daemon_thread(self.close)  # the next poll starts with a new consumer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    def poll(self) -> GroupLag:
        """One round: the group's committed offsets against its partitions' last stable offsets."""
        consumer = self._consumer = self._consumer or _consumer(self._config, self._group)
        metadata = consumer.list_topics(timeout=_TIMEOUT_S)
        matched = {
            name: topic for name, topic in sorted(metadata.topics.items()) if self._topics.fullmatch(name)
        }
        for name, topic in matched.items():
            if topic.error is not None:
                # Its lag cannot be read: the poll fails rather than the topic's lag vanishing.
                raise KafkaException(_unreadable(topic.error, name, self._principal))
        partitions = [(name, p) for name, topic in matched.items() for p in sorted(topic.partitions)]
        if not partitions:
            return GroupLag(self._group, {}, {})
        ends = {
            tp: consumer.get_watermark_offsets(TopicPartition(*tp), _TIMEOUT_S, False) for tp in partitions
        }
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in consumer.committed([TopicPartition(*tp) for tp in partitions], _TIMEOUT_S)
            if tp.error is None and tp.offset >= 0
        }
        latest = {tp: high for tp, (_, high) in ends.items()}
        start = {tp: committed.get(tp, low) for tp, (low, _) in ends.items()}
        # Stalled: the group did not move since the last poll, or the partition is first seen (a
        # restart's first poll): a tail of transaction markers then reads as no lag at once, so the
        # audit gate opens at the first poll of a healthy start rather than one interval later.
        stalled = [tp for tp in start if self._committed.get(tp, start[tp]) == start[tp]]
        self._committed = start
        now = time.time()
        lags = group_lag(self._table, start, latest, now)
        self._check_visible(consumer, [tp for tp in stalled if lags[tp].records > 0], start, latest)
        # What the checks found applies to this poll already.
        lags = {tp: self._table[tp].lag(start[tp], latest[tp], now) for tp in latest}
        return GroupLag(self._group, lags, latest)

    def _check_visible(
        self,
        consumer: KafkaConsumer,
        stalled: list[Key],
        committed: Mapping[Key, int],
        latest: Mapping[Key, int],
    ) -> None:
        """Mark partitions where a read from the committed offset finds nothing before the end."""
        unchecked = [tp for tp in stalled if self._table[tp].nothing_visible != (committed[tp], latest[tp])]
        checked = unchecked[:_MAX_CHECKS]
        if not checked:
            return
        found = _visible(consumer, checked, committed, self._principal)
        for tp in checked:
            if tp not in found:
                self._table[tp].nothing_visible = (committed[tp], latest[tp])

    def close(self) -> None:
        """Close the consumer (a poll makes a new one)."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


async def _on_a_daemon_thread(function: Callable[[], _T]) -> _T:
    """``function()`` on a daemon thread of its own: a call stuck on a broker that is gone (each has a
    10 s timeout) must not hold the process past its stop, as the event loop's executor would."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.cancelled():
            outcome()

    def run() -> None:
        try:
            outcome = functools.partial(done.set_result, function())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            outcome = functools.partial(done.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="lag monitor", daemon=True).start()
    return await done


def _consumer(config: Mapping[str, str | int | float | bool], group: str) -> KafkaConsumer:
    """A consumer named after ``group`` that never subscribes (so never joins it) and never commits."""
    return KafkaConsumer(
        {
            **config,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        },
        logger=log,
    )


def _unreadable(error: KafkaError, topic: str, principal: str) -> KafkaError:
    """The error of a topic whose lag cannot be read, naming it and what to do, in one line."""
    if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        fix = f"grant {principal} Describe and Read on {topic}: run `dancu-bus topics apply`"
    else:
        fix = f"see that its partitions have leaders (`kafka-topics.sh --describe --topic {topic}`)"
    return KafkaError(error.code(), f"topic {topic}: {error.str()}: {fix}")


def _visible(
    consumer: KafkaConsumer,
    partitions: list[Key],
    committed: Mapping[Key, int],
    principal: str = "its principal",
) -> set[Key]:
    """The partitions where a read_committed read from the committed offset gets a record."""
    found: set[Key] = set()
    ended: set[Key] = set()
    consumer.assign([TopicPartition(t, p, committed[t, p]) for t, p in partitions])
    try:
        deadline = time.monotonic() + _TIMEOUT_S
        while len(found | ended) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(len(partitions), 0.5):
                key = (message.topic() or "", message.partition() or 0)
                error = message.error()
                if error is None:
                    found.add(key)
                elif error.code() == KafkaError._PARTITION_EOF:
                    ended.add(key)
                elif error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    # Not lag: the poll fails and says why (the principal needs Read on the topic).
                    raise KafkaException(_unreadable(error, key[0], principal))
    finally:
        consumer.unassign()
    # A partition that neither gave a record nor reached its end in time counts as visible lag.
    return found | (set(partitions) - ended)
