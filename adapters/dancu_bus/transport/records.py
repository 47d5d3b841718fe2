"""Plain records that cross the transport seam, so services never see aiokafka types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Incoming", "Outgoing", "TopicPartition", "Unreadable"]


class TopicPartition(NamedTuple):
    """A partition of a topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record batch the client could not unpack: the offsets it spans and why (``transport.unreadable``)."""

    first_offset: int
    last_offset: int
    detail: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """A consumed record, or the stand-in for a batch that could not be read (``unreadable``)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    # The timestamp is the broker's (the topic's message.timestamp.type is LogAppendTime), not the producer's.
    log_append_time: bool = False
    unreadable: Unreadable | None = None

    @property
    def tp(self) -> TopicPartition:
        """Where it came from."""
        return TopicPartition(self.topic, self.partition)

    @property
    def size(self) -> int:
        """Bytes of the whole record as consumed: key, value, and every header's key and value."""
        headers = sum(len(k.encode("utf-8", errors="surrogatepass")) + len(v or b"") for k, v in self.headers)
        return len(self.key or b"") + len(self.value or b"") + headers


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: the producer's partitioner picks one from the key
    # Fenced writers (``transport.fenced``): the writer whose transaction carries it; default ``partition``.
    writer: int | None = None
    # Records the exactly-once worker writes in the same transaction, right after this one (an answer's
    # side records, e.g. a correction ticket beside its response): all of them commit, or none.
    also: tuple[Outgoing, ...] = ()
