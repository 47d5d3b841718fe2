"""What the exactly-once and fenced workers share when consuming: options, batches, rebalances, retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from dancu_bus.errors import DancuError
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition
from dancu_bus.transport.unreadable import unreadable_of

__all__ = [
    "NO_EVENTS",
    "Revocations",
    "WorkerEvents",
    "WorkerOptions",
    "handle_with_retries",
    "incoming",
    "next_batch",
    "sleep_unless",
]

log = logging.getLogger(__name__)

_LOG_APPEND_TIME = 1  # a record's timestamp_type: 0 the producer's time, 1 the broker's


class WorkerEvents(Protocol):
    """What a worker reports as it goes, for metrics (``dancu_bus.metrics.WorkerMetrics``)."""

    def handled(self, records: int) -> None:
        """A batch of ``records`` was handed to the handler."""

    def committed(self, seconds: float) -> None:
        """A batch's outputs and offsets committed; the commit took ``seconds``."""

    def aborted(self, cause: str) -> None:
        """A transaction aborted: ``rebalance``, ``fenced``, ``too_large``, ``timeout`` or ``broker``."""

    def was_fenced(self) -> None:
        """A newer producer or group generation fenced this worker."""

    def rebalanced(self, assigned: int, revoked: int, owned: int) -> None:
        """Partitions were assigned or revoked; the worker owns ``owned`` now."""

    def set_aside(self) -> None:
        """A record that failed alone was set aside (a dead letter) by the quarantine."""


class _NoEvents:
    def handled(self, records: int) -> None:
        pass

    def committed(self, seconds: float) -> None:
        pass

    def aborted(self, cause: str) -> None:
        pass

    def was_fenced(self) -> None:
        pass

    def rebalanced(self, assigned: int, revoked: int, owned: int) -> None:
        pass

    def set_aside(self) -> None:
        pass


NO_EVENTS: WorkerEvents = _NoEvents()
"""Events nobody listens to (tests, benchmarks)."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What to consume and how patiently."""

    pattern: str
    max_records: int = 500
    poll_timeout_ms: int = 200
    # Once a record came, how long the exactly-once worker waits for more to commit in one transaction.
    linger_ms: int = 0
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    # How often a worker that acts on time (the audit) is called without records when none arrive.
    tick_s: float = 1.0
    events: WorkerEvents = NO_EVENTS


class Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells ``revoked`` which partitions a rebalance took away, as plain TopicPartitions."""

    def __init__(
        self,
        revoked: Callable[[list[TopicPartition]], None],
        events: WorkerEvents = NO_EVENTS,
        owned: Callable[[], int] = lambda: 0,
    ) -> None:
        self._revoked = revoked
        self._events = events
        self._owned = owned

    async def on_partitions_revoked(self, revoked: Collection[Any]) -> None:
        self._revoked([TopicPartition(tp.topic, tp.partition) for tp in revoked])
        self._events.rebalanced(0, len(revoked), self._owned())

    async def on_partitions_assigned(self, assigned: Collection[Any]) -> None:
        log.info("assigned %d partitions", len(assigned))
        self._events.rebalanced(len(assigned), 0, self._owned())


class _Handles(Protocol):
    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]: ...


async def handle_with_retries(
    handler: _Handles, batch: Sequence[Incoming], stop: asyncio.Event, options: WorkerOptions
) -> Sequence[Outgoing]:
    """The handler's output for ``batch``, retried with backoff while it raises retriable errors.

    Once ``stop`` is set the error is raised instead: the batch stays uncommitted for the next start.
    """
    delay = options.retry_initial_s
    while True:
        try:
            return await handler.handle(batch)
        except DancuError as exc:
            if not exc.retriable or stop.is_set():
                raise
            log.warning("retrying a batch of %d in %.1f s: %s", len(batch), delay, exc)
        # The batch waits for the store to come back; a stop signal still ends the wait.
        await sleep_unless(stop, delay)
        delay = min(delay * 2, options.retry_max_s)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


async def next_batch(consumer: AIOKafkaConsumer, options: WorkerOptions) -> list[Incoming]:
    """The records fetched within the poll timeout (up to ``max_records``), in one list; maybe none."""
    fetched = await consumer.getmany(timeout_ms=options.poll_timeout_ms, max_records=options.max_records)
    return [incoming(m) for messages in fetched.values() for m in messages]


def incoming(message: Any) -> Incoming:
    """The plain record of an aiokafka message (or of the stand-in for a batch that could not be read)."""
    return Incoming(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
        log_append_time=message.timestamp_type == _LOG_APPEND_TIME,
        unreadable=unreadable_of(message),
    )
