"""Suspension, resumption and termination of connections (Art. 11, 12), and maintenance windows. Pure.

The rules follow Decree 47/2020 Art. 43–44 as the circular cites them (since replaced by Decree
278/2025): a planned suspension of all connections for maintenance is announced at least seven
working days ahead.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dancu_bus.agencies import Agency, AgencyStatus, Change
from dancu_bus.errors import RefusedChange
from dancu_bus.registry.platform import MaintenanceWindow, Platform

__all__ = [
    "MAINTENANCE_NOTICE_WORKING_DAYS",
    "resume",
    "schedule_maintenance",
    "suspend",
    "terminate",
    "working_days",
]

MAINTENANCE_NOTICE_WORKING_DAYS = 7
# Fixed-date public holidays (Labour Code 2019, Art. 112). Lunar New Year and the Hùng Kings'
# day move with the lunar calendar and are announced yearly; they are not counted here.
_FIXED_HOLIDAYS = frozenset({(1, 1), (4, 30), (5, 1), (9, 1), (9, 2)})


def working_days(after: date, until: date) -> int:
    """Working days strictly after ``after`` up to and including the day before ``until``."""
    day, count = after + timedelta(days=1), 0
    while day < until:
        if day.weekday() < 5 and (day.month, day.day) not in _FIXED_HOLIDAYS:
            count += 1
        day += timedelta(days=1)
    return count


def suspend(agency: Agency, reason: str, document_ref: str, by: str, now: datetime) -> Agency:
    """The agency suspended: its requests are answered REJECTED/SUSPENDED until resumed."""
    _require(agency, {AgencyStatus.ACTIVE}, "suspend")
    return _moved(
        agency,
        AgencyStatus.SUSPENDED,
        reason,
        Change(at=now, by=by, document_ref=document_ref, action="SUSPEND", detail=reason),
    )


def resume(agency: Agency, document_ref: str, by: str, now: datetime) -> Agency:
    """The suspended agency served again."""
    _require(agency, {AgencyStatus.SUSPENDED}, "resume")
    return _moved(
        agency, AgencyStatus.ACTIVE, None, Change(at=now, by=by, document_ref=document_ref, action="RESUME")
    )


def terminate(agency: Agency, reason: str, document_ref: str, by: str, now: datetime) -> Agency:
    """The agency's connection ended for good; its credentials are revoked by the caller."""
    _require(agency, {AgencyStatus.ONBOARDING, AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED}, "terminate")
    return _moved(
        agency,
        AgencyStatus.TERMINATED,
        reason,
        Change(at=now, by=by, document_ref=document_ref, action="TERMINATE", detail=reason),
    )


def schedule_maintenance(platform: Platform, window: MaintenanceWindow, by: str, now: datetime) -> Platform:
    """The platform with every agency suspended during ``window``; needs 7 working days' notice."""
    notice = working_days(now.date(), window.starts_at.date())
    if notice < MAINTENANCE_NOTICE_WORKING_DAYS:
        raise RefusedChange(
            f"a maintenance suspension needs {MAINTENANCE_NOTICE_WORKING_DAYS} working days' notice; "
            f"{window.starts_at.date()} is only {notice} working days after {now.date()}"
        )
    change = Change(
        at=now,
        by=by,
        document_ref=window.document_ref,
        action="SCHEDULE_MAINTENANCE",
        detail=f"{window.starts_at.isoformat()} – {window.ends_at.isoformat()}: {window.reason}",
    )
    return platform.model_copy(
        update={"maintenance": (*platform.maintenance, window), "history": (*platform.history, change)}
    )


def _require(agency: Agency, allowed: set[AgencyStatus], verb: str) -> None:
    if agency.status not in allowed:
        raise RefusedChange(f"cannot {verb} {agency.id}: it is {agency.status.value}")


def _moved(agency: Agency, status: AgencyStatus, reason: str | None, change: Change) -> Agency:
    return agency.model_copy(
        update={"status": status, "status_reason": reason, "history": (*agency.history, change)}
    )
