"""An agency's audit trail: registry changes and exchanges merged in time order."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from dancu_bus.agencies import Change
from dancu_bus.audit.trail import trail
from tests.unit import samples


def test_trail_orders_changes_and_exchanges_by_time() -> None:
    """Suspension, exchange, resumption come out in time order; other agencies' exchanges are left out."""
    t0 = samples.SENT
    history = [
        Change(at=t0, by="thanh-tra", document_ref="QD-1", action="SUSPEND", detail="kiểm tra"),
        Change(at=t0 + timedelta(minutes=5), by="thanh-tra", document_ref="QD-2", action="RESUME"),
    ]
    mine = dataclasses.replace(
        samples.AUDIT, received_at=t0 + timedelta(minutes=1), status="REJECTED", reason_code="SUSPENDED"
    )
    other = dataclasses.replace(samples.AUDIT, agency="demo-province", received_at=t0 + timedelta(minutes=2))
    lines = trail(history, [other, mine], "demo-bank")
    assert [line.kind for line in lines] == ["registry", "exchange", "registry"]
    assert "REJECTED SUSPENDED" in lines[1].text
    assert lines[0].text == "SUSPEND by thanh-tra under QD-1: kiểm tra"


def test_a_hidden_exchange_is_shown_as_hidden_with_its_date_and_legal_basis() -> None:
    """The trail states a request's mark hiding it from the citizen; an unhidden one says nothing of it."""
    lines = trail([], [samples.AUDIT_HIDDEN, samples.AUDIT], "demo-bank")
    hidden, plain = (line.text for line in lines)
    assert hidden.endswith(
        f"; hidden from the citizen until 2027-05-27T00:00:00+00:00 under {samples.HIDING_BASIS}"
    )
    assert "hidden" not in plain
