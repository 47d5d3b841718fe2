"""The audit consumer's pairing of requests and responses, without a broker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from dancu_bus.audit import Pairing, SeenRequest, SeenResponse
from dancu_bus.transport import TopicPartition
from tests.unit import samples

REQ_TP = TopicPartition("ndxp.dancu.req.demo-bank", 0)
RES_TP = TopicPartition("ndxp.dancu.res.demo-bank", 1)
NOW = samples.SENT


def seen_request(offset: int = 10, request_id: str = samples.VERIFY_REQUEST.request_id) -> SeenRequest:
    request = dataclasses.replace(samples.VERIFY_REQUEST, request_id=request_id)
    return SeenRequest("demo-bank", request, REQ_TP, offset, 1_700_000_000_000)


def seen_response(offset: int = 5) -> SeenResponse:
    return SeenResponse("demo-bank", samples.OK_RESPONSE, RES_TP, offset)


def test_request_then_response_makes_one_record() -> None:
    """The record appears when the second half arrives and carries no personal data but the id."""
    pairing = Pairing()
    assert pairing.add_request(seen_request(), NOW) is None
    record = pairing.add_response(seen_response(), NOW)
    assert record is not None
    assert (record.status, record.personal_id, record.officer_id) == ("OK", "001090012345", "can-bo-0042")
    assert "Nguyễn" not in repr(record)
    assert len(pairing) == 0


def test_response_before_request_also_pairs() -> None:
    """Topics are read independently, so a response may come first."""
    pairing = Pairing()
    assert pairing.add_response(seen_response(), NOW) is None
    assert pairing.add_request(seen_request(), NOW) is not None


def test_pairs_are_per_agency() -> None:
    """Another agency's response with the same request id does not complete the exchange."""
    pairing = Pairing()
    pairing.add_request(seen_request(), NOW)
    other = dataclasses.replace(seen_response(), agency="other-bank")
    assert pairing.add_response(other, NOW) is None


def test_commit_is_held_at_the_oldest_waiting_half() -> None:
    """Offsets are not committed past a request still waiting for its response."""
    pairing = Pairing()
    pairing.add_request(seen_request(offset=10), NOW)
    assert pairing.committable({REQ_TP: 20, RES_TP: 9}) == {REQ_TP: 10, RES_TP: 9}


def test_unanswered_requests_expire_into_a_record() -> None:
    """A request with no response in time gets an UNANSWERED record and stops holding commits."""
    pairing = Pairing()
    pairing.add_request(seen_request(), NOW)
    records, lone = pairing.expire(NOW + timedelta(seconds=301), 300)
    assert [r.status for r in records] == ["UNANSWERED"]
    assert lone == 0
    assert pairing.committable({REQ_TP: 20}) == {REQ_TP: 20}


def test_forget_drops_revoked_partitions() -> None:
    """After a rebalance the halves of lost partitions are dropped."""
    pairing = Pairing()
    pairing.add_request(seen_request(), NOW)
    pairing.forget([REQ_TP])
    assert len(pairing) == 0
