"""When the audit consumer signs a partition's head, and what it writes then. No I/O.

The worker reports each head its transactions committed (``committed``: the offset the broker gave
the partition's last record, or the tail a consumer taking a partition over found). Once per interval,
and only for a head that moved since its last checkpoint, ``due`` gives the checkpoint records to
write in the partition's next transaction; a transaction that fails makes the worker forget the
partition, and the head is signed again once it is taken up again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from dancu_bus.audit.checkpoints import Checkpoint, CheckpointCodec, checkpoint_key, sign
from dancu_bus.audit.signing import SigningKey
from dancu_bus.contracts import AuditRecord
from dancu_bus.transport import Outgoing

__all__ = ["Checkpointer"]


@dataclass(frozen=True, slots=True)
class _Signed:
    offset: int
    at: datetime


class Checkpointer:
    """Signs the committed heads of the audit partitions this consumer writes, every ``interval_s``."""

    def __init__(self, key: SigningKey, interval_s: float, topic: str, codec: CheckpointCodec) -> None:
        self._key = key
        self._interval_s = interval_s
        self._topic = topic
        self._codec = codec
        self._committed: dict[int, tuple[int, AuditRecord]] = {}
        self._signed: dict[int, _Signed] = {}

    @property
    def key_id(self) -> str:
        """The id of the key it signs with."""
        return self._key.key_id

    def committed(self, partition: int, offset: int, record: AuditRecord) -> None:
        """``record``, at ``offset``, is the partition's last committed record now."""
        self._committed[partition] = (offset, record)

    def forget(self, partitions: Collection[int]) -> None:
        """Partitions this consumer no longer writes (or must take up again)."""
        for partition in partitions:
            self._committed.pop(partition, None)
            self._signed.pop(partition, None)

    def due(self, now: datetime) -> list[Outgoing]:
        """The checkpoints to write now: each partition whose head moved, once per interval."""
        outgoing = []
        for partition, (offset, record) in sorted(self._committed.items()):
            last = self._signed.get(partition)
            if last is not None and (last.offset == offset or self._too_soon(last, now)):
                continue
            outgoing.append(self._checkpoint(partition, offset, record, now))
            self._signed[partition] = _Signed(offset, now)
        return outgoing

    def _too_soon(self, last: _Signed, now: datetime) -> bool:
        return (now - last.at).total_seconds() < self._interval_s

    def _checkpoint(self, partition: int, offset: int, record: AuditRecord, now: datetime) -> Outgoing:
        head = Checkpoint(partition, offset, record.exchange_id, record.request_id, record.hash, now)
        value = self._codec.encode(sign(head, self._key.private))
        return Outgoing(self._topic, checkpoint_key(partition, offset), value, partition=partition)
