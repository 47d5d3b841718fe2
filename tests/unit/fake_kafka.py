"""A fake aiokafka consumer for the workers' loops: prepared batches, remembered seeks."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, ClassVar

from dancu_bus.transport import Incoming, TopicPartition


class FakeConsumer:
    """Hands out prepared batches, then sets ``stop``; remembers seeks; committed offsets from a table.

    Subclasses name the partitions the group gave it (``assigned``).
    """

    assigned: ClassVar[frozenset[TopicPartition]] = frozenset()

    def __init__(self, batches: list[list[Incoming]], stop: asyncio.Event) -> None:
        self._batches = batches
        self._stop = stop
        self.seeks: dict[TopicPartition, int | None] = {}
        self.committed_offsets: dict[TopicPartition, int | None] = {}

    def subscribe(self, pattern: str, listener: Any) -> None:
        self.listener = listener

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        if not self._batches:
            self._stop.set()
            return {}
        return {TopicPartition("all", 0): [_message(r) for r in self._batches.pop(0)]}

    async def committed(self, tp: Any) -> int | None:
        return self.committed_offsets[TopicPartition(tp.topic, tp.partition)]

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks[TopicPartition(tp.topic, tp.partition)] = offset

    async def seek_to_beginning(self, tp: Any) -> None:
        self.seeks[TopicPartition(tp.topic, tp.partition)] = None

    def paused(self) -> set[Any]:
        return set()

    def pause(self, *partitions: Any) -> None:
        """Pausing is not exercised by these tests."""

    def resume(self, *partitions: Any) -> None:
        """Resuming is not exercised by these tests."""


def _message(record: Incoming) -> SimpleNamespace:
    """What aiokafka would hand out for ``record``."""
    return SimpleNamespace(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp_ms,
        key=record.key,
        value=record.value,
        headers=list(record.headers),
        timestamp_type=1 if record.log_append_time else 0,
        checksum=None,
    )
