"""The agency SDK: build, send and await VERIFY, LOOKUP and SEARCH requests, one by one or in bulk.

Any registered operation is sent with ``client.request(client.build(query, context))``: REPORT_ERROR
(``ReportErrorQuery``) answers a ticket id, TICKET_STATE (``TicketStateQuery``) where the ticket stands.

from dancu_bus.sdk import Client, ClientConfig, Context, VerifyQuery

kyc = Context("officer-7", "HS-2026-001", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9")
with Client(ClientConfig("my-bank")) as client:
    answer = client.verify(VerifyQuery("001090012345", full_name="Nguyễn Văn An"), kyc)

Each request carries the caller's W3C trace context: its current OpenTelemetry span, or the
``traceparent`` given with ``with traced(traceparent): ...``; answers carry the trace id back (``trace_id``).

``ClientConfig`` takes what it is not given from ``DANCU_KAFKA__*`` and ``DANCU_SDK__*``. LOOKUP and SEARCH
answers arrive sealed to the agency's answer key and are opened with ``DANCU_SDK__ANSWER_KEYS`` (its private
keys).
"""

from dancu_bus.catalogues import Catalogue, CommuneConversion, Label
from dancu_bus.contracts import (
    Address,
    DisclosedField,
    LookupQuery,
    MatchOutcome,
    Request,
    Response,
    ResponseStatus,
    Verdict,
    VerifyQuery,
)
from dancu_bus.errors import (
    BrokerError,
    ConfigError,
    DancuError,
    DuplicateRequest,
    InvalidCode,
    RequestTimeout,
    SealedAnswerError,
    Undelivered,
)
from dancu_bus.keys import generate_key_pair
from dancu_bus.operations.report_error import ReportErrorQuery, ReportErrorResult
from dancu_bus.operations.search import Candidate, SearchQuery
from dancu_bus.operations.ticket_state import TicketStateQuery, TicketStateResult
from dancu_bus.sdk.aio import AsyncClient
from dancu_bus.sdk.catalogues import convert_commune, label
from dancu_bus.sdk.client import Client
from dancu_bus.sdk.collect import Collected
from dancu_bus.sdk.exchange import ClientConfig
from dancu_bus.sdk.requests import Context
from dancu_bus.sdk.results import Answer, LookupAnswer, SearchAnswer, VerifyAnswer
from dancu_bus.sdk.traces import traced

__all__ = [
    "Address",
    "Answer",
    "AsyncClient",
    "BrokerError",
    "Candidate",
    "Catalogue",
    "Client",
    "ClientConfig",
    "Collected",
    "CommuneConversion",
    "ConfigError",
    "Context",
    "DancuError",
    "DisclosedField",
    "DuplicateRequest",
    "InvalidCode",
    "Label",
    "LookupAnswer",
    "LookupQuery",
    "MatchOutcome",
    "ReportErrorQuery",
    "ReportErrorResult",
    "Request",
    "RequestTimeout",
    "Response",
    "ResponseStatus",
    "SealedAnswerError",
    "SearchAnswer",
    "SearchQuery",
    "TicketStateQuery",
    "TicketStateResult",
    "Undelivered",
    "Verdict",
    "VerifyAnswer",
    "VerifyQuery",
    "convert_commune",
    "generate_key_pair",
    "label",
    "traced",
]
