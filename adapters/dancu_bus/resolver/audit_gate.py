"""No exchange without a log: whether the resolver may serve an agency, from the audit group's lag; pure.

The resolver watches the audit consumer group's lag over the request and response topics it reads
(``dancu_bus.lag``: interpolated on the resolver's own clock, never a record's timestamp, and a tail of
transaction markers is no lag). Each partition belongs to the agency whose exchanges it carries
(``agency_of`` its topic), and the gate is closed for an agency while the oldest of its exchanges that
may not be in the audit topic yet is older than the bound (``DANCU_RESOLVER__AUDIT_MAX_LAG_S``; 0:
never closed). One agency flooding the resolver thus closes the gate for itself, not for the others:

- A partition's lag is believed only as far as the clock explains it: at most the previous poll's
  figure plus the time since. A lag grows no faster than time passes; a jump is the audit's committed
  offset moving onto a transaction marker, which interpolation dates back into the gap before it and
  the next poll's visibility read settles. Such a spike does not close the gate.
- Between polls, and after a poll that failed (broker down, an ACL missing), the last figures are taken
  to grow with the time since, as they would had the audit stopped then: a lag unknown for longer than
  the bound closes the gate for every agency, since nothing shows the log is kept. A failed poll never
  opens it.
- A partition first seen (every partition when the resolver starts) has a lag the monitor cannot date
  yet: its first point is now, whatever waited before. Its agency is refused until a poll shows the
  audit caught up on it: no lag in records (or nothing visible past the committed offset), or the
  committed offset past the end the partition had when first seen. Until the first poll, every agency
  is refused: a restart does not reopen the gate while the audit is down.
- Once closed for an agency, the gate opens again at the first poll that finds every partition of its
  within half the bound: the audit has caught up, not merely crept under the bound, so a lag hovering
  around the bound does not open and close the gate at every poll.

A partition whose topic is no agency's (``agency_of`` gives None) counts for every agency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from dancu_bus.lag import PartitionLag
from dancu_bus.reasons import Reason, Rejection

__all__ = ["AuditGate"]

Key = tuple[str, int]
_NAMED = 5  # agencies named in /readyz, the rest counted


def _nobody(topic: str) -> str | None:
    return None


class AuditGate:
    """Closed for an agency while the audit may be further behind on its exchanges than ``max_lag_s``
    (0: always open)."""

    def __init__(
        self,
        max_lag_s: float,
        clock: Callable[[], float],
        agency_of: Callable[[str], str | None] = _nobody,
    ) -> None:
        self._bound = max_lag_s
        self._clock = clock
        self._agency_of = agency_of
        self._believed: dict[Key, float] = {}
        self._owner: dict[Key, str | None] = {}
        # Partitions not yet shown caught up, with the end each had when first seen.
        self._unproven: dict[Key, int] = {}
        self._at = clock()  # when the lag was last measured
        self._polled = False  # no poll succeeded yet: nothing is known, every agency is refused
        self._lag: dict[str | None, float] = {}  # each agency's lag at ``_at``
        self._failing_since: float | None = None
        self._latched: set[str | None] = set()  # closed until a poll finds the audit caught up on them

    @property
    def max_lag_s(self) -> float:
        """The bound; 0 when the gate is off."""
        return self._bound

    def polled(
        self, lags: Mapping[Key, PartitionLag] | None, latest: Mapping[Key, int] | None = None
    ) -> None:
        """A poll of the audit group's lag and each partition's end (its last stable offset), or None when
        it could not be read. Without ``latest`` a partition is shown caught up only by no lag at all."""
        now = self._clock()
        if lags is None:
            self._failing_since = now if self._failing_since is None else self._failing_since
            return
        ends = latest or {}
        elapsed = max(0.0, now - self._at)
        # The lag only grows between polls, so whether it was closed up to now is whether it is closed now.
        was_closed = {a for a in self._agencies(lags) if self._closed_at(a, elapsed)}
        self._believed = {
            tp: min(lag.seconds, self._believed.get(tp, 0.0) + elapsed) for tp, lag in lags.items()
        }
        unproven = {tp: self._unproven.get(tp, ends.get(tp, 0)) for tp in lags if self._new(tp)}
        self._owner = {tp: self._owner.get(tp) or self._agency_of(tp[0]) for tp in lags}
        self._unproven = {
            tp: end for tp, end in unproven.items() if not _caught_up(lags[tp], ends.get(tp), end)
        }
        self._lag = {}
        for tp, seconds in self._believed.items():
            owner = self._owner[tp]
            self._lag[owner] = max(self._lag.get(owner, 0.0), seconds)
        self._at, self._failing_since, self._polled = now, None, True
        self._latched = {a for a in was_closed if self._own_lag(a) > self._bound / 2}

    def lag_s(self, agency: str | None = None) -> float:
        """How old the oldest exchange of ``agency`` (None: of any) that may not be in the audit topic yet
        is, at most."""
        own = max(self._lag.values(), default=0.0) if agency is None else self._own_lag(agency)
        return own + max(0.0, self._clock() - self._at)

    def closed(self, agency: str | None = None) -> bool:
        """Whether new requests of ``agency`` (None: of at least one agency) are refused."""
        if self._bound <= 0:
            return False
        if agency is None:
            return any(self._closed_at(a, self._elapsed()) for a in {None, *self._agencies({})})
        return self._closed_at(agency, self._elapsed())

    def refusal(self, agency: str) -> Rejection | None:
        """The refusal of a new request of ``agency`` while the gate is closed for it, else None."""
        if not self.closed(agency):
            return None
        if not self._polled or self._unproven_of(agency):
            detail = f"the exchange log is not shown caught up yet, at most {self._bound:g} s behind allowed"
        else:
            detail = (
                f"the exchange log is {self.lag_s(agency):.0f} s behind, at most {self._bound:g} s allowed"
            )
        return Rejection(Reason.AUDIT_UNAVAILABLE, detail)

    def problem(self) -> str | None:
        """Why the resolver refuses, for /readyz; None while it serves every agency."""
        if not self.closed():
            return None
        elapsed = self._elapsed()
        closed = sorted(a for a in self._agencies({}) if a is not None and self._closed_at(a, elapsed))
        every = self._closed_at(None, elapsed)
        whom = "every agency" if every else _names(closed)
        if self._failing_since is not None:
            cause = f"the audit group's lag could not be read for {self._clock() - self._failing_since:.0f} s"
        elif not self._polled:
            cause = "the audit group's lag has not been read yet"
        elif every:
            cause = f"the audit is {self.lag_s():.0f} s behind"
        else:
            behind = max(self.lag_s(a) for a in closed)
            unproven = any(self._unproven_of(a) for a in closed)
            cause = (
                "the audit is not shown caught up on their exchanges since the resolver started"
                if unproven and behind <= self._bound
                else f"the audit is {behind:.0f} s behind on their exchanges"
            )
        return f"refusing new requests AUDIT_UNAVAILABLE of {whom}: {cause} (bound {self._bound:g} s)"

    def _elapsed(self) -> float:
        return max(0.0, self._clock() - self._at)

    def _agencies(self, lags: Iterable[Key]) -> set[str | None]:
        """The agencies known from earlier polls and from ``lags``' partitions."""
        return {*self._owner.values(), *(self._owner.get(tp) or self._agency_of(tp[0]) for tp in lags)}

    def _new(self, tp: Key) -> bool:
        """Whether ``tp`` is not yet shown caught up: first seen now, or unproven since."""
        return tp not in self._owner or tp in self._unproven

    def _own_lag(self, agency: str | None) -> float:
        """``agency``'s lag at the last poll (with that of the partitions that are no agency's)."""
        own = self._lag.get(agency, 0.0)
        return own if agency is None else max(own, self._lag.get(None, 0.0))

    def _unproven_of(self, agency: str | None) -> bool:
        return any(self._owner.get(tp) in (agency, None) for tp in self._unproven)

    def _closed_at(self, agency: str | None, elapsed: float) -> bool:
        """Whether ``agency`` is refused ``elapsed`` after the last poll (None: what closes for all)."""
        if not self._polled:
            return True
        if agency in self._latched or None in self._latched or self._unproven_of(agency):
            return True
        return self._own_lag(agency) + elapsed > self._bound


def _caught_up(lag: PartitionLag, end: int | None, first_end: int) -> bool:
    """Whether a poll shows the audit caught up on a partition: no lag in records (nothing visible
    counts as none), or its committed offset (the end less the lag) past the end first seen."""
    return lag.records == 0 or (end is not None and end - lag.records >= first_end)


def _names(agencies: list[str]) -> str:
    shown = ", ".join(agencies[:_NAMED])
    return shown if len(agencies) <= _NAMED else f"{shown} and {len(agencies) - _NAMED} more"
