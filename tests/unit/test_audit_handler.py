"""The audit handler without a broker: placement, chaining from the partition's tail, state, hostile input."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from dancu_bus.audit import AuditHandler, AuditLimits, audit_partition
from dancu_bus.audit.chain import GENESIS, START, is_intact, seal
from dancu_bus.exchanges import exchange_id
from dancu_bus.metrics import AuditMetrics
from dancu_bus.operations import platform_codec
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import Incoming, Outgoing, Unreadable
from tests.unit import samples

CODEC = platform_codec()
NAMES = TopicNames()
BANK = audit_partition("demo-bank", 6)
SENT_MS = 1_795_768_200_000


def rid(n: int) -> str:
    """A request id (a UUID, as the schema requires)."""
    return f"00000000-0000-4000-8000-{n:012d}"


def handler(max_pending: int = 100_000) -> AuditHandler:
    """A handler over six audit partitions, the bank's taken up empty, with its own metrics registry."""
    witness = AuditHandler(
        CODEC, NAMES, AuditMetrics(CollectorRegistry()), AuditLimits(300, 86_400, max_pending), 6
    )
    witness.restore(BANK, [])
    return witness


def request(request_id: str, offset: int = 10, timestamp_ms: int = SENT_MS) -> Incoming:
    """The bank's VERIFY request as read from its request topic (partition 0, broker timestamps)."""
    value = CODEC.encode_request(dataclasses.replace(samples.VERIFY_REQUEST, request_id=request_id))
    topic = NAMES.request("demo-bank")
    return Incoming(topic, 0, offset, timestamp_ms, request_id.encode(), value, (), log_append_time=True)


def exchange_of(offset: int, timestamp_ms: int = SENT_MS) -> str:
    """The exchange id of the bank's request record at ``offset``."""
    return exchange_id(NAMES.request("demo-bank"), 0, offset, timestamp_ms)


def response(request_id: str, exchange: str, offset: int = 5) -> Incoming:
    """Its answer as read from the bank's response topic (another partition)."""
    answer = dataclasses.replace(samples.OK_RESPONSE, request_id=request_id, exchange_id=exchange)
    value = CODEC.encode_response(answer)
    return Incoming(NAMES.response("demo-bank"), 3, offset, SENT_MS, request_id.encode(), value, ())


def audit_tail(offset: int, value: bytes | None) -> Incoming:
    """A record read back from the bank's audit partition."""
    return Incoming(NAMES.audit, BANK, offset, SENT_MS, b"k", value, ())


def audits(written: list[Outgoing]) -> list[Outgoing]:
    """The audit records among what the handler wrote."""
    return [o for o in written if o.topic == NAMES.audit]


async def test_exchanges_chain_in_their_agencys_partition() -> None:
    """Both halves map to the agency's partition; the first record chains from genesis, the next from it."""
    witness = handler()
    assert witness.output_partition(NAMES.request("demo-bank")) == BANK
    assert witness.output_partition(NAMES.response("demo-bank")) == BANK
    assert witness.resume(BANK, None)
    batch = [request(rid(1)), response(rid(1), exchange_of(10)), response(rid(2), exchange_of(11), 6)]
    first, second = audits([*await witness.handle([*batch, request(rid(2), 11)])])
    records = [CODEC.decode_audit(o.value) for o in (first, second)]
    assert [o.partition for o in (first, second)] == [BANK, BANK]
    assert [o.key for o in (first, second)] == [exchange_of(10).encode(), exchange_of(11).encode()]
    assert records[0].prev_hash == GENESIS and records[0].prev_exchange_id is None
    assert (records[1].prev_exchange_id, records[1].prev_hash) == (exchange_of(10), records[0].hash)
    assert all(is_intact(r) for r in records)


async def test_one_request_id_twice_is_two_exchanges_each_with_its_own_facts() -> None:
    """A LOOKUP and a VERIFY under one request id each get their own record, their own personal id."""
    witness = handler()
    witness.resume(BANK, None)
    lookup = dataclasses.replace(samples.LOOKUP_REQUEST, request_id=rid(7), agency="demo-bank")
    first = dataclasses.replace(request(rid(7), 20), value=CODEC.encode_request(lookup))
    second = request(rid(7), 21)
    written = audits(
        [
            *await witness.handle(
                [first, second, response(rid(7), exchange_of(20)), response(rid(7), exchange_of(21), 6)]
            )
        ]
    )
    records = [CODEC.decode_audit(o.value) for o in written]
    assert [(r.operation, r.personal_id) for r in records] == [
        ("LOOKUP", "079201000777"),
        ("VERIFY", "001090012345"),
    ]
    assert len({r.exchange_id for r in records}) == 2


async def test_waiting_halves_are_written_to_the_state_topic_and_tombstoned_when_done() -> None:
    """A request waiting across batches is stored in its partition of the state topic, then tombstoned."""
    witness = handler()
    witness.resume(BANK, None)
    (stored,) = await witness.handle([request(rid(3))])
    assert (stored.topic, stored.partition, stored.key) == (
        NAMES.audit_pending,
        BANK,
        exchange_of(10).encode(),
    )
    assert CODEC.decode_pending(stored.value).request is not None
    done = await witness.handle([response(rid(3), exchange_of(10))])
    assert {(o.topic, o.value is None) for o in done} == {(NAMES.audit, False), (NAMES.audit_pending, True)}


async def test_a_restarted_handler_pairs_what_its_predecessor_left_waiting() -> None:
    """The state records given back at take-over complete with the response: one record, not two."""
    first = handler()
    first.resume(BANK, None)
    (stored,) = await first.handle([request(rid(4))])
    again = handler()
    again.resume(BANK, None)
    again.restore(BANK, [Incoming(NAMES.audit_pending, BANK, 0, SENT_MS, stored.key, stored.value, ())])
    (record,) = audits([*await again.handle([response(rid(4), exchange_of(10))])])
    assert CODEC.decode_audit(record.value).request_id == rid(4)


async def test_resume_continues_from_the_newest_intact_record() -> None:
    """Foreign bytes and a record that fails its hash are passed over; an intact one is chained on."""
    witness = handler()
    intact = seal(samples.AUDIT, START)
    tampered = dataclasses.replace(intact, status="REJECTED")
    assert not witness.resume(BANK, audit_tail(9, b"\xc3\x01 not an audit record"))
    assert not witness.resume(BANK, audit_tail(8, CODEC.encode_audit(tampered)))
    assert witness.resume(BANK, audit_tail(7, CODEC.encode_audit(intact)))
    (written,) = audits([*await witness.handle([request(rid(3)), response(rid(3), exchange_of(10))])])
    record = CODEC.decode_audit(written.value)
    assert (record.prev_exchange_id, record.prev_hash) == (intact.exchange_id, intact.hash)


async def test_the_logs_clock_is_the_brokers_never_the_producers() -> None:
    """received_at is the LogAppendTime; on a topic that keeps producer times it is the audit's own clock."""
    witness = handler()
    witness.resume(BANK, None)
    created = dataclasses.replace(request(rid(6), 30, timestamp_ms=0), log_append_time=False)
    written = await witness.handle(
        [created, response(rid(6), exchange_id(NAMES.request("demo-bank"), 0, 30, 0))]
    )
    (record,) = [CODEC.decode_audit(o.value) for o in audits([*written])]
    assert record.received_at.year >= 2026


async def test_hostile_input_never_raises() -> None:
    """Garbage, empty values, lone responses, unreadable batches and absurd timestamps are survived."""
    witness = handler()
    witness.resume(BANK, None)
    garbage = Incoming(NAMES.request("demo-bank"), 0, 1, SENT_MS, None, b"\x00\xff", ())
    empty = dataclasses.replace(response(rid(9), exchange_of(9)), value=None)
    late = request(rid(4), offset=12, timestamp_ms=2**63 - 1)
    unreadable = Incoming(
        NAMES.request("demo-bank"), 0, 40, -1, None, None, (), unreadable=Unreadable(35, 40, "zstd")
    )
    batch = [garbage, empty, response(rid(5), exchange_of(99)), late, unreadable]
    written = await witness.handle([*batch, response(rid(4), exchange_of(12, 2**63 - 1), 7)])
    (record,) = [CODEC.decode_audit(o.value) for o in audits([*written])]
    assert record.request_id == rid(4) and record.received_at.year == 9999 and is_intact(record)
    letters = [CODEC.decode_dead_letter(o.value) for o in written if o.topic == NAMES.dead_letters]
    # The garbage request is the resolver's to dead-letter; the empty response is nobody else's.
    assert [(d.topic, d.offset, d.last_offset, d.error_code) for d in letters] == [
        (NAMES.response("demo-bank"), 5, 5, "EMPTY"),
        (NAMES.request("demo-bank"), 35, 40, "UNREADABLE_BATCH"),
    ]


async def test_an_undecodable_response_is_dead_lettered_and_the_chain_goes_on() -> None:
    """Bytes on a response topic that are no response: a dead letter from the agency's writer, then on."""
    witness = handler()
    witness.resume(BANK, None)
    noise = dataclasses.replace(response(rid(20), exchange_of(30)), value=b"\xc3\x01not-a-fingerprint")
    written = await witness.handle([noise, request(rid(21), 31), response(rid(21), exchange_of(31), 6)])
    (dead,) = [o for o in written if o.topic == NAMES.dead_letters]
    letter = CODEC.decode_dead_letter(dead.value)
    assert (dead.writer, letter.offset, letter.error_code, letter.failed_by) == (
        BANK,
        5,
        "UNKNOWN_FINGERPRINT",
        "audit",
    )
    (record,) = [CODEC.decode_audit(o.value) for o in audits([*written])]
    assert record.request_id == rid(21) and record.prev_hash == GENESIS


def test_a_record_set_aside_is_a_bounded_handler_failed_dead_letter_in_its_writer() -> None:
    """A poison record becomes HANDLER_FAILED, keyed by its coordinates, written by its agency's partition."""
    poison = dataclasses.replace(response(rid(22), exchange_of(32)), value=b"v" * 200_000)
    dead = handler().set_aside(poison, "RuntimeError: a bug")
    letter = CODEC.decode_dead_letter(dead.value)
    assert (dead.topic, dead.writer, dead.key) == (
        NAMES.dead_letters,
        BANK,
        f"{NAMES.response('demo-bank')}/3/5".encode(),
    )
    assert (letter.error_code, letter.value_size, letter.original_value) == ("HANDLER_FAILED", 200_000, None)
    assert len(dead.value or b"") < 4096


async def test_request_topics_are_held_while_too_many_requests_wait() -> None:
    """Past ``max_pending`` waiting requests, request topics are held; responses never are."""
    witness = handler(max_pending=2)
    witness.resume(BANK, None)
    await witness.handle([request(rid(10), 50), request(rid(11), 51)])
    assert witness.held(NAMES.request("demo-bank")) and not witness.held(NAMES.response("demo-bank"))
    await witness.handle([response(rid(10), exchange_of(50)), response(rid(11), exchange_of(51), 6)])
    assert not witness.held(NAMES.request("demo-bank"))


async def test_an_exchange_is_recorded_with_its_requests_trace_id() -> None:
    """A valid traceparent gives the exchange's record its trace id (hashed with it); a malformed one none."""
    traceparent = f"00-{samples.TRACE_ID}-00f067aa0ba902b7-01".encode()
    traced = dataclasses.replace(request(rid(1)), headers=(("traceparent", traceparent),))
    malformed = dataclasses.replace(request(rid(2), 11), headers=(("traceparent", traceparent.upper()),))
    witness = handler()
    assert witness.resume(BANK, None)
    batch = [traced, malformed, response(rid(1), exchange_of(10)), response(rid(2), exchange_of(11), 6)]
    records = [CODEC.decode_audit(o.value) for o in audits([*await witness.handle(batch)])]
    assert [r.trace_id for r in records] == [samples.TRACE_ID, None]
    assert all(is_intact(r) for r in records)
