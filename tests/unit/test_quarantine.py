"""The outermost loop and the quarantine: failures are logged, counted and survived; poison is set aside."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dancu_bus.errors import ConfigError, StoreError
from dancu_bus.transport import Incoming, Quarantine, TopicPartition, supervise

A, B = TopicPartition("req.a", 0), TopicPartition("req.b", 1)


def record(tp: TopicPartition, offset: int) -> Incoming:
    """A consumed record of ``tp`` at ``offset``."""
    return Incoming(tp.topic, tp.partition, offset, 0, None, b"x", ())


def test_a_failed_batch_makes_its_partitions_go_one_record_at_a_time() -> None:
    """After a batch fails, its partitions' records are handled alone and in order, the rest together."""
    quarantine = Quarantine()
    quarantine.hold([record(A, 3), record(A, 4)])
    quarantine.failed("boom")
    parts = quarantine.split([record(B, 9), record(A, 3), record(A, 4), record(A, 5)])
    assert parts == [[record(B, 9)], [record(A, 3)], [record(A, 4)], [record(A, 5)]]
    assert quarantine.poisoned(record(A, 3)) is None


def test_a_record_that_fails_alone_is_poisoned_until_set_aside() -> None:
    """A single record that failed is named poisoned with the failure, until it is written."""
    quarantine = Quarantine()
    quarantine.hold([record(A, 4)])
    quarantine.failed("ValueError: boom")
    assert quarantine.poisoned(record(A, 4)) == "ValueError: boom"
    quarantine.hold([record(A, 4)])
    quarantine.release()
    assert quarantine.poisoned(record(A, 4)) is None
    assert quarantine.split([record(A, 5), record(A, 6)]) == [[record(A, 5), record(A, 6)]]


def test_suspicion_ends_once_the_last_suspect_offset_is_written() -> None:
    """Records are batched again once the failed batch's last offset has been answered."""
    quarantine = Quarantine()
    quarantine.hold([record(A, 3), record(A, 4)])
    quarantine.failed("boom")
    quarantine.hold([record(A, 3)])
    quarantine.release()
    assert len(quarantine.split([record(A, 4), record(A, 5)])) == 2
    quarantine.hold([record(A, 4)])
    quarantine.release()
    assert quarantine.split([record(A, 5), record(A, 6)]) == [[record(A, 5), record(A, 6)]]


async def test_the_outermost_loop_logs_counts_and_restarts_after_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception is logged with its traceback, reported, and the worker runs again."""
    stop, runs = asyncio.Event(), []
    failures: list[BaseException] = []

    async def run() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise ValueError("a bug")

    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(supervise(run, stop, failures.append), timeout=10)
    assert len(runs) == 2 and [type(f) for f in failures] == [ValueError]
    assert "restarting" in caplog.text and "a bug" in caplog.text


async def test_a_stop_during_store_retries_ends_quietly() -> None:
    """A retriable error raised because the stop came while retrying is no failure: the loop just ends."""
    stop = asyncio.Event()
    failures: list[BaseException] = []

    async def run() -> None:
        stop.set()
        raise StoreError("database is locked", retriable=True)

    await asyncio.wait_for(supervise(run, stop, failures.append), timeout=10)
    assert failures == []


async def test_a_configuration_error_is_not_retried() -> None:
    """A setting nobody can use ends the service at once instead of restarting it forever."""
    stop = asyncio.Event()

    async def run() -> None:
        raise ConfigError("no password")

    with pytest.raises(ConfigError):
        await supervise(run, stop, lambda _exc: None)
