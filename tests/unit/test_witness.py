"""The audit consumer's pairing of requests and responses by exchange id, without a broker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from dancu_bus.audit import Pairing, SeenRequest, request_half, response_half
from dancu_bus.contracts import AuditRecord, ResponseHalf
from dancu_bus.transport import TopicPartition
from tests.unit import samples

REQ_TP = TopicPartition("ndxp.dancu.req.demo-bank", 0)
NOW = samples.SENT
EXCHANGE = samples.VERIFY_EXCHANGE


def half(
    exchange: str = EXCHANGE, offset: int = 10, request_id: str = samples.VERIFY_REQUEST.request_id
) -> AuditRecord:
    """The request half of an exchange of the bank."""
    request = dataclasses.replace(samples.VERIFY_REQUEST, request_id=request_id)
    return request_half(SeenRequest("demo-bank", exchange, request, REQ_TP, offset, NOW))


def answer() -> ResponseHalf:
    """What the bank's OK answer tells the audit."""
    return response_half("demo-bank", samples.OK_RESPONSE)


def test_request_then_response_makes_one_record() -> None:
    """The record appears when the second half arrives and carries no personal data but the id."""
    pairing = Pairing()
    assert pairing.add_request(half(), NOW) == []
    (record,) = pairing.add_response(EXCHANGE, answer(), NOW)
    assert (record.status, record.personal_id, record.officer_id) == ("OK", "001090012345", "can-bo-0042")
    assert record.exchange_id == EXCHANGE and record.request_offset == 10
    assert "Nguyễn" not in repr(record)
    assert len(pairing) == 0


def test_response_before_request_also_pairs() -> None:
    """Topics are read independently, so a response may come first."""
    pairing = Pairing()
    assert pairing.add_response(EXCHANGE, answer(), NOW) == []
    assert len(pairing.add_request(half(), NOW)) == 1


def test_pairs_are_per_exchange_not_per_request_id() -> None:
    """Two records with one request id are two exchanges; a response completes only its own."""
    pairing = Pairing()
    other = "11111111-2222-5333-8444-555555555555"
    pairing.add_request(half(EXCHANGE, 10), NOW)
    pairing.add_request(half(other, 11), NOW)
    (first,) = pairing.add_response(EXCHANGE, answer(), NOW)
    assert first.request_offset == 10
    assert len(pairing) == 1


def test_state_changes_are_told_once_and_tombstone_only_what_was_stored() -> None:
    """A half waiting across batches is stored, then tombstoned when done; one that never waited is not."""
    pairing = Pairing()
    pairing.add_request(half(), NOW)
    upserts, deletes = pairing.changes()
    assert [u.exchange_id for u in upserts] == [EXCHANGE] and deletes == []
    assert pairing.changes() == ([], [])
    pairing.add_response(EXCHANGE, answer(), NOW)
    assert pairing.changes() == ([], [EXCHANGE])
    quick = "22222222-3333-5444-8555-666666666666"
    pairing.add_request(half(quick), NOW)
    pairing.add_response(quick, answer(), NOW)
    assert pairing.changes() == ([], [])


def test_restored_halves_pair_after_a_restart() -> None:
    """Halves read back from the state topic (tombstones applied in order) complete as if never gone."""
    first = Pairing()
    first.add_request(half(), NOW)
    stored, _ = first.changes()
    done = "33333333-4444-5555-8666-777777777777"
    again = Pairing()
    again.restore([*stored, done])
    assert len(again) == 1
    (record,) = again.add_response(EXCHANGE, answer(), NOW)
    assert record.status == "OK"
    assert again.changes() == ([], [EXCHANGE])


def test_unanswered_requests_expire_into_a_record_and_a_late_answer_still_counts() -> None:
    """At its bound a request gets an UNANSWERED record once; a later response gives the true record."""
    pairing = Pairing()
    pairing.add_request(half(), NOW)
    later = NOW + timedelta(seconds=301)
    records = pairing.expire(later, 300, 86_400)
    assert [r.status for r in records] == ["UNANSWERED"]
    assert pairing.expire(later + timedelta(seconds=60), 300, 86_400) == []
    assert pairing.requests_waiting() == 0
    (late,) = pairing.add_response(EXCHANGE, answer(), later)
    assert late.status == "OK" and late.exchange_id == EXCHANGE


def test_halves_are_forgotten_after_the_long_bound() -> None:
    """A lone response or a long-unanswered request is dropped after ``forget_after_s``, with a tombstone."""
    pairing = Pairing()
    pairing.add_response(EXCHANGE, answer(), NOW)
    pairing.changes()
    assert pairing.expire(NOW + timedelta(days=2), 300, 86_400) == []
    assert len(pairing) == 0 and pairing.changes() == ([], [EXCHANGE])


def test_agency_text_in_the_half_is_bounded() -> None:
    """A megabyte officer id is kept as its start, its length and its hash."""
    request = dataclasses.replace(samples.VERIFY_REQUEST, officer_id="x" * 1_000_000)
    record = request_half(SeenRequest("demo-bank", EXCHANGE, request, REQ_TP, 1, NOW))
    assert len(record.officer_id) < 400 and "1000000 characters, sha256 " in record.officer_id
