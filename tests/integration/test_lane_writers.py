"""Fenced writers as lanes on a real broker: answers and offsets commit together; takeovers fence zombies."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError
from confluent_kafka.admin import AdminClient, NewTopic

from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.admin.reader import read_to_end
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport import AioKafkaClients, Lanes, Outgoing, TopicPartition, kafka_options, producer
from dancu_bus.transport.writers import FencedWriters

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def collected() -> Iterator[None]:
    """Collect each test's garbage at once: a fenced aiokafka producer leaves futures nobody awaits.

    Their tracebacks are logged when they are collected; later, deep in pytest's teardown, CPython
    3.11.7 can fail formatting them and leave ``ast.parse`` broken for the rest of the session.
    """
    yield
    gc.collect()


@pytest.fixture
def topics(kafka_settings: KafkaSettings, unique_name: str, cleanup_topics: None) -> tuple[str, str]:
    """A fresh input topic and output topic, deleted afterwards."""
    admin = AdminClient({**client_config(kafka_settings)})
    names = (f"{unique_name}.in", f"{unique_name}.out")
    for future in admin.create_topics([NewTopic(name, 2, 1) for name in names]).values():
        future.result(30)
    return names


async def committed(kafka: KafkaSettings, group: str, tp: TopicPartition) -> int | None:
    """The group's committed offset of ``tp``, as its next member would read it."""
    reader = AIOKafkaConsumer(**kafka_options(kafka), group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(KafkaTopicPartition(*tp))  # type: ignore[no-any-return]
    finally:
        await reader.stop()


async def test_answers_and_offsets_commit_together_and_a_takeover_aborts_the_zombie(
    kafka_settings: KafkaSettings, topics: tuple[str, str], unique_prefix: str
) -> None:
    """The zombie's open transaction (answer and offset) is aborted by the new writer; neither is seen."""
    source, out = topics
    tp, group, lanes = TopicPartition(source, 0), f"{unique_prefix}.group", Lanes(2, f"{unique_prefix}.txn")
    old, new = (
        FencedWriters(AioKafkaClients(kafka_settings, ClusterWatch), group, lanes.transactional_id)
        for _ in range(2)
    )
    zombie = producer(kafka_settings, transactional_id=lanes.transactional_id(0))
    try:
        await old.open(0)
        await old.write(0, [Outgoing(out, b"k", b"first")], {tp: 1})
        # A member the group gave up on, in the middle of its next batch: sent, not committed.
        await old.drop(0)
        await zombie.start()
        await zombie.begin_transaction()
        await zombie.send_and_wait(out, b"from a zombie", key=b"k")
        await zombie.send_offsets_to_transaction({KafkaTopicPartition(*tp): 99}, group)
        await new.open(0)
        assert await committed(kafka_settings, group, tp) == 1
        with pytest.raises(KafkaError):
            await zombie.commit_transaction()
        await new.write(0, [Outgoing(out, b"k", b"second")], {tp: 2})
    finally:
        await old.close()
        await new.close()
        await zombie.stop()
    assert sorted(r.value or b"" for r in read_to_end(kafka_settings, out, 30)) == [b"first", b"second"]
    assert await committed(kafka_settings, group, tp) == 2


async def test_a_new_writer_of_one_lane_leaves_the_other_lanes_alone(
    kafka_settings: KafkaSettings, topics: tuple[str, str], unique_prefix: str
) -> None:
    """Fencing is per lane: taking lane 1 over does not stop the writer of lane 0."""
    source, out = topics
    lanes = Lanes(2, f"{unique_prefix}.txn")
    first, second = (
        FencedWriters(
            AioKafkaClients(kafka_settings, ClusterWatch), f"{unique_prefix}.group", lanes.transactional_id
        )
        for _ in range(2)
    )
    try:
        await first.open(0)
        await first.open(1)
        await second.open(1)
        await first.write(0, [Outgoing(out, b"a", b"lane 0 still writes")], {TopicPartition(source, 0): 1})
        with pytest.raises(KafkaError):
            await first.write(1, [Outgoing(out, b"b", b"lane 1 is fenced")], {TopicPartition(source, 1): 1})
    finally:
        await first.close()
        await second.close()
    assert [r.value for r in read_to_end(kafka_settings, out, 30)] == [b"lane 0 still writes"]
