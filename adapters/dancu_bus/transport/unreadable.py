"""Record batches no consumer can read are stepped over, never fetched again and again.

aiokafka reads a fetched partition batch by batch; a batch it cannot unpack (a CRC that does not
match, a codec it cannot decompress, records that do not parse) raises out of ``getmany`` and the
next fetch starts at the same offset, so the worker loops on it for ever. Whatever an agency put
on its topic, that must not happen: the fetcher's batches are read through ``GuardedRecords``,
which turns such a batch into one marker record at the batch's last offset, carrying an
``Unreadable`` (offset range and cause). The worker dead-letters the marker and goes on after it.

The marker travels in the record's ``checksum`` slot, which record format v2 leaves empty: an
``Unreadable`` is a Python object no bytes on the wire can produce, so no agency can forge one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher as _fetcher
from aiokafka.errors import KafkaError
from aiokafka.record.memory_records import MemoryRecords

from dancu_bus.transport.records import Unreadable

__all__ = ["GuardedRecords", "install", "unreadable_of"]

# What unpacking a batch raises for bad bytes: aiokafka's own errors, and those of the codec libraries
# and of struct unpacking in its pure-Python paths.
_UNPACK_ERRORS = (KafkaError, ValueError, TypeError, IndexError, OverflowError, EOFError, OSError)
_TIMESTAMP_TYPE_CREATE = 0


class _Marker:
    """Stands in for the records of an unreadable batch, at its last offset (after any fetch position)."""

    __slots__ = ("checksum", "offset")

    key = None
    value = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp = -1
    timestamp_type = _TIMESTAMP_TYPE_CREATE

    def __init__(self, unreadable: Unreadable) -> None:
        self.offset = unreadable.last_offset
        self.checksum = unreadable


class _GuardedBatch:
    """A batch whose records are unpacked all at once; if that fails, one marker is yielded instead."""

    def __init__(self, batch: Any) -> None:
        self._batch = batch
        self._crc_ok: bool | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        """Always True for the fetcher, which would raise; a mismatch makes the batch a marker instead."""
        self._crc_ok = bool(self._batch.validate_crc())
        return True

    def __next__(self) -> Any:
        # Only control batches are read record by record (their marker), never by an agency's codec.
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        if self._crc_ok is False:
            return iter([self._marker("its CRC does not match its bytes")])
        try:
            return iter(list(self._batch))
        except _UNPACK_ERRORS as exc:
            return iter([self._marker(f"{type(exc).__name__}: {exc}")])

    def _marker(self, detail: str) -> _Marker:
        first, last = self._batch.base_offset, self._batch.next_offset - 1
        codec = self._batch.compression_type if hasattr(self._batch, "compression_type") else None
        cause = f"{detail} (codec id {codec})" if codec is not None else detail
        return _Marker(Unreadable(first, last, cause[:500]))


class GuardedRecords:
    """aiokafka's MemoryRecords, handing out guarded batches."""

    def __init__(self, buffer: Any) -> None:
        self._records = MemoryRecords(buffer)

    def size_in_bytes(self) -> int:
        """The fetched bytes."""
        return int(self._records.size_in_bytes())

    def has_next(self) -> bool:
        """Whether another batch follows."""
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        """The next batch, guarded.

        A batch header that is not one (shorter than a header) still raises: the broker validates
        every batch's framing and CRC when it is produced, so only a damaged log can serve one.
        """
        batch = self._records.next_batch()
        return None if batch is None else _GuardedBatch(batch)


def install() -> None:
    """Make aiokafka's fetcher read every fetched partition through ``GuardedRecords`` (idempotent)."""
    _fetcher.MemoryRecords = GuardedRecords


def unreadable_of(message: Any) -> Unreadable | None:
    """The Unreadable a consumed aiokafka message stands in for, or None for an ordinary record."""
    checksum = getattr(message, "checksum", None)
    return checksum if isinstance(checksum, Unreadable) else None
