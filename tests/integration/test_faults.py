"""The fault harness in its short form: no scenario of `dancu-bus check faults` loses or doubles anything.

Each scenario runs on the harness's own broker (free ports, a home under `.cache/fault-broker`, never the
development broker or the test broker), with the resolver and the audit consumer as child processes,
3,000 requests produced over 8 seconds, and the fault injected once a third are answered.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dancu_bus.errors import DancuError
from dancu_bus.faults import SCENARIOS, FaultOptions, Harness, SingleBroker, fault_broker
from dancu_bus.settings import BrokerSettings, Settings

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(300)]

SHORT = FaultOptions(requests=3_000, seconds=8.0)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness[BrokerSettings]]:
    """The harness with its broker running, for every scenario of this module; the broker stops after."""
    workdir: Path = tmp_path_factory.mktemp("faults")
    running = Harness(SingleBroker(fault_broker()), Settings(), workdir, SHORT)
    try:
        running.start()
    except DancuError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the fault harness's broker did not start: {exc}", pytrace=False)
        pytest.skip(f"the fault harness's broker did not start: {exc}")
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_fault_mid_stream_loses_nothing_and_answers_nothing_twice(
    harness: Harness[BrokerSettings], name: str
) -> None:
    """Once a fault hits mid-stream, every request has exactly one committed response and one audit record."""
    row = harness.run(SCENARIOS[name])
    assert 0 < row.fault_at < row.sent, "the fault did not land in the middle of the stream"
    assert (row.duplicates, row.missing) == (0, 0)
    assert row.received == row.sent and row.audit_records == row.sent and row.chain_intact
    assert row.audited_twice == 0 and row.asked_twice == 0 and row.failed_runs == 0
