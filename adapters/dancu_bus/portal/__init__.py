"""The public service portal adapter (Art. 9): ``dancu-bus portal``.

Reads ``vn.dancu.PortalRequest`` records from ``{prefix}.portal.req`` and writes one
``vn.dancu.PortalResponse`` per request to ``{prefix}.portal.res`` (key: the session id):

- ``CITIZEN_INFO`` ("Tìm kiếm thông tin công dân"): a SELF request as agency ``portal``, bound to the
  account's personal id at its assurance level; the resolver's settings decide the fields per level;
- ``ACCESS_HISTORY`` (level 2): who read the citizen's data, newest first, from the audit index.
"""

from dancu_bus.portal.adapter import AskResolver, CitizenAnswer, History, PortalAdapter, Unanswerable
from dancu_bus.portal.citizen import resolver_asker, self_query
from dancu_bus.portal.history import AgencyNames, HistoryPage, history_page, history_query
from dancu_bus.portal.replies import AccessEntry, PortalReason, PortalResponse, PortalStatus
from dancu_bus.portal.requests import AccountType, HistoryAsk, Invalid, PortalRequest, Service
from dancu_bus.portal.service import (
    PortalMetrics,
    PortalService,
    portal_adapter,
    portal_history,
    registry_names,
    run_portal,
    serve_portal,
)
from dancu_bus.portal.wire import PORTAL_REQUEST, PORTAL_RESPONSE, request_record, response_record

__all__ = [
    "PORTAL_REQUEST",
    "PORTAL_RESPONSE",
    "AccessEntry",
    "AccountType",
    "AgencyNames",
    "AskResolver",
    "CitizenAnswer",
    "History",
    "HistoryAsk",
    "HistoryPage",
    "Invalid",
    "PortalAdapter",
    "PortalMetrics",
    "PortalReason",
    "PortalRequest",
    "PortalResponse",
    "PortalService",
    "PortalStatus",
    "Service",
    "Unanswerable",
    "history_page",
    "history_query",
    "portal_adapter",
    "portal_history",
    "registry_names",
    "request_record",
    "resolver_asker",
    "response_record",
    "run_portal",
    "self_query",
    "serve_portal",
]
