"""KIP-447 on a real broker: offsets sent with a generation that is over are refused, and nothing commits."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as KafkaPartition
from confluent_kafka.admin import AdminClient, NewTopic

from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.admin.reader import read_to_end
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport import ClusterClients

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def topics(kafka_settings: KafkaSettings, unique_name: str, cleanup_topics: None) -> tuple[str, str]:
    """A fresh input topic of four partitions and an output topic, deleted afterwards."""
    admin = AdminClient({**client_config(kafka_settings)})
    names = (f"{unique_name}.in", f"{unique_name}.out")
    for future in admin.create_topics([NewTopic(name, 4, 1) for name in names]).values():
        future.result(30)
    return names


@pytest.fixture
def clients(kafka_settings: KafkaSettings) -> ClusterClients:
    """The resolver's clients of the test broker."""
    return ClusterClients(kafka_settings, ClusterWatch, client_config(kafka_settings))


@pytest.fixture
def members(clients: ClusterClients, topics: tuple[str, str], unique_prefix: str) -> Iterator[list[Consumer]]:
    """Two consumers of one group, not yet subscribed; closed afterwards."""
    made = [clients.group_consumer(f"{unique_prefix}.group", 10, 6_000) for _ in range(2)]
    yield made
    for member in made:
        member.close()


def poll_until(consumers: list[Consumer], owned: int, timeout_s: float = 60) -> None:
    """Poll every consumer until the last owns at least ``owned`` partitions (rebalances run in polls)."""
    deadline = time.monotonic() + timeout_s
    while len(consumers[-1].assignment()) < owned:
        assert time.monotonic() < deadline, "the group did not assign the partitions"
        for consumer in consumers:
            consumer.consume(1, 0.1)


def test_offsets_of_a_generation_that_is_over_are_refused_and_the_transaction_aborts(
    clients: ClusterClients, members: list[Consumer], topics: tuple[str, str], unique_prefix: str
) -> None:
    """A member's metadata from before a rebalance cannot commit; the current generation's can."""
    source, out = topics
    first, second = members
    first.subscribe([source])
    poll_until([first], 4)
    stale = first.consumer_group_metadata()
    second.subscribe([source])
    poll_until([first, second], 1)
    producer = clients.transactional_producer(f"{unique_prefix}.txn", 30_000)
    producer.init_transactions(30)
    owned = first.assignment()[0]
    offsets = [KafkaPartition(owned.topic, owned.partition, 99)]
    producer.begin_transaction()
    producer.produce(out, b"from a zombie", b"k")
    with pytest.raises(KafkaException) as refused:
        producer.send_offsets_to_transaction(offsets, stale, 30)
    assert refused.value.args[0].txn_requires_abort(), refused.value
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(out, b"from the owner", b"k")
    producer.send_offsets_to_transaction(offsets, first.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    kafka = clients.kafka
    assert [r.value for r in read_to_end(kafka, out, 30)] == [b"from the owner"]
    (committed,) = first.committed([KafkaPartition(owned.topic, owned.partition)], 30)
    assert committed.offset == 99
