"""The in-memory broker keeps the Kafka rules the services rely on: transactions, fencing, groups, clocks."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition as ConfluentTopicPartition

from dancu_bus.testing import InMemoryBroker, MemoryClients, MemoryConnector
from dancu_bus.testing._broker import CREATE_TIME, LOG_APPEND_TIME, Fenced
from dancu_bus.transport import Outgoing, TopicPartition
from dancu_bus.transport.assignor import lane_assignor
from dancu_bus.transport.writers import FencedWriters

TP = TopicPartition("t", 0)


def broker_with(*topics: tuple[str, int]) -> InMemoryBroker:
    """A broker holding these (name, partitions) topics."""
    broker = InMemoryBroker()
    for name, partitions in topics:
        broker.create_topic(name, partitions)
    return broker


def values(broker: InMemoryBroker, tp: TopicPartition = TP) -> list[bytes | None]:
    """What a read_committed reader gets of ``tp`` from its start."""
    records, _ = broker.fetch(tp, 0, 100, committed_only=True)
    return [r.value for r in records]


def test_read_committed_stops_at_an_open_transaction_and_never_sees_an_aborted_one() -> None:
    """Records of an open transaction hold readers back; aborted ones are skipped, committed ones read."""
    broker = broker_with(("t", 1))
    broker.init_transactions("txn")
    aborted = broker.begin("txn", 0)
    broker.append(TP, [(None, b"aborted", (), None)], aborted)
    broker.append(TP, [(None, b"plain", (), None)])
    assert values(broker) == [] and broker.end_offset(TP, committed_only=True) == 0
    broker.end_transaction(aborted, commit=False)
    committed = broker.begin("txn", 0)
    broker.append(TP, [(None, b"committed", (), None)], committed)
    broker.end_transaction(committed, commit=True)
    assert values(broker) == [b"plain", b"committed"]
    # Each transaction's marker takes an offset, and a reader's position passes it.
    assert (
        broker.fetch(TP, 0, 100, committed_only=True)[1] == broker.end_offset(TP, committed_only=False) == 5
    )


def test_initialising_a_transactional_id_aborts_and_fences_its_previous_holder() -> None:
    """A new holder's init aborts the old one's open transaction; the old one can neither write nor begin."""
    broker = broker_with(("t", 1))
    broker.init_transactions("txn")
    zombie = broker.begin("txn", 0)
    broker.append(TP, [(None, b"zombie", (), None)], zombie)
    assert broker.init_transactions("txn") == 1
    with pytest.raises(Fenced):
        broker.append(TP, [(None, b"late", (), None)], zombie)
    with pytest.raises(Fenced):
        broker.begin("txn", 0)
    assert values(broker) == []


def test_offsets_sent_to_a_transaction_commit_only_with_it() -> None:
    """A group's offsets in an aborted transaction are not committed; in a committed one they are."""
    broker = broker_with(("t", 1))
    broker.init_transactions("txn")
    for commit, offset in ((False, 3), (True, 7)):
        transaction = broker.begin("txn", 0)
        broker.add_offsets(transaction, "group", {TP: offset})
        broker.end_transaction(transaction, commit=commit)
        assert broker.committed("group", TP) == (7 if commit else None)


@pytest.mark.parametrize(("log_append_time", "kind"), [(True, LOG_APPEND_TIME), (False, CREATE_TIME)])
def test_a_topic_keeps_the_producers_time_unless_it_stamps_its_own(log_append_time: bool, kind: int) -> None:
    """LogAppendTime topics replace the producer's timestamp with the broker's; others keep it."""
    broker = InMemoryBroker()
    broker.create_topic("t", 1, log_append_time=log_append_time)
    broker.append(TP, [(None, b"v", (), 1_000)])
    (record,) = broker.committed_records("t")
    assert record.timestamp_type == kind
    assert (record.timestamp_ms == 1_000) is not log_append_time


async def test_a_group_deals_lanes_with_its_assignor_and_hands_them_over_when_a_member_leaves() -> None:
    """Two members split the lanes by the lane assignor; when one stops, the other owns every partition."""
    broker = broker_with(("req.a", 4))
    assignor = lane_assignor(lambda topic, partition: partition % 2, 2)
    clients = MemoryClients(broker)
    first, second = (clients.consumer("g", 10, assignors=(assignor,)) for _ in range(2))
    revoked: list[set[Any]] = []
    first.subscribe(pattern=r"^req\.", listener=_Listener(revoked))
    second.subscribe(pattern=r"^req\.", listener=_Listener([]))
    await first.getmany(timeout_ms=0)
    await second.getmany(timeout_ms=0)
    assert {tp.partition for tp in first.assignment()} | {tp.partition for tp in second.assignment()} == {
        0,
        1,
        2,
        3,
    }
    assert {tp.partition % 2 for tp in first.assignment()} == {0}
    await second.stop()
    await first.getmany(timeout_ms=0)
    assert {tp.partition for tp in first.assignment()} == {0, 1, 2, 3}
    assert revoked[-1] == {TopicPartition("req.a", 0), TopicPartition("req.a", 2)}


async def test_fenced_writers_commit_records_and_offsets_together() -> None:
    """The services' FencedWriters write a batch and its group offsets in one transaction on the broker."""
    broker = broker_with(("out", 2))
    writers = FencedWriters(MemoryClients(broker), "g", lambda key: f"g.out.{key}")
    await writers.open(0)
    await writers.write(0, [Outgoing("out", b"k", b"v", partition=1)], {TopicPartition("in", 0): 5})
    assert values(broker, TopicPartition("out", 1)) == [b"v"]
    assert broker.committed("g", TopicPartition("in", 0)) == 5
    await writers.close()


def test_the_sdks_clients_produce_by_key_and_read_from_where_they_are_assigned() -> None:
    """The SDK producer puts a record on its key's partition; its consumer reads from the offset given."""
    broker = broker_with(("res", 3))
    connector = MemoryConnector(broker)
    producer, consumer = connector.producer({}), connector.consumer({"isolation.level": "read_committed"})
    producer.produce("res", b"before", key=b"k")
    (partition,) = {r.partition for r in broker.committed_records("res")}
    _, high = consumer.get_watermark_offsets(ConfluentTopicPartition("res", partition), timeout=1)
    consumer.assign([ConfluentTopicPartition("res", p, high if p == partition else 0) for p in range(3)])
    producer.produce("res", b"after", key=b"k")
    assert [m.value() for m in consumer.consume(num_messages=10, timeout=1)] == [b"after"]


def test_the_sdks_producer_reports_a_record_for_a_missing_topic_undelivered() -> None:
    """A record for a topic that does not exist is reported through its delivery callback, by key."""
    connector = MemoryConnector(InMemoryBroker())
    producer = connector.producer({})
    reports: list[tuple[Any, bytes | None]] = []
    producer.produce(
        "nowhere", b"v", key=b"id-1", on_delivery=lambda err, msg: reports.append((err, msg.key()))
    )
    producer.flush(1)
    assert [(err is not None, key) for err, key in reports] == [(True, b"id-1")]


class _Listener:
    """Remembers what each rebalance revoked."""

    def __init__(self, revoked: list[set[Any]]) -> None:
        self._revoked = revoked

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        self._revoked.append(set(revoked))

    async def on_partitions_assigned(self, assigned: set[Any]) -> None:
        """Nothing to do on assignment."""
