"""The dates and times people give the audit commands (``audit query``, ``audit archive``, ``audit report``).

One reading for all of them, so the same dates give the same records: a bare date is a calendar day in
Vietnam time (UTC+7), as the inspection report and the quotas count days; a datetime is UTC unless it
names its offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from dancu_bus.errors import ConfigError
from dancu_bus.text import quoted
from dancu_bus.timestamps import VIETNAM

__all__ = ["DATE_HELP", "MOMENT_HELP", "parse_day", "parse_moment", "parse_period"]

DATE_HELP = "YYYY-MM-DD (or YYYYMMDD), a day in Vietnam time (UTC+7)"
MOMENT_HELP = f"a date {DATE_HELP}, or an ISO datetime (UTC unless it names its offset, e.g. +07:00)"

# Python reads more as ISO dates than people mean (week dates, ordinal days): only these two are days.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}|\d{8}")
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2}|\d{8})[Tt ]\d")


def parse_day(text: str, option: str) -> date:
    """A calendar day, YYYY-MM-DD or YYYYMMDD; ConfigError naming ``option`` for anything else."""
    if _DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ConfigError(f"{option} {quoted(text)} is not a day: give YYYY-MM-DD (or YYYYMMDD)")


def parse_moment(text: str, option: str, *, end: bool) -> datetime:
    """A moment in UTC: a bare date is the start of that Vietnam day (with ``end``, of the next day).

    A datetime (a date, ``T`` or a space, a time) is UTC unless it names its offset. ConfigError, naming
    ``option`` and the accepted forms, for anything else.
    """
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(0), VIETNAM).astimezone(UTC)
        if _DATETIME.match(text):
            parsed = datetime.fromisoformat(text)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise ConfigError(
        f"{option} {quoted(text)} is not a date (YYYY-MM-DD or YYYYMMDD, a day in Vietnam time, UTC+7) or"
        " an ISO datetime (2026-01-31T08:00:00, UTC unless it names its offset)"
    )


def parse_period(
    start: str | None, end: str | None, first: str = "--from", last: str = "--to"
) -> tuple[datetime | None, datetime | None]:
    """``start`` (included) and ``end`` (excluded; a date: to the end of that day), either may be absent.

    ConfigError when the period is empty: ``start`` at or after ``end``.
    """
    since = None if start is None else parse_moment(start, first, end=False)
    until = None if end is None else parse_moment(end, last, end=True)
    if since is not None and until is not None and since >= until:
        raise ConfigError(
            f"{first} {quoted(start or '')} is not before {last} {quoted(end or '')}"
            f" ({since.isoformat()} ≥ {until.isoformat()} in UTC; a {last} date includes its day):"
            " give an earlier start or a later end"
        )
    return since, until
