"""Lag in records and seconds, as kafka-lag-exporter computes them (``dancu_bus.lag``), and the monitor's
read past a commit."""

from __future__ import annotations

import re
from typing import cast

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from dancu_bus.admin.lag_monitor import LagMonitor, _visible
from dancu_bus.lag import MAX_POINTS, Partition, PartitionLag, group_lag
from dancu_bus.settings import KafkaSettings


def test_a_group_at_the_end_has_no_lag() -> None:
    partition = Partition()
    partition.observe(100, 10.0)
    assert partition.lag(100, 100, 20.0) == PartitionLag(0, 0.0)


def test_seconds_are_interpolated_between_the_points_around_the_committed_offset() -> None:
    partition = Partition()
    partition.observe(100, 10.0)
    partition.observe(200, 20.0)
    partition.observe(300, 30.0)
    # Offset 150 was the latest half way between 10 s and 20 s.
    assert partition.lag(150, 300, 40.0).seconds == pytest.approx(25.0)
    assert partition.lag(200, 300, 40.0) == PartitionLag(100, 20.0)


def test_an_offset_older_than_the_table_is_extrapolated_at_the_oldest_rate() -> None:
    partition = Partition()
    partition.observe(100, 10.0)
    partition.observe(200, 20.0)
    # 100 records a 10 s: offset 50 was the latest 5 s before the first point.
    assert partition.lag(50, 200, 20.0).seconds == pytest.approx(15.0)


def test_one_point_dates_every_older_offset_to_it() -> None:
    partition = Partition()
    partition.observe(100, 10.0)
    assert partition.lag(40, 100, 25.0) == PartitionLag(60, 15.0)


def test_a_still_partition_adds_no_point_and_the_table_is_bounded() -> None:
    partition = Partition()
    partition.observe(5, 1.0)
    partition.observe(5, 2.0)
    assert list(partition.points) == [(5, 1.0)]
    for i in range(MAX_POINTS * 2):
        partition.observe(10 + i, float(i))
    assert len(partition.points) == MAX_POINTS


def test_a_truncated_partition_starts_a_new_table() -> None:
    partition = Partition()
    partition.observe(500, 1.0)
    partition.observe(3, 2.0)
    assert list(partition.points) == [(3, 2.0)]


def test_nothing_visible_past_the_commit_is_no_lag_until_an_offset_moves() -> None:
    partition = Partition()
    partition.observe(11, 1.0)
    partition.nothing_visible = (10, 11)  # only a transaction marker at offset 10
    assert partition.lag(10, 11, 100.0) == PartitionLag(0, 0.0)
    partition.observe(12, 101.0)
    assert partition.lag(10, 12, 102.0).records == 2


def test_group_lag_counts_uncommitted_partitions_from_the_default_and_forgets_gone_ones() -> None:
    table: dict[tuple[str, int], Partition] = {}
    lags = group_lag(table, {("t", 0): 5}, {("t", 0): 8, ("t", 1): 3}, 1.0)
    assert lags[("t", 0)].records == 3
    assert lags[("t", 1)] == PartitionLag(0, 0.0)  # no commit: the caller passes its earliest offset
    group_lag(table, {}, {("t", 0): 8}, 2.0)
    assert set(table) == {("t", 0)}


class _Refused:
    """A message of a fetch the broker refused."""

    def topic(self) -> str:
        return "p.res.bank"

    def partition(self) -> int:
        return 0

    def error(self) -> KafkaError:
        return KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)


class _RefusingConsumer:
    """A consumer whose every fetch is refused; remembers whether it let its partitions go."""

    unassigned = False

    def assign(self, partitions: list[TopicPartition]) -> None:
        pass

    def consume(self, count: int, timeout: float) -> list[_Refused]:
        return [_Refused()]

    def unassign(self) -> None:
        self.unassigned = True


def test_a_refused_read_past_the_commit_fails_the_poll_rather_than_counting_as_lag() -> None:
    """Without Read on a topic the visibility read raises (the poll fails, naming the cause) instead of
    counting the partition's transaction markers as lag, which would close the resolver's audit gate."""
    consumer = _RefusingConsumer()
    with pytest.raises(KafkaException) as refused:
        _visible(cast(Consumer, consumer), [("p.res.bank", 0)], {("p.res.bank", 0): 10})
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert consumer.unassigned


def test_the_refused_read_names_the_topic_and_the_fix() -> None:
    """One line an operator can act on: which topic, and that `dancu-bus topics apply` grants the ACL."""
    with pytest.raises(KafkaException) as refused:
        _visible(cast(Consumer, _RefusingConsumer()), [("p.res.bank", 0)], {("p.res.bank", 0): 10}, "User:r")
    reason = refused.value.args[0].str()
    assert reason.startswith("topic p.res.bank: ") and reason.endswith(
        "grant User:r Describe and Read on p.res.bank: run `dancu-bus topics apply`"
    ), reason


class _Topic:
    """A topic's metadata: its error, if any, and its partitions."""

    def __init__(self, error: KafkaError | None = None) -> None:
        self.error = error
        self.partitions = {0: object()} if error is None else {}


class _Metadata:
    def __init__(self, topics: dict[str, _Topic]) -> None:
        self.topics = topics


class _ListingConsumer:
    """A consumer whose metadata shows ``topics``; every other call is a test failure."""

    def __init__(self, topics: dict[str, _Topic]) -> None:
        self._topics = topics

    def list_topics(self, timeout: float) -> _Metadata:
        return _Metadata(self._topics)


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            "grant User:dancu-resolver Describe and Read on p.res.post: run `dancu-bus topics apply`",
        ),
        (
            KafkaError.LEADER_NOT_AVAILABLE,
            "see that its partitions have leaders (`kafka-topics.sh --describe --topic p.res.post`)",
        ),
    ],
)
def test_a_watched_topic_with_a_metadata_error_fails_the_poll(code: int, fix: str) -> None:
    """Its lag cannot vanish from the poll (which would keep the audit gate open): the poll fails,
    naming the topic and the fix; a topic the pattern does not match is no concern."""
    monitor = LagMonitor(KafkaSettings(username="dancu-resolver"), "g", re.compile(r"p\.res\..+"))
    topics = {"p.res.post": _Topic(KafkaError(code)), "other": _Topic(KafkaError(code))}
    monitor._consumer = cast(Consumer, _ListingConsumer(topics))
    with pytest.raises(KafkaException) as failed:
        monitor.poll()
    reason = failed.value.args[0].str()
    assert failed.value.args[0].code() == code
    assert reason.startswith("topic p.res.post: ") and reason.endswith(fix), reason
    monitor._consumer = cast(Consumer, _ListingConsumer({"other": _Topic(KafkaError(code))}))
    assert monitor.poll().lags == {}
