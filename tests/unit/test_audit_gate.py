"""No exchange without a log: the resolver's audit gate decides from the audit group's lag and the clock,
and a closed gate answers every request REJECTED AUDIT_UNAVAILABLE in Vietnamese and English."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import cast

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from dancu_bus.agencies import FileAgencyDirectory, Quota
from dancu_bus.contracts import ResponseStatus
from dancu_bus.lag import PartitionLag
from dancu_bus.metrics import ResolverMetrics
from dancu_bus.reasons import MESSAGES, Reason
from dancu_bus.resolver.audit_gate import AuditGate
from dancu_bus.resolver.handler import HandlerOptions, ResolverHandler
from dancu_bus.settings import ResolverSettings, Settings
from dancu_bus.store import PopulationStore
from tests.unit.test_resolver_handler import CODEC, DIRECTORY, NAMES, Store, incoming, request

REQ, RES = ("p.req.bank", 0), ("p.res.bank", 3)
Lags = Mapping[tuple[str, int], PartitionLag]


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def lags(req: float = 0.0, res: float = 0.0) -> Lags:
    """A poll where the request and the response partition lag this many seconds."""
    return {REQ: PartitionLag(3 if req else 0, req), RES: PartitionLag(2 if res else 0, res)}


def run(bound: float, steps: Sequence[tuple[float, Lags | None]]) -> list[bool]:
    """Whether the gate is closed after each step: wait ``dt`` seconds, then a poll (None: it failed)."""
    clock = Clock()
    gate = AuditGate(bound, clock)
    closed = []
    for dt, polled in steps:
        clock.now += dt
        gate.polled(polled)
        closed.append(gate.closed())
    return closed


CASES = [
    ("keeping up", 10, [(1, lags()), (1, lags(0.5, 1.0)), (1, lags())], [False, False, False]),
    (
        "audit stopped: the lag grows with the clock past the bound",
        10,
        [(1, lags()), *[(2, lags(2.0 * i, 2.0 * i)) for i in range(1, 7)]],
        [False, False, False, False, False, False, True],
    ),
    (
        "reopens once caught up",
        10,
        [(1, lags()), *[(3, lags(3.0 * i)) for i in range(1, 5)], (1, lags(2.0)), (1, lags())],
        [False, False, False, False, True, False, False],
    ),
    (
        "stays closed until the lag is within half the bound",
        10,
        [
            (1, lags()),
            *[(3, lags(3.0 * i)) for i in range(1, 5)],
            (1, lags(9.0)),
            (1, lags(6.0)),
            (1, lags(5.0)),
        ],
        [False, False, False, False, True, True, True, False],
    ),
    (
        # The committed offset moved onto a transaction marker: interpolation dates it back an hour.
        "a spike faster than the clock does not close it",
        10,
        [(1, lags()), (1, lags(res=3600.0)), (1, lags())],
        [False, False, False],
    ),
    (
        "unknown lag closes it once unknown for longer than the bound",
        10,
        [(1, lags()), (4, None), (4, None), (3, None)],
        [False, False, False, True],
    ),
    (
        "unknown lag adds to the lag last measured",
        10,
        [(1, lags()), *[(2, lags(2.0 * i)) for i in range(1, 4)], (3, None), (2, None)],
        [False, False, False, False, False, True],
    ),
    (
        "a failed poll never opens it; a measured one does",
        10,
        [(1, lags()), (11, None), (1, None), (1, lags())],
        [False, True, True, False],
    ),
    ("no poll ever succeeds: closed from the start", 10, [(6, None), (6, None)], [True, True]),
    ("0 turns it off", 0, [(1, lags(5000.0)), (5000, None)], [False, False]),
    (
        # Its history is unknown: it is not shown caught up until it has no lag (or its commit moved on).
        "a new partition with lag closes the gate until it has none",
        10,
        [
            (1, {REQ: PartitionLag(0, 0.0)}),
            (2, {REQ: PartitionLag(0, 0.0), RES: PartitionLag(9, 900.0)}),
            (2, {REQ: PartitionLag(0, 0.0), RES: PartitionLag(0, 0.0)}),
        ],
        [False, True, False],
    ),
]


@pytest.mark.parametrize(("case", "bound", "steps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_gate_decides_from_lag_and_time(
    case: str, bound: float, steps: Sequence[tuple[float, Lags | None]], expected: list[bool]
) -> None:
    """Closed past the bound of measured or unknown lag until caught up; spikes and failed polls do not
    flap it."""
    assert run(bound, steps) == expected, case


def test_the_gate_closes_between_polls_as_time_passes() -> None:
    """A poll that never comes (a call stuck on a broker that is gone) cannot keep the gate open."""
    clock = Clock()
    gate = AuditGate(10, clock)
    gate.polled(lags())
    clock.now += 5
    gate.polled(lags(4.0))
    clock.now += 5
    assert not gate.closed() and gate.lag_s() == 9.0
    clock.now += 2
    assert gate.closed() and gate.lag_s() == 11.0


def test_the_refusal_and_the_problem_say_why() -> None:
    """AUDIT_UNAVAILABLE with the lag and the bound; /readyz names measured or unknown lag."""
    clock = Clock()
    gate = AuditGate(10, clock)
    gate.polled(lags())
    assert gate.refusal("bank") is None and gate.problem() is None
    for seconds in (5.0, 10.0, 15.0):
        clock.now += 5
        gate.polled(lags(seconds))
    refusal = gate.refusal("bank")
    assert refusal is not None and refusal.reason is Reason.AUDIT_UNAVAILABLE
    assert refusal.detail == "the exchange log is 15 s behind, at most 10 s allowed"
    assert gate.problem() == (
        "refusing new requests AUDIT_UNAVAILABLE of every agency: the audit is 15 s behind (bound 10 s)"
    )
    clock.now += 7
    gate.polled(None)
    clock.now += 3
    assert gate.problem() == (
        "refusing new requests AUDIT_UNAVAILABLE of every agency: the audit group's lag could not be read"
        " for 3 s (bound 10 s)"
    )


def test_the_metrics_read_the_gate_at_each_scrape() -> None:
    """dancu_resolver_audit_gate_closed and _audit_lag_seconds follow the gate as time passes."""
    clock, registry = Clock(), CollectorRegistry()
    gate = AuditGate(10, clock)
    ResolverMetrics(registry).gated(gate.closed, gate.lag_s)
    assert registry.get_sample_value("dancu_resolver_audit_gate_closed") == 1  # not polled yet
    gate.polled(lags())
    clock.now += 8
    gate.polled(lags(8.0))
    assert registry.get_sample_value("dancu_resolver_audit_gate_closed") == 0
    clock.now += 3
    assert registry.get_sample_value("dancu_resolver_audit_gate_closed") == 1
    assert registry.get_sample_value("dancu_resolver_audit_lag_seconds") == 11.0


def test_the_bound_must_outlast_two_polls() -> None:
    """A bound shorter than two lag polls would close the gate between polls with no lag at all."""
    with pytest.raises(ValidationError, match="at least twice DANCU_LAG_INTERVAL_S"):
        Settings(resolver=ResolverSettings(audit_max_lag_s=20), lag_interval_s=15)
    assert (
        Settings(resolver=ResolverSettings(audit_max_lag_s=0), lag_interval_s=15).resolver.audit_max_lag_s
        == 0
    )
    assert ResolverSettings().audit_max_lag_s == 900


def gated_handler(gate: AuditGate, store: Store) -> ResolverHandler:
    """A handler over the demo agencies whose audit gate is ``gate``."""
    metrics = ResolverMetrics(CollectorRegistry())
    return ResolverHandler(
        CODEC, DIRECTORY, cast(PopulationStore, store), NAMES, metrics, HandlerOptions(gate=gate)
    )


async def test_a_closed_gate_refuses_every_request_and_an_open_one_serves() -> None:
    """Closed: REJECTED AUDIT_UNAVAILABLE in both languages, the store not asked; reopened: the same
    request id is answered, as the refusal kept no duplicate."""
    clock, store = Clock(), Store()
    gate = AuditGate(10, clock)
    gate.polled(lags())
    clock.now += 11  # no poll within the bound: nothing shows the log is kept
    same = request()
    batch = [
        incoming(CODEC.encode_request(r), i) for i, r in enumerate([same, request(agency="demo-province")])
    ]
    handler = gated_handler(gate, store)
    refused = [CODEC.decode_response(out.value) for out in await handler.handle(batch)]
    assert [(r.status, r.reason_code) for r in refused] == [
        (ResponseStatus.REJECTED, "AUDIT_UNAVAILABLE")
    ] * 2
    message = MESSAGES[Reason.AUDIT_UNAVAILABLE]
    assert all((r.message_vi or "").startswith(message.vi) for r in refused)
    assert all((r.message_en or "").startswith(message.en) for r in refused)
    assert "Nhật ký trao đổi dữ liệu" in message.vi and "exchange log is behind" in message.en
    assert "(the exchange log is 11 s behind, at most 10 s allowed)" in (refused[0].message_en or "")
    assert store.calls == 0
    gate.polled(lags())
    (answer,) = await handler.handle([incoming(CODEC.encode_request(same), 7)])
    assert CODEC.decode_response(answer.value).status is ResponseStatus.OK
    assert store.calls == 1


async def test_a_refused_request_is_an_exchange_with_its_own_id() -> None:
    """The refusal names the record's exchange and the agency, as every answer does (the audit pairs it)."""
    clock = Clock()
    gate = AuditGate(1, clock)
    gate.polled(lags())
    clock.now += 2
    sent = request()
    (out,) = await gated_handler(gate, Store()).handle([incoming(CODEC.encode_request(sent), 4)])
    response = CODEC.decode_response(out.value)
    assert out.topic == NAMES.response("demo-bank") and out.key == sent.request_id.encode()
    assert response.request_id == sent.request_id and response.agency == "demo-bank"
    assert uuid.UUID(response.exchange_id).version == 5


def agency_of(topic: str) -> str | None:
    """The agency of a request or response topic, as the resolver maps them."""
    split = NAMES.split(topic)
    return split[1] if split else None


BANK, PROVINCE = (NAMES.response("demo-bank"), 0), (NAMES.response("demo-province"), 0)


def behind(bank: float = 0.0, province: float = 0.0) -> Lags:
    """A poll where the bank's and the province's response partitions lag this many seconds."""
    return {
        BANK: PartitionLag(5 if bank else 0, bank),
        PROVINCE: PartitionLag(5 if province else 0, province),
    }


def test_one_agency_far_behind_closes_the_gate_for_itself_only() -> None:
    """A flood of one agency (its partitions behind in the audit) refuses that agency, not the others;
    it opens for it again once its own exchanges are within half the bound."""
    clock = Clock()
    gate = AuditGate(10, clock, agency_of)
    gate.polled(behind())
    for i in range(1, 7):
        clock.now += 2
        gate.polled(behind(bank=2.0 * i))
    assert gate.closed("demo-bank") and not gate.closed("demo-province") and gate.closed()
    assert gate.refusal("demo-province") is None
    refusal = gate.refusal("demo-bank")
    assert refusal is not None and refusal.detail == "the exchange log is 12 s behind, at most 10 s allowed"
    assert gate.problem() == (
        "refusing new requests AUDIT_UNAVAILABLE of demo-bank: the audit is 12 s behind on their exchanges"
        " (bound 10 s)"
    )
    assert gate.lag_s() == 12.0 and gate.lag_s("demo-province") == 0.0
    clock.now += 1
    gate.polled(behind(bank=6.0))
    assert gate.closed("demo-bank") and not gate.closed("demo-province")
    clock.now += 1
    gate.polled(behind(bank=4.0))
    assert not gate.closed() and gate.problem() is None


def test_a_lag_unknown_for_longer_than_the_bound_closes_it_for_every_agency() -> None:
    """Nothing shows any log is kept: every agency is refused, even one whose topics were never seen."""
    clock = Clock()
    gate = AuditGate(10, clock, agency_of)
    gate.polled(behind())
    clock.now += 5
    gate.polled(None)
    assert not gate.closed()
    clock.now += 6
    assert all(gate.closed(a) for a in ("demo-bank", "demo-province", "never-seen"))
    assert gate.problem() == (
        "refusing new requests AUDIT_UNAVAILABLE of every agency: the audit group's lag could not be read"
        " for 6 s (bound 10 s)"
    )


def test_a_restart_while_the_audit_is_down_refuses_until_a_poll_shows_it_caught_up() -> None:
    """Closed from the start; the first points date every waiting record to now (0 s), so lag in seconds
    shows nothing yet: an agency opens once its partitions have no lag in records or the audit's
    commit passed the ends first seen; one already caught up is served meanwhile."""
    clock = Clock()
    gate = AuditGate(10, clock, agency_of)
    refusal = gate.refusal("demo-bank")
    assert refusal is not None and refusal.detail == (
        "the exchange log is not shown caught up yet, at most 10 s behind allowed"
    )
    assert gate.problem() == (
        "refusing new requests AUDIT_UNAVAILABLE of every agency: the audit group's lag has not been read"
        " yet (bound 10 s)"
    )
    province = PartitionLag(0, 0.0)
    for _ in range(3):  # the audit is stopped: 7 records wait on the bank's partition
        clock.now += 1
        gate.polled({BANK: PartitionLag(7, 0.0), PROVINCE: province}, {BANK: 100, PROVINCE: 40})
        assert gate.closed("demo-bank") and not gate.closed("demo-province")
    assert gate.problem() == (
        "refusing new requests AUDIT_UNAVAILABLE of demo-bank: the audit is not shown caught up on their"
        " exchanges since the resolver started (bound 10 s)"
    )
    clock.now += 1  # the audit reads again, its commit at 93: not yet past the end first seen (100)
    gate.polled({BANK: PartitionLag(12, 3.0), PROVINCE: province}, {BANK: 105, PROVINCE: 40})
    assert gate.closed("demo-bank")
    clock.now += 1  # its commit at 108: everything waiting at the restart is in the log
    gate.polled({BANK: PartitionLag(2, 0.5), PROVINCE: province}, {BANK: 110, PROVINCE: 40})
    assert not gate.closed()


def test_a_healthy_audit_opens_the_gate_at_the_first_or_second_poll() -> None:
    """At the end: the first poll opens it; with exchanges in flight, the next, once the commit moved on."""
    clock = Clock()
    gate = AuditGate(10, clock, agency_of)
    clock.now += 1
    gate.polled(behind(), {BANK: 50, PROVINCE: 20})
    assert not gate.closed()
    clock = Clock()
    gate = AuditGate(10, clock, agency_of)
    clock.now += 1
    gate.polled({BANK: PartitionLag(2, 0.0), PROVINCE: PartitionLag(0, 0.0)}, {BANK: 50, PROVINCE: 20})
    assert gate.closed("demo-bank")
    clock.now += 1
    gate.polled({BANK: PartitionLag(1, 0.2), PROVINCE: PartitionLag(0, 0.0)}, {BANK: 53, PROVINCE: 20})
    assert not gate.closed()


async def test_a_gate_closed_for_one_agency_refuses_it_and_serves_the_others() -> None:
    """In one batch: the agency far behind is refused AUDIT_UNAVAILABLE, the other answered."""
    clock, store = Clock(), Store()
    gate = AuditGate(10, clock, agency_of)
    gate.polled(behind())
    for i in range(1, 7):
        clock.now += 2
        gate.polled(behind(bank=2.0 * i))
    province = request(
        agency="demo-province", purpose_code="PUBLIC-SERVICE", legal_basis="Nghị định 45/2020/NĐ-CP, Điều 11"
    )
    batch = [
        incoming(CODEC.encode_request(request()), 0),
        incoming(CODEC.encode_request(province), 1, agency="demo-province"),
    ]
    answers = [CODEC.decode_response(out.value) for out in await gated_handler(gate, store).handle(batch)]
    assert [(a.agency, a.reason_code) for a in answers] == [
        ("demo-bank", "AUDIT_UNAVAILABLE"),
        ("demo-province", None),
    ]
    assert answers[1].status is ResponseStatus.OK and store.calls == 1


async def test_the_gates_refusals_spend_the_agencys_quota() -> None:
    """A flood while the gate is closed is not free: each refusal takes a token of the agency's bucket,
    and those beyond its rate are QUOTA_EXCEEDED, counted as quota used."""
    clock = Clock()
    gate = AuditGate(10, clock, agency_of)
    gate.polled(behind())
    clock.now += 11  # no poll within the bound: closed for every agency
    slow = {
        a.id: a.model_copy(update={"quota": Quota(per_second=2, per_day=1000)}) if a.id == "demo-bank" else a
        for a in DIRECTORY.agencies()
    }
    registry = CollectorRegistry()
    handler = ResolverHandler(
        CODEC,
        FileAgencyDirectory(slow),
        cast(PopulationStore, Store()),
        NAMES,
        ResolverMetrics(registry),
        HandlerOptions(gate=gate),
    )
    batch = [incoming(CODEC.encode_request(request()), i) for i in range(5)]
    answers = [CODEC.decode_response(out.value) for out in await handler.handle(batch)]
    assert [a.reason_code for a in answers] == ["AUDIT_UNAVAILABLE"] * 2 + ["QUOTA_EXCEEDED"] * 3
    assert registry.get_sample_value("dancu_resolver_quota_used_total", {"agency": "demo-bank"}) == 2
