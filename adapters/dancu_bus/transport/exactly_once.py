"""Exactly-once batches on librdkafka: one transactional producer per process, offsets fenced by the group.

A batch's answers and its consumed offsets commit in one transaction, and the offsets travel with the
consumer's group metadata (KIP-447, ``send_offsets_to_transaction(offsets, consumer_group_metadata())``).
The group coordinator refuses them from a member whose generation is over, so a resolver the group gave
up on (frozen past its session timeout, cut off from the coordinator) cannot commit answers for
partitions another resolver now owns: its transaction aborts, and the new owner, whose offset fetch
waits for pending transactional offsets, starts where the last commit left off. No fixed lanes, no
custom assignor: any number of resolvers share the partitions by cooperative-sticky assignment.

librdkafka's calls block, so they run on one thread of the worker's own (``_Librdkafka``), in order:
a rebalance callback therefore only runs inside ``consume``, never while a transaction is open, and
the partitions it takes away are never written again from here until they are assigned anew.
Why not aiokafka: it sends offsets without the group's generation (TxnOffsetCommit v0), which needed a
transactional id per lane of partitions; librdkafka's one producer is 2× faster at half the CPU
(``bench/transport.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
)
from confluent_kafka import TopicPartition as KafkaPartition

from dancu_bus.errors import BrokerError
from dancu_bus.transport.clients import KafkaClients
from dancu_bus.transport.consuming import WorkerEvents, WorkerOptions, handle_with_retries, sleep_unless
from dancu_bus.transport.quarantine import Quarantine
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition, Unreadable

__all__ = ["BatchHandler", "TransactionalWorker", "Transactions", "running_transactional_worker"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
# Errors a consumed "message" may carry that say nothing about a record: none of them is a record.
# How long one of librdkafka's blocking calls may take (each is given this timeout), and how much longer
# one is waited for before the clients count as stuck (``_Librdkafka.call``).
_CALL_TIMEOUT_S = 10.0
_GRACE_S = 5.0
_NOT_RECORDS = frozenset({KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART})


@dataclass(frozen=True, slots=True)
class Transactions:
    """The worker's transactional id, and how long the broker lets one of its transactions stay open."""

    transactional_id: str
    timeout_s: float = 30.0
    # A member silent this long is out of the group; its partitions go to the others.
    session_timeout_s: float = 10.0


class BatchHandler(Protocol):
    """What a service does with a batch when every input record gets exactly one output record."""

    async def handle(self, batch: Sequence[Incoming]) -> Sequence[Outgoing]:
        """One record per input record (and its ``also``), in order; raise a retriable DancuError to retry."""

    def set_aside(self, record: Incoming, detail: str) -> Outgoing:
        """The record (a dead letter) produced instead of an answer when handling ``record`` alone failed."""

    def committed(self) -> None:
        """What the last ``handle`` returned is committed (an aborted batch is handled again instead)."""


class _Refused(Exception):
    """The broker refused a record of the transaction as too large: writing it again fails again."""


class _Librdkafka:
    """The consumer and the producer, called on one thread of their own, one call at a time."""

    def __init__(
        self, consumer: Consumer, producer: Producer, patience_s: float, events: WorkerEvents
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.events = events
        self._patience_s = patience_s
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        # A daemon thread, unlike an executor's: a call stuck on a broker that does not answer must not
        # keep the process from exiting once it was told to stop.
        threading.Thread(target=self._serve, name="librdkafka", daemon=True).start()
        self.owned: set[TopicPartition] = set()
        # Calls put on the thread (counted by the event loop) and returned (counted by the thread).
        self._put = self._returned = 0
        self._stuck = False

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            call()

    async def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)`` on the clients' thread, after the calls before it.

        librdkafka's transactional calls take a timeout, but ``send_offsets_to_transaction`` does not
        always keep it when the group coordinator went away (librdkafka issue 5456, seen here after a
        broker restart): a call that has not returned ``_GRACE_S`` after its timeout fails these
        clients, and the worker starts again with new ones (the new producer fences this one).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[_T] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            if not done.cancelled():
                outcome()

        def run() -> None:
            try:
                outcome = functools.partial(done.set_result, function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                outcome = functools.partial(done.set_exception, exc)
            self._returned += 1
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(settle, outcome)

        self._put += 1
        self._calls.put(run)
        try:
            return await asyncio.wait_for(asyncio.shield(done), self._patience_s)
        except TimeoutError:
            self._stuck = True
            name = getattr(function, "__name__", "a call")
            raise BrokerError(
                f"librdkafka's {name} did not return within {self._patience_s:g} s: starting again"
                " with new Kafka clients"
            ) from None

    def assigned(self, _: Consumer, partitions: list[KafkaPartition]) -> None:
        """Cooperative assignment: these partitions are added to what this member owns."""
        self.owned |= {TopicPartition(tp.topic, tp.partition) for tp in partitions}
        log.info("assigned %d partitions (%d owned)", len(partitions), len(self.owned))
        self.events.rebalanced(len(partitions), 0, len(self.owned))

    def revoked(self, _: Consumer, partitions: list[KafkaPartition]) -> None:
        """Taken away (or lost): nothing of theirs is in flight, as callbacks run between transactions."""
        self.owned -= {TopicPartition(tp.topic, tp.partition) for tp in partitions}
        log.info("revoked %d partitions (%d owned)", len(partitions), len(self.owned))
        self.events.rebalanced(0, len(partitions), len(self.owned))

    async def close(self) -> None:
        """Leave the group (on the clients' thread, after any call in progress) and let the thread go."""
        if self._stuck or self._put != self._returned:
            # The consumer is not the stuck one (the producer is): it leaves the group from a thread of
            # its own, so the partitions go to the next worker at once; the stuck thread is left behind.
            threading.Thread(target=self.consumer.close, name="librdkafka-close", daemon=True).start()
            self._calls.put(None)
            return
        try:
            await self.call(self.consumer.close)
        finally:
            self._calls.put(None)


class TransactionalWorker:
    """Runs a BatchHandler over a pattern subscription until stopped; one transaction per batch."""

    def __init__(
        self,
        clients: _Librdkafka,
        handler: BatchHandler,
        options: WorkerOptions,
        quarantine: Quarantine,
    ) -> None:
        self._kafka = clients
        self._handler = handler
        self._options = options
        self._quarantine = quarantine
        self._aborted = 0  # transactions aborted in a row: the next attempt waits longer

    @property
    def assigned(self) -> bool:
        """Whether this worker owns at least one partition now."""
        return bool(self._kafka.owned)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is answered and committed first."""
        kafka = self._kafka
        await kafka.call(kafka.producer.init_transactions, _CALL_TIMEOUT_S)
        kafka.consumer.subscribe(
            [self._options.pattern], on_assign=kafka.assigned, on_revoke=kafka.revoked, on_lost=kafka.revoked
        )
        while not stop.is_set():
            batch = await kafka.call(self._poll)
            if batch:
                for part in self._quarantine.split(batch):
                    await self._answer(part, stop)

    def _poll(self) -> list[Incoming]:
        """The records fetched within the poll timeout, of partitions owned when it returns."""
        consumer, most = self._kafka.consumer, self._options.max_records
        # librdkafka's consume(n, timeout) waits for n records or the whole timeout: at a steady rate,
        # every batch would wait the timeout out. What is fetched already, else the first to come.
        messages = consumer.consume(most, 0)
        if not messages:
            messages = consumer.consume(1, self._options.poll_timeout_ms / 1000)
            if messages and most > 1:
                messages += consumer.consume(most - 1, self._options.linger_ms / 1000)
        batch = [record for m in messages if (record := _incoming(m)) is not None]
        return [r for r in batch if r.tp in self._kafka.owned]

    async def _answer(self, records: Sequence[Incoming], stop: asyncio.Event) -> None:
        """Handle ``records`` and commit their answers with their offsets, or rewind to the last commit."""
        self._quarantine.hold(records)
        outgoing = await self._outputs(records, stop)
        self._quarantine.release()
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            offsets[record.tp] = max(offsets.get(record.tp, 0), record.offset + 1)
        try:
            committed = await self._transact(outgoing, offsets)
        except _Refused as exc:
            # The quarantine takes these records apart: the one whose answer is too large is set aside.
            self._quarantine.hold(records)
            raise BrokerError(f"the broker refused a record of this batch as too large: {exc}") from exc
        if committed:
            self._aborted = 0
            return
        await self._kafka.call(self._rewind)
        # What aborted it (a rebalance, the broker restarting) passes; trying again at once would spin.
        delay = min(self._options.retry_initial_s * 2**self._aborted, self._options.retry_max_s)
        self._aborted += 1
        await sleep_unless(stop, delay)

    async def _outputs(self, records: Sequence[Incoming], stop: asyncio.Event) -> Sequence[Outgoing]:
        """The handler's answers, or the dead letter of a record that already failed alone."""
        detail = self._quarantine.poisoned(records[0]) if len(records) == 1 else None
        if detail is not None:
            self._options.events.set_aside()
            return [self._handler.set_aside(records[0], detail)]
        self._options.events.handled(len(records))
        return await handle_with_retries(self._handler, records, stop, self._options)

    async def _transact(self, outgoing: Sequence[Outgoing], offsets: dict[TopicPartition, int]) -> bool:
        """One transaction: False when it aborted (the batch is read again from the last commit).

        Its steps are calls of their own, each watched for its own timeout (``_Librdkafka.call``);
        nothing else is called on the clients' thread between them, so no rebalance comes in between.
        """
        kafka, refused = self._kafka, list[str]()
        try:
            await kafka.call(self._send, outgoing, offsets, refused)
            started = time.monotonic()
            await kafka.call(kafka.producer.commit_transaction, _CALL_TIMEOUT_S)
        except KafkaException as exc:
            return await kafka.call(self._failed, exc, refused)
        self._options.events.committed(time.monotonic() - started)
        self._handler.committed()
        return True

    def _send(
        self, outgoing: Sequence[Outgoing], offsets: dict[TopicPartition, int], refused: list[str]
    ) -> None:
        """On the clients' thread: begin, produce the answers, add the offsets with the group's metadata."""
        producer = self._kafka.producer

        def delivered(error: KafkaError | None, _: Message) -> None:
            if error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                refused.append(error.str())

        producer.begin_transaction()
        for answer in outgoing:
            for record in (answer, *answer.also):
                _produce(producer, record, delivered)
        positions = [KafkaPartition(tp.topic, tp.partition, offset) for tp, offset in offsets.items()]
        metadata = self._kafka.consumer.consumer_group_metadata()
        producer.send_offsets_to_transaction(positions, metadata, _CALL_TIMEOUT_S)

    def _failed(self, exc: KafkaException, refused: list[str]) -> bool:
        error: KafkaError = exc.args[0]
        events, cause = self._options.events, _abort_cause(error, refused)
        if cause == "fenced":
            events.was_fenced()
        if error.fatal() or not error.txn_requires_abort():
            # Fenced by a producer with our transactional id, or the transaction's state is unknown:
            # this producer is done; the worker is started again with a new one.
            events.aborted(cause)
            raise BrokerError(f"the transaction failed for good: {error.str()}", retriable=False) from exc
        log.warning("a transaction aborted, reading its records again: %s", error.str())
        self._kafka.producer.abort_transaction(_CALL_TIMEOUT_S)
        events.aborted(cause)
        if cause == "too_large":
            raise _Refused(refused[0] if refused else error.str())
        return False

    def _rewind(self) -> None:
        """On the clients' thread: every owned partition back to its committed offset."""
        consumer = self._kafka.consumer
        owned = [KafkaPartition(tp.topic, tp.partition) for tp in sorted(self._kafka.owned)]
        if not owned:
            return
        for tp in consumer.committed(owned, _CALL_TIMEOUT_S):
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
            try:
                consumer.seek(tp)
            except KafkaException as exc:
                # Not fetched yet: it starts from its committed offset anyway.
                log.debug("no rewind of %s [%d]: %s", tp.topic, tp.partition, exc)


# The group coordinator refusing a generation that is over (KIP-447), or a newer producer of our id.
_FENCED = frozenset(
    {
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.FENCED_INSTANCE_ID,
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    }
)
_TIMEOUTS = frozenset({KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT})


def _abort_cause(error: KafkaError, refused: Sequence[str]) -> str:
    """Why a transaction aborted, as one of ``WorkerEvents.aborted``'s closed set of causes."""
    code = error.code()
    if refused or code == KafkaError.MSG_SIZE_TOO_LARGE:
        return "too_large"
    if code in _FENCED:
        return "fenced"
    if code == KafkaError.REBALANCE_IN_PROGRESS:
        return "rebalance"
    return "timeout" if code in _TIMEOUTS else "broker"


def _produce(
    producer: Producer, record: Outgoing, delivered: Callable[[KafkaError | None, Message], None]
) -> None:
    """Queue ``record``, waiting for room while librdkafka's queue is full."""
    extra: dict[str, Any] = {} if record.partition is None else {"partition": record.partition}
    while True:
        try:
            producer.produce(
                record.topic,
                record.value,
                record.key,
                headers=list(record.headers),
                on_delivery=delivered,
                **extra,
            )
            return
        except BufferError:
            producer.poll(0.005)


def _incoming(message: Message) -> Incoming | None:
    """The plain record of a librdkafka message; a read error at an offset is an unreadable record."""
    error = message.error()
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if error is not None:
        if error.code() in _NOT_RECORDS or topic is None or partition is None or offset is None or offset < 0:
            log.warning("consumer: %s", error.str())
            return None
        # A record librdkafka could not unpack (a damaged batch): one dead letter, and the worker goes on.
        detail = Unreadable(offset, offset, error.str())
        return Incoming(topic, partition, offset, 0, None, None, (), unreadable=detail)
    kind, timestamp = message.timestamp()
    # librdkafka gives header values as bytes, or None for a header without one.
    headers = cast("list[tuple[str, bytes]]", message.headers() or [])
    return Incoming(
        topic=topic or "",
        partition=partition or 0,
        offset=offset or 0,
        timestamp_ms=timestamp,
        key=message.key(),
        value=message.value(),
        headers=tuple(headers),
        log_append_time=kind == TIMESTAMP_LOG_APPEND_TIME,
    )


@asynccontextmanager
async def running_transactional_worker(
    clients: KafkaClients,
    group_id: str,
    handler: BatchHandler,
    options: WorkerOptions,
    quarantine: Quarantine,
    transactions: Transactions,
) -> AsyncIterator[TransactionalWorker]:
    """A worker of ``group_id`` with its librdkafka clients, closed on the way out."""
    consumer = clients.group_consumer(
        group_id, options.max_records, session_timeout_ms=int(transactions.session_timeout_s * 1000)
    )
    try:
        producer = clients.transactional_producer(
            transactions.transactional_id, timeout_ms=int(transactions.timeout_s * 1000)
        )
    except BaseException:
        consumer.close()
        raise
    kafka = _Librdkafka(consumer, producer, _CALL_TIMEOUT_S + _GRACE_S, options.events)
    try:
        yield TransactionalWorker(kafka, handler, options, quarantine)
    finally:
        await kafka.close()
