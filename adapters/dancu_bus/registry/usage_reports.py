"""Usage-report requests (Art. 14.1.b): the database demands an agency's report on how it used the data. Pure.

A request and its answer are entries of the agency's history, so they travel in the registry record as
it is (no new schema field): ``USAGE_REPORT_REQUEST`` (``detail`` = the reason) and
``USAGE_REPORT_ANSWER`` (``document_ref`` = the report the agency delivered). Neither changes the
agency's status: it keeps exchanging while a report is due. Answers close requests oldest first, so
which answer closes which request follows from the order of the history alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dancu_bus.agencies import Agency, AgencyStatus, Change
from dancu_bus.errors import RefusedChange
from dancu_bus.text import printable
from dancu_bus.timestamps import aware

__all__ = [
    "USAGE_REPORT_ANSWER",
    "USAGE_REPORT_REQUEST",
    "UsageRequest",
    "answer_usage_report",
    "open_usage_requests",
    "request_usage_report",
    "usage_requests",
]

USAGE_REPORT_REQUEST = "USAGE_REPORT_REQUEST"
USAGE_REPORT_ANSWER = "USAGE_REPORT_ANSWER"

# Bounds on what an operator types, so a record (read into every service's memory) and the inspection
# report that quotes it stay small; a document reference is a number and a date, a reason a sentence or two.
MAX_REFERENCE = 120
MAX_REASON = 1000

# A request can be made of an agency that holds a connection; an answer may still come after one ended.
_MAY_BE_ASKED = frozenset({AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED})


@dataclass(frozen=True)
class UsageRequest:
    """One demand for a usage report and, once delivered, the answer that closed it."""

    request: Change
    answer: Change | None = None

    @property
    def is_open(self) -> bool:
        """Whether the report is still due."""
        return self.answer is None

    def days_open(self, now: datetime) -> int:
        """Whole days from the request to its answer, or to ``now`` while it is open."""
        until = self.answer.at if self.answer is not None else now
        return max(0, (aware(until) - aware(self.request.at)).days)  # history times may be naive (UTC)


def request_usage_report(agency: Agency, reason: str, document_ref: str, by: str, now: datetime) -> Agency:
    """The agency asked for its usage report (Art. 14.1.b); its status, and its service, unchanged."""
    if agency.status not in _MAY_BE_ASKED:
        raise RefusedChange(
            f"cannot request a usage report of {agency.id}: it is {agency.status.value}; "
            "only an ACTIVE or SUSPENDED agency holds a connection to report on"
        )
    _check_text("--reason", reason, MAX_REASON)
    change = _change(USAGE_REPORT_REQUEST, document_ref, by, now, detail=reason)
    return agency.model_copy(update={"history": (*agency.history, change)})


def answer_usage_report(agency: Agency, document_ref: str, by: str, now: datetime) -> Agency:
    """The agency delivered the report ``document_ref``: it answers the oldest open request."""
    pending = open_usage_requests(agency)
    if not pending:
        raise RefusedChange(
            f"{agency.id} has no open usage-report request to answer; "
            f"record the demand first with: dancu-bus agency usage-request {agency.id} --reason …"
        )
    oldest = pending[0].request
    detail = f"answers {oldest.document_ref} of {oldest.at.date().isoformat()}"
    change = _change(USAGE_REPORT_ANSWER, document_ref, by, now, detail=detail)
    return agency.model_copy(update={"history": (*agency.history, change)})


def usage_requests(agency: Agency) -> tuple[UsageRequest, ...]:
    """Every usage-report request in the agency's history, oldest first, each with its answer if any."""
    requests: list[UsageRequest] = []
    answered = 0
    for change in agency.history:
        if change.action == USAGE_REPORT_REQUEST:
            requests.append(UsageRequest(change))
        elif change.action == USAGE_REPORT_ANSWER and answered < len(requests):
            # An answer without an open request cannot be written by answer_usage_report; one in a
            # record edited by other means closes nothing rather than a request made after it.
            requests[answered] = UsageRequest(requests[answered].request, change)
            answered += 1
    return tuple(requests)


def open_usage_requests(agency: Agency) -> tuple[UsageRequest, ...]:
    """The requests still waiting for a report, oldest first."""
    return tuple(r for r in usage_requests(agency) if r.is_open)


def _change(action: str, document_ref: str, by: str, now: datetime, detail: str) -> Change:
    _check_text("--document", document_ref, MAX_REFERENCE)
    _check_text("--by", by, MAX_REFERENCE)
    return Change(at=now, by=by, document_ref=document_ref, action=action, detail=detail)


def _check_text(option: str, value: str, limit: int) -> None:
    if not value.strip():
        raise RefusedChange(f"{option} is empty: give the text to record")
    if len(value) > limit:
        raise RefusedChange(f"{option} has {len(value)} characters; at most {limit} are recorded")
    if not printable(value):
        raise RefusedChange(f"{option} holds control or formatting characters; type it as plain text")
