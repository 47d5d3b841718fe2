"""The faults, each injected once the stream is under way (DESIGN.md §5: crash, restart, rebalance).

Each scenario starts from a resolver and an audit consumer that are both serving, while requests are
still being produced, and does its damage once a third of them are answered (the rebalance begins
at a quarter and ends at a half). It returns once the damage is done and the system is whole again;
the harness then waits for every answer and audit record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dancu_bus.admin import start_broker, stop_broker
from dancu_bus.admin.traffic import KeyTally
from dancu_bus.errors import BrokerError
from dancu_bus.faults.outage import lock_store
from dancu_bus.faults.stage import Stage
from dancu_bus.settings import BrokerSettings

__all__ = ["SCENARIOS", "Progress", "Scenario"]

STORE_OUTAGE_S = 5.0


class Progress:
    """How far the stream is: request ids sent, the tallies of answers and audit records, the fault's time."""

    def __init__(self, ids: Sequence[bytes], answered: KeyTally, audited: KeyTally) -> None:
        self.ids = ids
        self.answered = answered
        self.audited = audited
        self.fault_at: int | None = None

    def mark(self) -> None:
        """The fault is being injected now: remember how many requests were answered at that moment."""
        if self.fault_at is None:
            self.fault_at = self.answered.seen(self.ids)

    def wait_answered(self, fraction: float, timeout_s: float = 600) -> None:
        """Wait until ``fraction`` of the requests have a committed response."""
        self._wait(self.answered, fraction, timeout_s)

    def wait_audited(self, fraction: float, timeout_s: float = 600) -> None:
        """Wait until ``fraction`` of the requests have an audit record."""
        self._wait(self.audited, fraction, timeout_s)

    def _wait(self, tally: KeyTally, fraction: float, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while tally.seen(self.ids) < fraction * len(self.ids):
            if time.monotonic() > deadline:
                raise BrokerError(f"the stream did not reach {fraction:.0%} within {timeout_s:g} s")
            time.sleep(0.2)


@dataclass(frozen=True)
class Scenario:
    """A named fault and how to inject it."""

    name: str
    title: str
    inject: Callable[[Stage, Progress, BrokerSettings], None]


def _kill_resolver(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 3)
    progress.mark()
    stage.running("resolver")[0].kill()
    stage.start("resolver")


def _restart_broker(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 3)
    progress.mark()
    stop_broker(broker)
    start_broker(broker)


def _rebalance(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 4)
    first = stage.running("resolver")[0]
    progress.mark()
    stage.start("resolver")
    progress.wait_answered(1 / 2)
    first.stop()


def _store_outage(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 3)
    progress.mark()
    with lock_store(stage.settings.store.path, STORE_OUTAGE_S) as locker:
        locker.wait(STORE_OUTAGE_S + 30)


def _kill_audit(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_audited(1 / 3)
    progress.mark()
    stage.running("audit")[0].kill()
    stage.start("audit")


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("resolver-kill", "resolver SIGKILL, restarted", _kill_resolver),
        Scenario("broker-restart", "broker stopped and restarted", _restart_broker),
        Scenario("rebalance", "2nd resolver joins, 1st leaves", _rebalance),
        Scenario("store-outage", f"store unavailable {STORE_OUTAGE_S:g} s", _store_outage),
        Scenario("audit-kill", "audit SIGKILL, restarted", _kill_audit),
    )
}
