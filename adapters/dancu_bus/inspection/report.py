"""The inspection report of one agency over a period (Art. 10, 14.2.e), folded from its audit records. Pure.

What it counts, and the rules it applies (stated in the report itself, ``Rules``):

- **Days** are calendar days in Vietnam time (UTC+7); the period runs from the first day's 00:00 to
  the end of the last day, both included.
- **Out of hours**: an exchange received outside ``WORKING_HOURS`` (07:00–18:00, Monday to Friday,
  Vietnam time). Public holidays are not known to the report and count as working days.
- **Unusual volume**: a day whose exchanges exceed ``SPIKE_FACTOR`` (3) times the median of the
  agency's active days in the period (days with at least one exchange): the agency's own usual
  volume, not a platform-wide threshold.
- **Quota hits**: exchanges refused ``QUOTA_EXCEEDED`` (``dancu_bus.reasons``).
- **Hidden from the citizen**: exchanges whose request an agency marked hidden from the citizen's
  access history until a date, by the mark's legal basis, with the earliest and latest of those dates;
  a mark refused as such (``HIDING_REFUSALS``) hid nothing and is counted among the refusals only.
- **Usage reports** (Art. 14.1.b): the registry changes ``USAGE_REPORT_REQUEST`` and
  ``USAGE_REPORT_ANSWER`` of the period (``dancu_bus.registry.usage_reports``), and how many requests
  are still unanswered when the report is made; every other change of the agency's record in the
  period is a registry change (suspensions, resumptions, scope changes…).

Every value the report groups by that an agency chose (operation names, purpose codes) is an agency
string: at most ``MAX_KEYS`` distinct ones are kept per dimension, the rest are counted under
``OTHER_KEY``, so no agency can make a report grow without bound. Fields disclosed come from the
resolver's answers, which disclose only registered purposes' fields.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

from dancu_bus.agencies import Agency, Change
from dancu_bus.contracts import AuditRecord
from dancu_bus.reasons import HIDING_REFUSALS, Reason
from dancu_bus.registry.usage_reports import USAGE_REPORT_ANSWER, USAGE_REPORT_REQUEST, open_usage_requests
from dancu_bus.timestamps import VIETNAM, aware

__all__ = [
    "MAX_KEYS",
    "MAX_PERIOD_DAYS",
    "OTHER_KEY",
    "QUOTA_REASON",
    "SPIKE_FACTOR",
    "USAGE_REPORT_ACTIONS",
    "VIETNAM",
    "WORKING_HOURS",
    "AgencyFacts",
    "ChainStatement",
    "HiddenRequests",
    "Period",
    "Report",
    "ReportBuilder",
    "Rules",
    "UnusualDay",
    "WorkingHours",
    "build_report",
]


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Office hours in Vietnam time: from ``start`` to ``end`` on ``weekdays`` (Monday is 0)."""

    start: time
    end: time
    weekdays: frozenset[int]

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` falls within working hours, read in Vietnam time."""
        local = moment.astimezone(VIETNAM)
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end

    def describe(self) -> str:
        """The rule in words, for the report."""
        days = (
            "Monday to Friday"
            if self.weekdays == frozenset(range(5))
            else f"weekdays {sorted(self.weekdays)}"
        )
        return f"{self.start:%H:%M}–{self.end:%H:%M}, {days}, Vietnam time (UTC+7)"


WORKING_HOURS = WorkingHours(time(7, 0), time(18, 0), frozenset(range(5)))
SPIKE_FACTOR = 3.0
QUOTA_REASON = Reason.QUOTA_EXCEEDED.value
USAGE_REPORT_ACTIONS = frozenset({USAGE_REPORT_REQUEST, USAGE_REPORT_ANSWER})
MAX_KEYS = 50
OTHER_KEY = "(other)"
# An inspection covers six months (Art. 10); a report of more than two years is a mistake of dates.
MAX_PERIOD_DAYS = 731


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules a report applied, stated in it."""

    working_hours: WorkingHours = WORKING_HOURS
    spike_factor: float = SPIKE_FACTOR
    quota_reason: str = QUOTA_REASON

    def lines(self) -> tuple[str, ...]:
        """The rules in words."""
        return (
            "Days are calendar days in Vietnam time (UTC+7). "
            f"Working hours: {self.working_hours.describe()}; public holidays count as working days.",
            f"Unusual volume: a day with more than {self.spike_factor:g} × the median of the agency's active "
            "days in the period (days with at least one exchange).",
            f"Quota hits: exchanges refused {self.quota_reason}.",
            "Hidden from the citizen: exchanges an agency marked hidden from the citizen's access history "
            "until a date, by the mark's legal basis (a mark refused as such is not counted).",
        )


@dataclass(frozen=True, slots=True)
class Period:
    """Calendar days ``first`` to ``last``, both included, in Vietnam time."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")
        if (self.last - self.first).days >= MAX_PERIOD_DAYS:
            raise ValueError(
                f"a report covers at most {MAX_PERIOD_DAYS} days, not {self.first} to {self.last}"
            )

    @property
    def start(self) -> datetime:
        """The first day's 00:00 in Vietnam time, as UTC."""
        return datetime.combine(self.first, time(0), VIETNAM).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The day after the last day, 00:00 in Vietnam time, as UTC (excluded)."""
        return datetime.combine(self.last + timedelta(days=1), time(0), VIETNAM).astimezone(UTC)

    def days(self) -> tuple[date, ...]:
        """Every day of the period."""
        return tuple(self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1))

    def holds(self, moment: datetime) -> bool:
        """Whether ``moment`` is in the period."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class ChainStatement:
    """Whether the audit chain (and its signed checkpoints) verified for the period, with the details.

    ``checkpoints_verified`` is None when no signed checkpoint was checked; the report says so.
    """

    chain_verified: bool
    lines: tuple[str, ...]
    checkpoints_verified: bool | None = None

    @property
    def verified(self) -> bool:
        """The chain verified and no checkpoint failed."""
        return self.chain_verified and self.checkpoints_verified is not False


@dataclass(frozen=True, slots=True)
class AgencyFacts:
    """What the report shows of the agency's registry record."""

    id: str
    name: str
    code: str | None
    status: str
    status_reason: str | None
    quota_per_second: float
    quota_per_day: int

    @classmethod
    def of(cls, agency: Agency) -> AgencyFacts:
        """The facts of a registry record."""
        quota = agency.quota
        return cls(
            agency.id,
            agency.name,
            agency.code,
            agency.status.value,
            agency.status_reason,
            quota.per_second,
            quota.per_day,
        )


@dataclass(frozen=True, slots=True)
class UnusualDay:
    """A day far above the agency's usual volume."""

    day: date
    count: int
    median: float


@dataclass(frozen=True, slots=True)
class HiddenRequests:
    """Exchanges of the period hidden from the citizen under one legal basis: how many, until when."""

    legal_basis: str
    count: int
    first_until: datetime
    last_until: datetime


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the report states, as counts keyed by plain values; renderers only lay it out."""

    agency: AgencyFacts
    period: Period
    generated_at: datetime
    rules: Rules
    chain: ChainStatement
    by_day: Mapping[tuple[date, str, str], int]  # (day, operation, status) → exchanges
    refusals: Mapping[str, int]  # reason → exchanges refused for it
    disclosed: Mapping[tuple[str, str], int]  # (purpose, field) → exchanges that disclosed it
    out_of_hours: Mapping[date, int]
    quota_hits: Mapping[date, int]
    unusual_days: tuple[UnusualDay, ...]
    median_daily: float
    registry_changes: tuple[Change, ...]
    usage_reports: tuple[Change, ...]
    usage_requests_open: int  # requests of any time not answered when the report was made
    hidden: tuple[HiddenRequests, ...] = ()  # by legal basis, most exchanges first

    @property
    def total(self) -> int:
        """Exchanges of the agency in the period."""
        return sum(self.by_day.values())

    def daily_totals(self) -> dict[date, int]:
        """Exchanges per day, every day of the period (zero included)."""
        totals = dict.fromkeys(self.period.days(), 0)
        for (day, _, _), count in self.by_day.items():
            totals[day] += count
        return totals

    def by_status(self) -> Counter[str]:
        """Exchanges per outcome (OK, REJECTED, UNANSWERED…)."""
        totals: Counter[str] = Counter()
        for (_, _, status), count in self.by_day.items():
            totals[status] += count
        return totals

    def by_operation(self) -> Counter[tuple[str, str]]:
        """Exchanges per (operation, outcome)."""
        totals: Counter[tuple[str, str]] = Counter()
        for (_, operation, status), count in self.by_day.items():
            totals[operation, status] += count
        return totals


class _Capped:
    """Values of one agency-chosen dimension: those registered always, then the first ``MAX_KEYS`` other
    distinct ones, then ``OTHER_KEY``: made-up values sent first cannot push the real ones out."""

    def __init__(self, registered: Iterable[str] = ()) -> None:
        self._registered = frozenset(registered)
        self._seen: set[str] = set()

    def key(self, value: str) -> str:
        if value in self._registered or value in self._seen:
            return value
        if len(self._seen) < MAX_KEYS:
            self._seen.add(value)
            return value
        return OTHER_KEY


@dataclass
class ReportBuilder:
    """Folds an agency's audit records one at a time, so a report of millions of records needs no list."""

    agency: str
    period: Period
    rules: Rules = Rules()
    by_day: Counter[tuple[date, str, str]] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    disclosed: Counter[tuple[str, str]] = field(default_factory=Counter)
    out_of_hours: Counter[date] = field(default_factory=Counter)
    quota_hits: Counter[date] = field(default_factory=Counter)
    _operations: _Capped = field(default_factory=_Capped)
    _purposes: _Capped = field(default_factory=_Capped)
    _hidden: dict[str, HiddenRequests] = field(default_factory=dict)
    _bases: _Capped = field(default_factory=_Capped)

    @classmethod
    def of(cls, agency: Agency, period: Period, rules: Rules = Rules()) -> ReportBuilder:
        """A builder for ``agency``: its granted operations and registered purposes always keep their rows."""
        return cls(
            agency.id,
            period,
            rules,
            _operations=_Capped(str(name) for name in agency.operations),
            _purposes=_Capped(agency.purposes),
        )

    def add(self, record: AuditRecord) -> None:
        """Count one record; one of another agency or outside the period is not the report's."""
        if record.agency != self.agency or not self.period.holds(record.received_at):
            return
        day = record.received_at.astimezone(VIETNAM).date()
        self.by_day[day, self._operations.key(record.operation), record.status] += 1
        if record.reason_code is not None:
            self.refusals[record.reason_code] += 1
            if record.reason_code == self.rules.quota_reason:
                self.quota_hits[day] += 1
        if record.fields_disclosed:
            purpose = self._purposes.key(record.purpose_code)
            for name in record.fields_disclosed:
                self.disclosed[purpose, name] += 1
        if not self.rules.working_hours.covers(record.received_at):
            self.out_of_hours[day] += 1
        self._add_hidden(record)

    def _add_hidden(self, record: AuditRecord) -> None:
        """Count a record's mark hiding it from the citizen, unless it had none or it was refused as such."""
        until = record.hidden_until
        if until is None or record.reason_code in HIDING_REFUSALS:
            return
        basis = self._bases.key(record.hiding_legal_basis or "")
        seen = self._hidden.get(basis)
        self._hidden[basis] = (
            HiddenRequests(basis, 1, until, until)
            if seen is None
            else HiddenRequests(
                basis, seen.count + 1, min(seen.first_until, until), max(seen.last_until, until)
            )
        )

    def report(self, agency: Agency, chain: ChainStatement, generated_at: datetime) -> Report:
        """The report, with the agency's registry changes in the period and the chain's statement."""
        changes = tuple(c for c in agency.history if self.period.holds(aware(c.at)))
        usage = tuple(c for c in changes if c.action in USAGE_REPORT_ACTIONS)
        usual, unusual = self._unusual()
        return Report(
            agency=AgencyFacts.of(agency),
            period=self.period,
            generated_at=generated_at,
            rules=self.rules,
            chain=chain,
            by_day=dict(self.by_day),
            refusals=dict(self.refusals),
            disclosed=dict(self.disclosed),
            out_of_hours=dict(self.out_of_hours),
            quota_hits=dict(self.quota_hits),
            unusual_days=unusual,
            median_daily=usual,
            registry_changes=tuple(c for c in changes if c not in usage),
            usage_reports=usage,
            usage_requests_open=len(open_usage_requests(agency)),
            hidden=tuple(sorted(self._hidden.values(), key=lambda h: (-h.count, h.legal_basis))),
        )

    def _unusual(self) -> tuple[float, tuple[UnusualDay, ...]]:
        """The median of the active days, and the days above ``spike_factor`` times it."""
        totals: Counter[date] = Counter()
        for (day, _, _), count in self.by_day.items():
            totals[day] += count
        if not totals:
            return 0.0, ()
        usual = float(median(totals.values()))
        bound = self.rules.spike_factor * usual
        return usual, tuple(UnusualDay(d, n, usual) for d, n in sorted(totals.items()) if n > bound)


def build_report(
    agency: Agency,
    period: Period,
    records: Iterable[AuditRecord],
    chain: ChainStatement,
    generated_at: datetime,
    rules: Rules = Rules(),
) -> Report:
    """The report of ``agency`` over ``period`` from its audit records (others' are ignored)."""
    builder = ReportBuilder.of(agency, period, rules)
    for record in records:
        builder.add(record)
    return builder.report(agency, chain, generated_at)
