"""No exchange without a log: whether the resolver may serve, from the audit group's lag; pure.

The resolver watches the audit consumer group's lag over the request and response topics it reads
(``dancu_bus.lag``: interpolated on the resolver's own clock, never a record's timestamp, and a tail of
transaction markers is no lag). The gate is closed while the oldest exchange that may not be in the
audit topic yet is older than the bound (``DANCU_RESOLVER__AUDIT_MAX_LAG_S``; 0: never closed):

- A partition's lag is believed only as far as the clock explains it: at most the previous poll's
  figure plus the time since. A lag grows no faster than time passes; a jump is the audit's committed
  offset moving onto a transaction marker, which interpolation dates back into the gap before it and
  the next poll's visibility read settles. Such a spike does not close the gate.
- Between polls, and after a poll that failed (broker down, an ACL missing), the last figure is taken
  to grow with the time since, as it would had the audit stopped then: a lag unknown for longer than
  the bound closes the gate too, since nothing shows the log is kept. A failed poll never opens it.
- Once closed, the gate opens again at the first poll that finds every partition within half the
  bound: the audit has caught up, not merely crept under the bound, so a lag hovering around the
  bound does not open and close the gate at every poll.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dancu_bus.lag import PartitionLag
from dancu_bus.reasons import Reason, Rejection

__all__ = ["AuditGate"]

Key = tuple[str, int]


class AuditGate:
    """Closed while the audit may be further behind than ``max_lag_s`` (0: always open)."""

    def __init__(self, max_lag_s: float, clock: Callable[[], float]) -> None:
        self._bound = max_lag_s
        self._clock = clock
        self._believed: dict[Key, float] = {}
        self._at = clock()  # when the lag was last measured (at first: nothing lags yet)
        self._lag = 0.0
        self._failing_since: float | None = None
        self._latched = False  # closed until a poll finds the audit caught up

    @property
    def max_lag_s(self) -> float:
        """The bound; 0 when the gate is off."""
        return self._bound

    def polled(self, lags: Mapping[Key, PartitionLag] | None) -> None:
        """A poll of the audit group's lag, or None when it could not be read."""
        now = self._clock()
        if lags is None:
            self._failing_since = now if self._failing_since is None else self._failing_since
            return
        elapsed = max(0.0, now - self._at)
        # The lag only grows between polls, so whether it was closed up to now is whether it is closed now.
        was_closed = self._latched or self._lag + elapsed > self._bound
        self._believed = {
            tp: min(lag.seconds, self._believed.get(tp, 0.0) + elapsed) for tp, lag in lags.items()
        }
        self._lag = max(self._believed.values(), default=0.0)
        self._at, self._failing_since = now, None
        self._latched = was_closed and self._lag > self._bound / 2

    def lag_s(self) -> float:
        """How old the oldest exchange that may not be in the audit topic yet is, at most."""
        return self._lag + max(0.0, self._clock() - self._at)

    def closed(self) -> bool:
        """Whether new requests are refused."""
        return self._bound > 0 and (self._latched or self.lag_s() > self._bound)

    def refusal(self) -> Rejection | None:
        """The refusal of every new request while the gate is closed, else None."""
        if not self.closed():
            return None
        return Rejection(
            Reason.AUDIT_UNAVAILABLE,
            f"the exchange log is {self.lag_s():.0f} s behind, at most {self._bound:g} s allowed",
        )

    def problem(self) -> str | None:
        """Why the resolver refuses, for /readyz; None while it serves."""
        if not self.closed():
            return None
        cause = (
            f"the audit group's lag could not be read for {self._clock() - self._failing_since:.0f} s"
            if self._failing_since is not None
            else f"the audit is {self.lag_s():.0f} s behind"
        )
        return f"refusing new requests AUDIT_UNAVAILABLE: {cause} (bound {self._bound:g} s)"
