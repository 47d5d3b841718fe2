"""The portal's messages as Avro records of ``schemas/portal_request.avsc`` and ``portal_response.avsc``."""

from __future__ import annotations

from typing import Any

from dancu_bus.codec.messages import address_record
from dancu_bus.contracts import Address, DisclosedField
from dancu_bus.portal.replies import AccessEntry, PortalResponse
from dancu_bus.portal.requests import PortalRequest
from dancu_bus.timestamps import to_epoch_ms

__all__ = ["PORTAL_REQUEST", "PORTAL_RESPONSE", "request_record", "response_record"]

PORTAL_REQUEST = "vn.dancu.PortalRequest"
PORTAL_RESPONSE = "vn.dancu.PortalResponse"
_ADDRESS = "vn.dancu.Address"


def response_record(response: PortalResponse) -> dict[str, Any]:
    """The ``vn.dancu.PortalResponse`` record of a response."""
    return {
        "request_id": response.request_id,
        "session_id": response.session_id,
        "service": response.service.value,
        "status": response.status.value,
        "reason_code": response.reason_code,
        "message_vi": response.message_vi,
        "message_en": response.message_en,
        "fields": [_field(f) for f in response.fields],
        "history": [_entry(e) for e in response.history],
        "next_cursor": response.next_cursor,
        "answered_at": to_epoch_ms(response.answered_at),
    }


def request_record(request: PortalRequest) -> dict[str, Any]:
    """The ``vn.dancu.PortalRequest`` record of a request (what a portal writes; tests and the demo)."""
    history = request.history
    return {
        "request_id": request.request_id,
        "session_id": request.session_id,
        "account_type": request.account_type.value,
        "assurance_level": request.assurance_level,
        "account_personal_id": request.account_personal_id,
        "service": request.service.value,
        "personal_id": request.personal_id,
        "period_start": None if history is None else to_epoch_ms(history.start),
        "period_end": None if history is None else to_epoch_ms(history.end),
        "cursor": None if history is None else history.cursor,
        "page_size": 20 if history is None else history.page_size,
        "sent_at": to_epoch_ms(request.sent_at),
    }


def _field(disclosed: DisclosedField) -> dict[str, Any]:
    value = disclosed.value
    return {
        "name": disclosed.name,
        "value": (_ADDRESS, address_record(value)) if isinstance(value, Address) else value,
        "source": disclosed.source,
        "updated_on": disclosed.updated_on,
    }


def _entry(entry: AccessEntry) -> dict[str, Any]:
    return {
        "received_at": to_epoch_ms(entry.received_at),
        "agency": entry.agency,
        "agency_name": entry.agency_name,
        "agency_code": entry.agency_code,
        "operation": entry.operation,
        "purpose_code": entry.purpose_code,
        "legal_basis": entry.legal_basis,
        "fields_disclosed": list(entry.fields_disclosed),
        "status": entry.status,
        "reason_code": entry.reason_code,
    }
