"""Record batches the client cannot unpack become one marker each, through aiokafka's own fetch path."""

from __future__ import annotations

import struct
from typing import Any

import aiokafka.codec
import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from dancu_bus.transport import Unreadable
from dancu_bus.transport.consuming import incoming
from dancu_bus.transport.unreadable import GuardedRecords, unreadable_of

TP = KafkaTopicPartition("ndxp.dancu.req.demo-bank", 0)
ZSTD = 4


def batch(base_offset: int, values: list[bytes], codec: int = 0) -> bytes:
    """A record batch (format v2) at ``base_offset``, as a broker serves it."""
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 20)
    for delta, value in enumerate(values):
        builder.append(delta, timestamp=1_700_000_000_000, key=b"k", value=value, headers=[])
    built = bytearray(builder.build())
    built[0:8] = struct.pack(">q", base_offset)  # the base offset is outside the CRC
    return bytes(built)


def consumed(buffer: bytes, fetch_offset: int = 0) -> list[Any]:
    """The messages aiokafka's fetcher hands out for ``buffer``, read through the guard."""
    records = PartitionRecords(TP, GuardedRecords(buffer), [], fetch_offset, None, None, True, 0)
    return list(records)


def test_readable_batches_pass_through_unchanged() -> None:
    """Ordinary records come out as they are, with no marker."""
    messages = consumed(batch(0, [b"a", b"b"]) + batch(2, [b"c"]))
    assert [(m.offset, m.value) for m in messages] == [(0, b"a"), (1, b"b"), (2, b"c")]
    assert all(unreadable_of(m) is None for m in messages)


def test_a_batch_whose_crc_fails_becomes_one_marker_and_the_next_is_read() -> None:
    """A damaged batch stands as one marker at its last offset; the batch after it is still read."""
    damaged = bytearray(batch(0, [b"a", b"b", b"c"]))
    damaged[-1] ^= 0xFF
    messages = consumed(bytes(damaged) + batch(3, [b"d"]))
    assert [m.offset for m in messages] == [2, 3]
    assert unreadable_of(messages[0]) == Unreadable(0, 2, unreadable_of(messages[0]).detail)  # type: ignore[union-attr]
    assert "CRC" in unreadable_of(messages[0]).detail  # type: ignore[union-attr]
    assert messages[1].value == b"d"


def test_a_codec_the_client_lacks_becomes_a_marker_not_an_endless_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zstd batch without the zstd library (what stopped every consumer) is stepped over."""
    compressed = batch(10, [b"x" * 100, b"y" * 100], codec=ZSTD)
    monkeypatch.setattr(aiokafka.codec, "has_zstd", lambda: False)
    (marker,) = consumed(compressed, fetch_offset=11)
    found = unreadable_of(marker)
    assert found is not None and (found.first_offset, found.last_offset) == (10, 11)
    assert "zstd" in found.detail


def test_a_marker_becomes_an_incoming_that_no_bytes_can_forge() -> None:
    """The worker's plain record carries the Unreadable; an ordinary record with odd headers does not."""
    damaged = bytearray(batch(5, [b"a"]))
    damaged[-1] ^= 0xFF
    (marker,) = consumed(bytes(damaged))
    record = incoming(marker)
    assert record.unreadable is not None and record.value is None and record.offset == 5
    (plain,) = consumed(batch(6, [b"dancu-unreadable"]))
    assert incoming(plain).unreadable is None
