"""The faults, each injected once the stream is under way (DESIGN.md §5: crash, restart, rebalance).

Each scenario starts from a resolver and an audit consumer that are both serving, while requests are
still being produced, and does its damage once a third of them are answered (the rebalance begins
at a quarter and ends at a half). It returns once the damage is done and the system is whole again;
the harness then waits for every answer and audit record.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from dancu_bus.dev import start_broker, stop_broker
from dancu_bus.dev.broker import broker_home
from dancu_bus.dev.traffic import KeyTally
from dancu_bus.errors import BrokerError
from dancu_bus.faults.outage import lock_store
from dancu_bus.faults.stage import SESSION_TIMEOUT_S, Stage
from dancu_bus.settings import BrokerSettings

__all__ = ["SCENARIOS", "Progress", "Scenario"]

T = TypeVar("T")

STORE_OUTAGE_S = 5.0


class Progress:
    """How far the stream is: requests in all, how many are answered and audited, when the fault came."""

    def __init__(self, total: int, answered: Callable[[], int], audited: Callable[[], int]) -> None:
        self.total = total
        self.answered = answered
        self.audited = audited
        self.fault_at: int | None = None

    @classmethod
    def of(cls, ids: Sequence[bytes], answered: KeyTally, audited: KeyTally) -> Progress:
        """The progress of requests ``ids``, from tallies of the response and audit topics."""
        return cls(len(ids), lambda: answered.seen(ids), lambda: audited.seen(ids))

    def mark(self) -> None:
        """The fault is being injected now: remember how many requests were answered at that moment."""
        if self.fault_at is None:
            self.fault_at = self.answered()

    def wait_answered(self, fraction: float, timeout_s: float = 600) -> None:
        """Wait until ``fraction`` of the requests have a committed response."""
        self._wait(self.answered, fraction, timeout_s)

    def wait_audited(self, fraction: float, timeout_s: float = 600) -> None:
        """Wait until ``fraction`` of the requests have an audit record."""
        self._wait(self.audited, fraction, timeout_s)

    def _wait(self, count: Callable[[], int], fraction: float, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while count() < fraction * self.total:
            if time.monotonic() > deadline:
                raise BrokerError(f"the stream did not reach {fraction:.0%} within {timeout_s:g} s")
            time.sleep(0.2)


@dataclass(frozen=True)
class Scenario(Generic[T]):
    """A named fault and how to inject it into the stage and ``T`` (the broker's or the cluster's settings);
    ``through_sdk``: the traffic is applications using the SDK."""

    name: str
    title: str
    inject: Callable[[Stage, Progress, T], None]
    through_sdk: bool = False


def _kill_resolver(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 3)
    progress.mark()
    stage.running("resolver")[0].kill()
    stage.start("resolver")


def _freeze_resolver(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    """A resolver frozen past its session timeout, another taking over, then the frozen one resumed:
    whatever it was writing when it froze commits with the offsets of a generation that is over,
    which the group coordinator refuses (KIP-447), so its transaction aborts."""
    progress.wait_answered(1 / 3)
    frozen = stage.running("resolver")[0]
    progress.mark()
    frozen.freeze()
    try:
        stage.start("resolver")  # ready once the group gave up on the frozen one and moved its partitions
        progress.wait_answered(1 / 2)
    finally:
        frozen.thaw()
    time.sleep(2 * SESSION_TIMEOUT_S)  # it finds itself out of the group, and rejoins


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


def _kill_broker(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 3)
    progress.mark()
    pid = int((broker_home(broker) / "broker.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    start_broker(broker)


def _kill_client(stage: Stage, progress: Progress, broker: BrokerSettings) -> None:
    progress.wait_answered(1 / 3)
    progress.mark()
    application = stage.applications[0]
    application.kill()
    time.sleep(2.0)  # answers to what it sent arrive meanwhile, with nobody reading them
    application.restart()


SCENARIOS: dict[str, Scenario[BrokerSettings]] = {
    s.name: s
    for s in (
        Scenario("resolver-kill", "resolver SIGKILL, restarted", _kill_resolver),
        Scenario("resolver-freeze", "resolver SIGSTOP past its session, SIGCONT", _freeze_resolver),
        Scenario("broker-restart", "broker stopped and restarted", _restart_broker),
        Scenario("rebalance", "2nd resolver joins, 1st leaves", _rebalance),
        Scenario("store-outage", f"store unavailable {STORE_OUTAGE_S:g} s", _store_outage),
        Scenario("audit-kill", "audit SIGKILL, restarted", _kill_audit),
        Scenario("sdk-resolver-kill", "SDK defaults: resolver SIGKILL", _kill_resolver, through_sdk=True),
        Scenario("sdk-broker-kill", "SDK defaults: broker SIGKILL", _kill_broker, through_sdk=True),
        Scenario(
            "sdk-client-kill",
            "SDK defaults: client SIGKILL, restart, collect",
            _kill_client,
            through_sdk=True,
        ),
    )
}
