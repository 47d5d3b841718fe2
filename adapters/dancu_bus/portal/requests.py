"""What the public service portal asks for a citizen, read from its record and bounded in every field. Pure.

The portal authenticates the account; the adapter trusts who it says the account is bound to, but
nothing else about the message: each field is checked before it reaches a query, a key or a log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dancu_bus.timestamps import aware

__all__ = [
    "MAX_CURSOR",
    "AccountType",
    "HistoryAsk",
    "Invalid",
    "PortalRequest",
    "Service",
    "request_from",
]

_SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_PERSONAL_ID = re.compile(r"[0-9]{12}")
# The audit index refuses longer cursors; a portal cursor is that one, passed through.
MAX_CURSOR = 512
_LEVELS = (1, 2)


class AccountType(StrEnum):
    """How the citizen signed in to the portal (Art. 9)."""

    PORTAL_ACCOUNT = "PORTAL_ACCOUNT"  # an account of the national public service portal
    VNEID = "VNEID"  # an electronic identity account (Decree 69/2024)


class Service(StrEnum):
    """The portal's services the adapter answers."""

    CITIZEN_INFO = "CITIZEN_INFO"  # "Tìm kiếm thông tin công dân": the citizen's own record
    ACCESS_HISTORY = "ACCESS_HISTORY"  # who read the citizen's data, when and why (level 2)


@dataclass(frozen=True, slots=True)
class HistoryAsk:
    """Which page of the access history: a period (start ≤ received_at < end), a cursor, a page size."""

    start: datetime
    end: datetime
    cursor: str | None
    page_size: int  # already capped to the adapter's maximum


@dataclass(frozen=True, slots=True)
class PortalRequest:
    """One request of the portal on behalf of the person its session is bound to."""

    request_id: str
    session_id: str
    account_type: AccountType
    assurance_level: int
    account_personal_id: str
    service: Service
    personal_id: str  # CITIZEN_INFO: the id asked for (the account's own unless another was asked)
    history: HistoryAsk | None  # ACCESS_HISTORY only
    sent_at: datetime


class Invalid(ValueError):
    """A request field the adapter refuses: ``field`` names it, ``detail`` says what is wrong."""

    def __init__(self, field: str, detail: str, request_id: str = "", session_id: str = "") -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail
        # What is known of the request to answer it with (empty when that field itself is bad).
        self.request_id = request_id
        self.session_id = session_id


def request_from(record: Mapping[str, Any], max_page_size: int) -> PortalRequest:
    """The request a decoded ``vn.dancu.PortalRequest`` record is; Invalid names the first bad field."""
    request_id = _request_id(record["request_id"])
    session_id = _session_id(record["session_id"], request_id)
    known = {"request_id": request_id, "session_id": session_id}
    level = record["assurance_level"]
    if level not in _LEVELS:
        raise Invalid("assurance_level", "must be 1 or 2 (Decree 69/2024)", **known)
    bound = _personal_id("account_personal_id", record["account_personal_id"], known)
    service = Service(record["service"])
    asked = record.get("personal_id")
    return PortalRequest(
        request_id=request_id,
        session_id=session_id,
        account_type=AccountType(record["account_type"]),
        assurance_level=level,
        account_personal_id=bound,
        service=service,
        personal_id=bound if asked is None else _personal_id("personal_id", asked, known),
        history=_history(record, max_page_size, known) if service is Service.ACCESS_HISTORY else None,
        sent_at=aware(record["sent_at"]),
    )


def _request_id(value: str) -> str:
    if len(value) > 36:
        raise Invalid("request_id", "must be a UUID")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Invalid("request_id", "must be a UUID") from None


def _session_id(value: str, request_id: str) -> str:
    if not _SESSION_ID.fullmatch(value):
        raise Invalid("session_id", "must be 1 to 100 characters of [A-Za-z0-9._:-]", request_id)
    return value


def _personal_id(field: str, value: str, known: Mapping[str, str]) -> str:
    if not _PERSONAL_ID.fullmatch(value):
        raise Invalid(field, "must be a personal id of 12 digits", **known)
    return value


def _history(record: Mapping[str, Any], max_page_size: int, known: Mapping[str, str]) -> HistoryAsk:
    start, end = record.get("period_start"), record.get("period_end")
    if start is None or end is None:
        raise Invalid("period_start", "ACCESS_HISTORY needs period_start and period_end", **known)
    if not aware(start) < aware(end):
        raise Invalid("period_end", "must be after period_start", **known)
    cursor = record.get("cursor")
    if cursor is not None and not 0 < len(cursor) <= MAX_CURSOR:
        raise Invalid("cursor", "pass the next_cursor of the previous page of the same period", **known)
    page_size = record.get("page_size", 20)
    if page_size < 1:
        raise Invalid("page_size", f"must be 1 or more (at most {max_page_size} are sent)", **known)
    return HistoryAsk(aware(start), aware(end), cursor, min(page_size, max_page_size))
