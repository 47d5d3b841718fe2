"""The portal adapter's one answer to each request: the record, a history page, or a refusal. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dancu_bus.contracts import DisclosedField
from dancu_bus.portal.requests import Service
from dancu_bus.reasons import Message

__all__ = ["MESSAGES", "AccessEntry", "PortalReason", "PortalResponse", "PortalStatus", "refusal"]


class PortalStatus(StrEnum):
    """Whether the adapter answered the request or refused it."""

    OK = "OK"
    REJECTED = "REJECTED"


class PortalReason(StrEnum):
    """Why the adapter itself refuses a request; the resolver's refusals keep the resolver's codes."""

    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    LEVEL_2_REQUIRED = "LEVEL_2_REQUIRED"
    INVALID_CURSOR = "INVALID_CURSOR"
    NO_ANSWER = "NO_ANSWER"
    HISTORY_UNAVAILABLE = "HISTORY_UNAVAILABLE"


MESSAGES: dict[PortalReason, Message] = {
    PortalReason.MALFORMED_REQUEST: Message(
        "Yêu cầu từ Cổng dịch vụ công không hợp lệ.",
        "The portal's request is malformed.",
    ),
    PortalReason.LEVEL_2_REQUIRED: Message(
        "Dịch vụ này cần tài khoản định danh điện tử VNeID mức độ 2.",
        "This service needs a VNeID electronic identity account of level 2.",
    ),
    PortalReason.INVALID_CURSOR: Message(
        "Con trỏ trang không hợp lệ: hãy dùng con trỏ của trang trước trong cùng khoảng thời gian.",
        "The page cursor is invalid: pass the cursor of the previous page of the same period.",
    ),
    PortalReason.NO_ANSWER: Message(
        "Cơ sở dữ liệu quốc gia về dân cư chưa trả lời kịp; vui lòng thử lại sau.",
        "The National Population Database did not answer in time; please try again later.",
    ),
    PortalReason.HISTORY_UNAVAILABLE: Message(
        "Lịch sử khai thác dữ liệu tạm thời không tra cứu được; vui lòng thử lại sau.",
        "The access history cannot be searched right now; please try again later.",
    ),
}


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One exchange about the citizen: when, which agency (name and official code), what and why, outcome."""

    received_at: datetime
    agency: str
    agency_name: str
    agency_code: str | None
    operation: str
    purpose_code: str
    legal_basis: str
    fields_disclosed: tuple[str, ...]
    status: str
    reason_code: str | None


@dataclass(frozen=True, slots=True)
class PortalResponse:
    """The answer written to ``{prefix}.portal.res``, keyed by the session id."""

    request_id: str
    session_id: str
    service: Service
    status: PortalStatus
    answered_at: datetime
    reason_code: str | None = None
    message_vi: str | None = None
    message_en: str | None = None
    fields: tuple[DisclosedField, ...] = ()
    history: tuple[AccessEntry, ...] = ()
    next_cursor: str | None = None


def refusal(
    request_id: str, session_id: str, service: Service, reason: PortalReason, now: datetime, detail: str = ""
) -> PortalResponse:
    """The adapter's own refusal; ``detail`` (which field, the platform's words only) follows the English."""
    message = MESSAGES[reason]
    english = f"{message.en} ({detail})" if detail else message.en
    return PortalResponse(
        request_id, session_id, service, PortalStatus.REJECTED, now, reason.value, message.vi, english
    )
