"""The audit handler without a broker: placement, chaining from the partition's tail, hostile input."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from dancu_bus.audit import AuditHandler, audit_partition
from dancu_bus.audit.chain import GENESIS, START, is_intact, seal
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.metrics import AuditMetrics
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import Incoming
from tests.unit import samples

CODEC = Codec(load_schemas())
NAMES = TopicNames()
BANK = audit_partition("demo-bank", 6)
SENT_MS = 1_795_768_200_000


def rid(n: int) -> str:
    """A request id (a UUID, as the schema requires)."""
    return f"00000000-0000-4000-8000-{n:012d}"


def handler() -> AuditHandler:
    """A handler over six audit partitions, with its own metrics registry."""
    return AuditHandler(CODEC, NAMES, AuditMetrics(CollectorRegistry()), 300, partitions=6)


def request(request_id: str, offset: int = 10, timestamp_ms: int = SENT_MS) -> Incoming:
    """The bank's VERIFY request as read from its request topic."""
    value = CODEC.encode_request(dataclasses.replace(samples.VERIFY_REQUEST, request_id=request_id))
    return Incoming(NAMES.request("demo-bank"), 0, offset, timestamp_ms, request_id.encode(), value, ())


def response(request_id: str, offset: int = 5) -> Incoming:
    """Its answer as read from the bank's response topic (another partition)."""
    value = CODEC.encode_response(dataclasses.replace(samples.OK_RESPONSE, request_id=request_id))
    return Incoming(NAMES.response("demo-bank"), 3, offset, SENT_MS, request_id.encode(), value, ())


def audit_tail(offset: int, value: bytes | None) -> Incoming:
    """A record read back from the bank's audit partition."""
    return Incoming(NAMES.audit, BANK, offset, SENT_MS, b"k", value, ())


async def test_exchanges_chain_in_their_agencys_partition() -> None:
    """Both halves map to the agency's partition; the first record chains from genesis, the next from it."""
    witness = handler()
    assert witness.output_partition(NAMES.request("demo-bank")) == BANK
    assert witness.output_partition(NAMES.response("demo-bank")) == BANK
    assert witness.resume(BANK, None)
    first, second = await witness.handle(
        [request(rid(1)), response(rid(1)), response(rid(2), 6), request(rid(2), 11)]
    )
    records = [CODEC.decode_audit(o.value) for o in (first, second)]
    assert [o.partition for o in (first, second)] == [BANK, BANK]
    assert [o.key for o in (first, second)] == [rid(1).encode(), rid(2).encode()]
    assert records[0].prev_hash == GENESIS and records[0].prev_request_id is None
    assert (records[1].prev_request_id, records[1].prev_hash) == (rid(1), records[0].hash)
    assert all(is_intact(r) for r in records)


async def test_resume_continues_from_the_newest_intact_record() -> None:
    """Foreign bytes and a record that fails its hash are passed over; an intact one is chained on."""
    witness = handler()
    intact = seal(samples.AUDIT, START)
    tampered = dataclasses.replace(intact, status="REJECTED")
    assert not witness.resume(BANK, audit_tail(9, b"\xc3\x01 not an audit record"))
    assert not witness.resume(BANK, audit_tail(8, CODEC.encode_audit(tampered)))
    assert witness.resume(BANK, audit_tail(7, CODEC.encode_audit(intact)))
    (written,) = await witness.handle([request(rid(3)), response(rid(3))])
    record = CODEC.decode_audit(written.value)
    assert (record.prev_request_id, record.prev_hash) == (intact.request_id, intact.hash)


async def test_hostile_input_never_raises() -> None:
    """Garbage, empty values, lone responses and absurd broker timestamps are survived, not fatal."""
    witness = handler()
    witness.resume(BANK, None)
    garbage = Incoming(NAMES.request("demo-bank"), 0, 1, SENT_MS, None, b"\x00\xff", ())
    empty = dataclasses.replace(response(rid(9)), value=None)
    late = request(rid(4), offset=12, timestamp_ms=2**63 - 1)
    written = await witness.handle([garbage, empty, response(rid(5)), late, response(rid(4), 7)])
    (record,) = [CODEC.decode_audit(o.value) for o in written]
    assert record.request_id == rid(4) and record.received_at.year == 9999 and is_intact(record)
