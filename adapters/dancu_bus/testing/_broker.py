"""The in-memory broker's state: partitioned logs, transactions, consumer groups. Thread-safe, no I/O.

Kafka's rules that the services rely on, and nothing else:

- every record and every transaction marker takes an offset; a topic either keeps its producers'
  timestamps or stamps records with its own clock (LogAppendTime, ``message.timestamp.type``);
- a transaction's records are in the log as soon as they are sent, but a read_committed reader
  stops at the partition's last stable offset (the first record of a transaction still open) and
  never returns records of an aborted one; offsets sent to a transaction commit with it;
- initialising a transactional id aborts the open transaction of its previous holder and fences
  every older producer of that id;
- offsets sent to a transaction with a member's group metadata (KIP-447) are refused once the
  group's generation moved past the member's, or the member left;
- a consumer group gives each partition of the topics its members subscribe to to one member, with
  the members' assignor when they name one; every join, leave or new matching topic starts a new
  generation, which each member takes up at its next fetch.

Everything is guarded by one lock; waiting readers are woken on every change (``Changes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dancu_bus.errors import BrokerError
from dancu_bus.transport import TopicPartition

__all__ = [
    "CREATE_TIME",
    "LOG_APPEND_TIME",
    "Changes",
    "Fenced",
    "InMemoryBroker",
    "StaleMember",
    "StoredRecord",
    "Transaction",
    "UnknownTopic",
]

CREATE_TIME = 0
LOG_APPEND_TIME = 1
Header = tuple[str, bytes]


class UnknownTopic(BrokerError):
    """The topic does not exist (the broker does not create topics on use)."""


class Fenced(BrokerError):
    """A newer producer initialised this transactional id: this one may no longer write."""


class StaleMember(BrokerError):
    """Offsets sent with the group metadata of a generation that is over, or of a member that left."""


@dataclass(slots=True)
class Transaction:
    """One transaction of a transactional id: the partitions it wrote and the offsets it carries."""

    transactional_id: str
    epoch: int
    state: Literal["open", "committed", "aborted"] = "open"
    firsts: dict[TopicPartition, int] = field(default_factory=dict)
    offsets: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record in a partition's log; ``control`` marks a transaction's commit or abort marker."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    transaction: Transaction | None = None
    control: bool = False

    def visible(self, committed_only: bool) -> bool:
        """Whether a reader gets this record: data, and not of an aborted (or, read_committed, open) one."""
        if self.control:
            return False
        if self.transaction is None:
            return True
        state = self.transaction.state
        return state == "committed" or (not committed_only and state == "open")


@dataclass(slots=True)
class _Partition:
    log: list[StoredRecord] = field(default_factory=list)
    open: dict[int, int] = field(default_factory=dict)  # id(transaction) → its first offset here

    def stable_end(self) -> int:
        """The last stable offset: where read_committed readers stop."""
        return min(self.open.values(), default=len(self.log))


@dataclass(slots=True)
class _Member:
    pattern: re.Pattern[str]
    assignor: type[Any] | None


@dataclass(slots=True)
class _Group:
    members: dict[str, _Member] = field(default_factory=dict)
    generation: int = 0
    assignments: dict[str, frozenset[TopicPartition]] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)


class Changes:
    """Wakes waiting readers, threads and event loops alike, whenever the broker's state changes."""

    def __init__(self, lock: threading.RLock) -> None:
        self._condition = threading.Condition(lock)
        self._version = 0
        self._wakers: set[Callable[[], None]] = set()

    @property
    def version(self) -> int:
        """Increases with every change; read under the broker's lock."""
        return self._version

    def changed(self) -> None:
        """Called under the lock after a change."""
        self._version += 1
        self._condition.notify_all()
        for wake in list(self._wakers):
            wake()

    def wait(self, seen: int, timeout_s: float) -> None:
        """Block until the version moves past ``seen`` or the timeout passes."""
        with self._condition:
            self._condition.wait_for(lambda: self._version != seen, timeout=max(0.0, timeout_s))

    async def wait_async(self, seen: int, timeout_s: float) -> None:
        """``wait`` for asyncio code: the loop keeps running meanwhile."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

        with self._condition:
            if self._version != seen:
                return
            self._wakers.add(wake)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=max(0.0, timeout_s))
        finally:
            with self._condition:
                self._wakers.discard(wake)


class _Cluster:
    """What an aiokafka assignor asks of the cluster's metadata."""

    def __init__(self, partitions: Mapping[str, int]) -> None:
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        count = self._partitions.get(topic)
        return set(range(count)) if count else None


class InMemoryBroker:
    """One broker, in this process: topics, their logs, transactional ids and consumer groups."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.changes = Changes(self._lock)
        self._topics: dict[str, list[_Partition]] = {}
        self._log_append_time: set[str] = set()
        self._epochs: dict[str, int] = {}
        self._open: dict[str, Transaction] = {}
        self._groups: dict[str, _Group] = {}
        self._member_ids = itertools.count(1)

    # Topics and logs

    def create_topic(self, name: str, partitions: int, *, log_append_time: bool = False) -> None:
        """Create ``name``; the groups whose members' patterns match it rebalance."""
        with self._lock:
            if name in self._topics:
                raise BrokerError(f"topic {name} already exists")
            self._topics[name] = [_Partition() for _ in range(partitions)]
            if log_append_time:
                self._log_append_time.add(name)
            for group in self._groups.values():
                if any(m.pattern.match(name) for m in group.members.values()):
                    self._rebalance(group)
            self.changes.changed()

    def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has; UnknownTopic if none."""
        with self._lock:
            return len(self._partitions_of(topic))

    def topics(self) -> dict[str, int]:
        """Every topic and its partition count."""
        with self._lock:
            return {name: len(parts) for name, parts in self._topics.items()}

    def append(
        self,
        tp: TopicPartition,
        records: Sequence[tuple[bytes | None, bytes | None, Sequence[Header], int | None]],
        transaction: Transaction | None = None,
    ) -> int:
        """Append (key, value, headers, timestamp) records to ``tp``; the offset of the first."""
        with self._lock:
            partition = self._partition(tp)
            if transaction is not None:
                self._check_open(transaction)
                first = partition.open.setdefault(id(transaction), len(partition.log))
                transaction.firsts.setdefault(tp, first)
            base = len(partition.log)
            now = int(time.time() * 1000)
            broker_time = tp.topic in self._log_append_time
            for key, value, headers, timestamp in records:
                partition.log.append(
                    StoredRecord(
                        tp.topic,
                        tp.partition,
                        len(partition.log),
                        now if broker_time or timestamp is None else timestamp,
                        LOG_APPEND_TIME if broker_time else CREATE_TIME,
                        key,
                        value,
                        tuple(headers),
                        transaction,
                    )
                )
            self.changes.changed()
            return base

    def fetch(
        self, tp: TopicPartition, position: int, max_records: int, *, committed_only: bool
    ) -> tuple[list[StoredRecord], int]:
        """The records a reader at ``position`` gets (at most ``max_records``), and its next position.

        The position passes markers and aborted records; read_committed stops at the last stable offset.
        """
        with self._lock:
            partition = self._partition(tp)
            end = partition.stable_end() if committed_only else len(partition.log)
            found: list[StoredRecord] = []
            while position < end and len(found) < max_records:
                record = partition.log[position]
                if record.visible(committed_only):
                    found.append(record)
                position += 1
            return found, position

    def end_offset(self, tp: TopicPartition, *, committed_only: bool) -> int:
        """The high watermark, or for read_committed readers the last stable offset."""
        with self._lock:
            partition = self._partition(tp)
            return partition.stable_end() if committed_only else len(partition.log)

    def committed_records(self, topic: str) -> list[StoredRecord]:
        """Every committed data record of ``topic``, partition by partition, in offset order."""
        with self._lock:
            return [
                record
                for partition in self._partitions_of(topic)
                for record in partition.log[: partition.stable_end()]
                if record.visible(committed_only=True)
            ]

    # Transactions

    def init_transactions(self, transactional_id: str) -> int:
        """A new epoch of ``transactional_id``: its open transaction is aborted, older producers fenced."""
        with self._lock:
            earlier = self._open.pop(transactional_id, None)
            if earlier is not None:
                self._end(earlier, "aborted")
            epoch = self._epochs.get(transactional_id, -1) + 1
            self._epochs[transactional_id] = epoch
            self.changes.changed()
            return epoch

    def begin(self, transactional_id: str, epoch: int) -> Transaction:
        """Open a transaction; Fenced if a newer producer holds the id."""
        with self._lock:
            self._check_epoch(transactional_id, epoch)
            if transactional_id in self._open:
                raise BrokerError(f"transactional id {transactional_id} already has an open transaction")
            transaction = Transaction(transactional_id, epoch)
            self._open[transactional_id] = transaction
            return transaction

    def add_offsets(
        self,
        transaction: Transaction,
        group_id: str,
        offsets: Mapping[TopicPartition, int],
        member: tuple[str, int] | None = None,
    ) -> None:
        """Offsets of ``group_id`` that commit with ``transaction``; with ``member`` (its id and
        generation), only while that member is in the group's current generation (KIP-447)."""
        with self._lock:
            self._check_open(transaction)
            if member is not None:
                group, (member_id, generation) = self._group(group_id), member
                if member_id not in group.members or generation != group.generation:
                    raise StaleMember(f"{member_id} of generation {generation} of {group_id} is out of date")
            transaction.offsets.setdefault(group_id, {}).update(offsets)

    def end_transaction(self, transaction: Transaction, commit: bool) -> None:
        """Commit or abort: a marker in every partition written, the offsets committed with a commit."""
        with self._lock:
            self._check_open(transaction)
            del self._open[transaction.transactional_id]
            self._end(transaction, "committed" if commit else "aborted")
            self.changes.changed()

    def _end(self, transaction: Transaction, state: Literal["committed", "aborted"]) -> None:
        transaction.state = state
        for tp in transaction.firsts:
            partition = self._partition(tp)
            partition.open.pop(id(transaction), None)
            marker = StoredRecord(
                tp.topic, tp.partition, len(partition.log), int(time.time() * 1000), CREATE_TIME,
                None, None, (), transaction, control=True,
            )  # fmt: skip
            partition.log.append(marker)
        if state == "committed":
            for group_id, offsets in transaction.offsets.items():
                self._group(group_id).offsets.update(offsets)

    def _check_epoch(self, transactional_id: str, epoch: int) -> None:
        if self._epochs.get(transactional_id) != epoch:
            raise Fenced(
                f"producer of {transactional_id} (epoch {epoch}) was fenced by a newer one", retriable=False
            )

    def _check_open(self, transaction: Transaction) -> None:
        self._check_epoch(transaction.transactional_id, transaction.epoch)
        if self._open.get(transaction.transactional_id) is not transaction:
            raise BrokerError(f"the transaction of {transaction.transactional_id} is not open")

    # Consumer groups

    def join(self, group_id: str, pattern: str, assignor: type[Any] | None) -> str:
        """A new member of ``group_id`` subscribed to ``pattern``; the group rebalances."""
        with self._lock:
            member = f"member-{next(self._member_ids)}"
            group = self._group(group_id)
            group.members[member] = _Member(re.compile(pattern), assignor)
            self._rebalance(group)
            self.changes.changed()
            return member

    def leave(self, group_id: str, member: str) -> None:
        """``member`` leaves; the others rebalance."""
        with self._lock:
            group = self._group(group_id)
            if group.members.pop(member, None) is not None:
                self._rebalance(group)
                self.changes.changed()

    def assignment(self, group_id: str, member: str) -> tuple[int, frozenset[TopicPartition]]:
        """The group's generation and what it gives ``member`` in it."""
        with self._lock:
            group = self._group(group_id)
            return group.generation, group.assignments.get(member, frozenset())

    def commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit offsets of ``group_id`` outside any transaction."""
        with self._lock:
            self._group(group_id).offsets.update(offsets)

    def committed(self, group_id: str, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp``, or None."""
        with self._lock:
            return self._group(group_id).offsets.get(tp)

    def _rebalance(self, group: _Group) -> None:
        group.generation += 1
        counts = {name: len(parts) for name, parts in self._topics.items()}
        subscriptions = {
            member: sorted(t for t in counts if spec.pattern.match(t))
            for member, spec in group.members.items()
        }
        assignors = {spec.assignor for spec in group.members.values()}
        if len(assignors) > 1:
            raise BrokerError("the members of a group name different assignors")
        assignor = next(iter(assignors), None)
        plan = _assign(assignor, subscriptions, counts)
        group.assignments = {member: frozenset(plan.get(member, ())) for member in group.members}

    def _group(self, group_id: str) -> _Group:
        return self._groups.setdefault(group_id, _Group())

    def _partitions_of(self, topic: str) -> list[_Partition]:
        partitions = self._topics.get(topic)
        if partitions is None:
            raise UnknownTopic(f"topic {topic} does not exist")
        return partitions

    def _partition(self, tp: TopicPartition) -> _Partition:
        partitions = self._partitions_of(tp.topic)
        if not 0 <= tp.partition < len(partitions):
            raise UnknownTopic(f"topic {tp.topic} has no partition {tp.partition}")
        return partitions[tp.partition]


def _assign(
    assignor: type[Any] | None, subscriptions: Mapping[str, Sequence[str]], counts: Mapping[str, int]
) -> dict[str, list[TopicPartition]]:
    """Per member its partitions: by the members' aiokafka assignor, or dealt round robin."""
    if not subscriptions:
        return {}
    if assignor is not None:
        metadata = {member: assignor.metadata(topics) for member, topics in subscriptions.items()}
        plan = assignor.assign(_Cluster(counts), metadata)
        return {
            member: [TopicPartition(topic, p) for topic, numbers in assigned.assignment for p in numbers]
            for member, assigned in plan.items()
        }
    members = sorted(subscriptions)
    dealt: dict[str, list[TopicPartition]] = {member: [] for member in members}
    wanted = sorted(
        {TopicPartition(t, p) for topics in subscriptions.values() for t in topics for p in range(counts[t])}
    )
    for rank, tp in enumerate(wanted):
        takers = [m for m in members if tp.topic in subscriptions[m]]
        dealt[takers[rank % len(takers)]].append(tp)
    return dealt
