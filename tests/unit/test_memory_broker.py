"""The in-memory broker keeps the Kafka rules the services rely on: transactions, fencing, groups, clocks."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition as ConfluentTopicPartition

from dancu_bus.testing import InMemoryBroker, MemoryClients, MemoryConnector
from dancu_bus.testing._broker import CREATE_TIME, LOG_APPEND_TIME, Fenced
from dancu_bus.transport import Outgoing, TopicPartition
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


def test_a_group_hands_partitions_over_and_refuses_offsets_of_a_generation_that_is_over() -> None:
    """Two members split a topic; offsets sent with the metadata of the generation before are refused."""
    broker = broker_with(("req.a", 4), ("out", 1))
    clients = MemoryClients(broker)
    first = clients.group_consumer("g", 10, 10_000)
    revoked: list[list[int]] = []
    first.subscribe([r"^req\."], on_revoke=lambda _, tps: revoked.append([tp.partition for tp in tps]))
    first.consume(1, 0)
    stale = first.consumer_group_metadata()
    second = clients.group_consumer("g", 10, 10_000)
    second.subscribe([r"^req\."])
    second.consume(1, 0)
    first.consume(1, 0)
    owned = {tp.partition for tp in first.assignment()}, {tp.partition for tp in second.assignment()}
    assert owned[0] | owned[1] == {0, 1, 2, 3} and not owned[0] & owned[1]
    assert revoked == [[0, 1, 2, 3]]
    producer = clients.transactional_producer("g.one", 30_000)
    producer.init_transactions(1)
    producer.begin_transaction()
    producer.produce("out", b"answer", b"k")
    offsets = [ConfluentTopicPartition("req.a", 0, 7)]
    with pytest.raises(KafkaException) as refused:
        producer.send_offsets_to_transaction(offsets, stale, 1)
    assert refused.value.args[0].txn_requires_abort()
    producer.abort_transaction(1)
    producer.begin_transaction()
    producer.produce("out", b"answer", b"k")
    producer.send_offsets_to_transaction(offsets, first.consumer_group_metadata(), 1)
    producer.commit_transaction(1)
    assert values(broker, TopicPartition("out", 0)) == [b"answer"]
    assert broker.committed("g", TopicPartition("req.a", 0)) == 7


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
