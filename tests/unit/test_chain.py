"""The audit hash chain: what a hash covers, sealing, and where each agency's records go."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import pytest

from dancu_bus.audit.chain import (
    GENESIS,
    START,
    ChainHead,
    audit_partition,
    head_of,
    is_intact,
    record_hash,
    seal,
)
from dancu_bus.contracts import AuditRecord
from dancu_bus.operations import platform_codec
from tests.unit import samples

CODEC = platform_codec()
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def _reference_record(data: bytes, writer: Path) -> dict[str, Any]:
    """A golden audit record as the reference Apache Avro implementation reads it (into today's schema)."""
    schema = avro.schema.parse((SCHEMAS / "audit_record.avsc").read_text())
    written = avro.schema.parse(writer.read_text())
    record = avro.io.DatumReader(written, schema).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert isinstance(record, dict)
    return record


def _as_avro_long(value: object) -> object:
    """What a timestamp-millis field holds on the wire."""
    if isinstance(value, datetime):
        return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return value


@pytest.mark.parametrize(
    ("golden", "writer", "sample"),
    [
        ("audit_v3", SCHEMAS / "released" / "3" / "vn.dancu.AuditRecord.avsc", samples.AUDIT),
        ("audit", SCHEMAS / "audit_record.avsc", samples.AUDIT),
        ("audit_traced", SCHEMAS / "audit_record.avsc", samples.AUDIT_TRACED),
        ("audit_fee", SCHEMAS / "audit_record.avsc", samples.AUDIT_SELF),
        ("audit_hidden", SCHEMAS / "audit_record.avsc", samples.AUDIT_HIDDEN),
    ],
    ids=["version-3", "untraced", "traced", "fee", "hidden"],
)
def test_an_inspector_recomputes_the_hash_from_the_avro_record_alone(
    golden: str, writer: Path, sample: AuditRecord
) -> None:
    """The documented rule (tag, then sorted compact JSON of all fields but hash) reproduces the hash.

    ``criteria``, ``trace_id`` and ``fee``, added later, count only when set (criteria not empty, the
    others not null: a fee of 0 counts), so records written before them keep their hashes: version 3's
    bytes and today's without a trace id or fee hash alike.
    """
    record = _reference_record((GOLDEN / f"{golden}.bin").read_bytes(), writer)
    unset: dict[str, object] = {
        "criteria": [],
        "trace_id": None,
        "fee": None,
        "hidden_until": None,
        "hiding_legal_basis": None,
    }
    content = {
        k: _as_avro_long(v) for k, v in record.items() if k != "hash" and not (k in unset and v == unset[k])
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(b"dancu-bus audit v2\n" + text.encode()).hexdigest() == record["hash"]
    assert record["hash"] == sample.hash == record_hash(sample)
    assert record.get("trace_id") == sample.trace_id
    assert record.get("fee") == sample.fee
    assert record.get("hiding_legal_basis") == sample.hiding_legal_basis


def test_the_trace_id_is_covered_by_the_hash() -> None:
    """A record whose trace id was changed, or dropped, no longer matches its hash."""
    assert is_intact(samples.AUDIT_TRACED)
    assert not is_intact(dataclasses.replace(samples.AUDIT_TRACED, trace_id="0" * 31 + "1"))
    assert not is_intact(dataclasses.replace(samples.AUDIT_TRACED, trace_id=None))


def test_the_hiding_mark_is_covered_by_the_hash_and_absent_marks_change_nothing() -> None:
    """A hidden record's date or legal basis changed, or dropped, no longer matches; an unhidden one's
    hash is the one it had before the fields existed."""
    hidden = samples.AUDIT_HIDDEN
    assert is_intact(hidden) and hidden.hash != samples.AUDIT_TRACED.hash
    assert not is_intact(dataclasses.replace(hidden, hidden_until=samples.HIDDEN_UNTIL + timedelta(days=1)))
    assert not is_intact(dataclasses.replace(hidden, hiding_legal_basis="Điều 1"))
    assert not is_intact(dataclasses.replace(hidden, hidden_until=None, hiding_legal_basis=None))
    unhidden = dataclasses.replace(hidden, hidden_until=None, hiding_legal_basis=None)
    assert record_hash(unhidden) == samples.AUDIT_TRACED.hash


def test_sealing_links_to_the_head_and_survives_the_wire() -> None:
    """A sealed record names its predecessor, hashes intact, and decodes to an equal record."""
    unsealed = dataclasses.replace(
        samples.AUDIT, answered_at=samples.SENT + timedelta(microseconds=1_234_567)
    )
    head = ChainHead("0f8e2d4c-1b3a-4c5d-8e9f-a0b1c2d3e4f5", "ab" * 32)
    sealed = seal(unsealed, head)
    assert (sealed.prev_exchange_id, sealed.prev_hash) == (head.exchange_id, head.hash)
    assert is_intact(sealed)
    assert sealed.answered_at == samples.SENT + timedelta(milliseconds=1_234)
    assert CODEC.decode_audit(CODEC.encode_audit(sealed)) == sealed
    assert head_of(sealed) == ChainHead(sealed.exchange_id, sealed.hash)


def test_the_first_record_chains_from_genesis() -> None:
    """The first record of a partition chains from 64 zeros and names no predecessor."""
    sealed = seal(samples.AUDIT, START)
    assert (sealed.prev_exchange_id, sealed.prev_hash) == (None, GENESIS) and GENESIS == "0" * 64


@pytest.mark.parametrize(
    "change",
    [
        {"status": "REJECTED"},
        {"fields_disclosed": ("full_name",)},
        {"received_at": samples.SENT + timedelta(milliseconds=1)},
        {"personal_id": None},
        {"prev_hash": "1" * 64},
        {"prev_exchange_id": "another-request"},
        {"request_offset": 42},
    ],
)
def test_every_field_is_covered_by_the_hash(change: dict[str, Any]) -> None:
    """Changing any field, the chain fields included, breaks the record's hash."""
    assert is_intact(samples.AUDIT)
    assert not is_intact(dataclasses.replace(samples.AUDIT, **change))


def test_agency_placement_is_stable_and_in_range() -> None:
    """An agency's audit partition is fixed across processes and releases, whatever the hash seed."""
    assert (
        audit_partition("demo-bank", 6)
        == int.from_bytes(hashlib.sha256(b"demo-bank").digest()[:8], "big") % 6
    )
    assert {audit_partition(f"agency-{i}", 6) for i in range(200)} == set(range(6))
    assert audit_partition("demo-bank", 1) == 0


def test_the_criteria_of_a_search_are_hashed_and_an_empty_list_is_not() -> None:
    """A record with criteria hashes them; the same record without keeps the hash of a v2 record."""
    searched = dataclasses.replace(samples.AUDIT, personal_id=None, criteria=("full_name", "birth_date"))
    assert record_hash(searched) != record_hash(dataclasses.replace(searched, criteria=()))
    assert record_hash(dataclasses.replace(samples.AUDIT, criteria=())) == samples.AUDIT.hash
