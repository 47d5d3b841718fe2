"""Plain records that cross the transport seam, so services never see aiokafka types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Incoming", "Outgoing", "TopicPartition"]


class TopicPartition(NamedTuple):
    """A partition of a topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Incoming:
    """A consumed record."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def tp(self) -> TopicPartition:
        """Where it came from."""
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: the producer's partitioner picks one from the key
