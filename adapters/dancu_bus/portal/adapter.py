"""One portal record in, one answer out: decode, check, then the record (via the resolver) or the history.

The decisions are here, over seams: ``AskResolver`` sends the SELF request as agency ``portal`` and
``History`` reads a page of the access history, so every rule is tested without a broker.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dancu_bus.codec import SchemaSet
from dancu_bus.contracts import DisclosedField
from dancu_bus.errors import CodecError, ConfigError, DancuError, RequestTimeout
from dancu_bus.portal.history import HistoryPage
from dancu_bus.portal.replies import PortalReason, PortalResponse, PortalStatus, refusal
from dancu_bus.portal.requests import HistoryAsk, Invalid, PortalRequest, Service, request_from
from dancu_bus.portal.wire import PORTAL_REQUEST

__all__ = ["AskResolver", "CitizenAnswer", "History", "PortalAdapter", "Unanswerable"]

log = logging.getLogger(__name__)
# The level that sees the access history (Decree 69/2024: a VNeID account of level 2).
HISTORY_LEVEL = 2


@dataclass(frozen=True, slots=True)
class CitizenAnswer:
    """The resolver's answer to the SELF request: the fields, or its refusal (code and messages)."""

    fields: tuple[DisclosedField, ...] = ()
    reason_code: str | None = None  # None: OK
    message_vi: str | None = None
    message_en: str | None = None


AskResolver = Callable[[PortalRequest], Awaitable[CitizenAnswer]]
"""Sends the request's SELF query as agency ``portal``; RequestTimeout when no answer comes in time."""

History = Callable[[str, HistoryAsk, datetime], Awaitable[HistoryPage]]
"""A page of a person's access history as seen at a moment; ConfigError for a cursor of another query."""


class Unanswerable(Exception):
    """A record nobody can be answered for (undecodable, or no request or session id): a dead letter."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class PortalAdapter:
    """Answers portal requests: ``await adapter.answer(value)`` for each record's value."""

    def __init__(
        self,
        schemas: SchemaSet,
        ask: AskResolver,
        history: History,
        max_page_size: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.schemas = schemas
        self._ask = ask
        self._history = history
        self._max_page_size = max_page_size
        self._clock = clock or (lambda: datetime.now(UTC))

    async def answer(self, value: bytes | None) -> PortalResponse:
        """The answer to one record's value; Unanswerable when it cannot be read or answered to anyone."""
        try:
            request = self.schemas.decode_as(
                PORTAL_REQUEST, value, lambda r: request_from(r, self._max_page_size)
            )
        except CodecError as exc:
            cause = exc.__cause__
            if isinstance(cause, Invalid):
                return self._invalid(value, cause)
            raise Unanswerable(exc.code, str(exc)) from exc
        return await self.serve(request)

    async def serve(self, request: PortalRequest) -> PortalResponse:
        """The answer to a well-formed request."""
        if request.service is Service.CITIZEN_INFO:
            return await self._citizen_info(request)
        if request.service is Service.ACCESS_HISTORY:
            return await self._access_history(request)
        raise AssertionError(f"no portal service {request.service}")

    def _invalid(self, value: bytes | None, invalid: Invalid) -> PortalResponse:
        if not invalid.request_id or not invalid.session_id:
            raise Unanswerable("BAD_VALUE", str(invalid))
        _, record = self.schemas.decode(value)
        service = Service(record["service"])
        return self._refused(
            invalid.request_id,
            invalid.session_id,
            service,
            PortalReason.MALFORMED_REQUEST,
            f"{invalid.field} {invalid.detail}",
        )

    async def _citizen_info(self, request: PortalRequest) -> PortalResponse:
        try:
            found = await self._ask(request)
        except RequestTimeout:
            return self._refusal(request, PortalReason.NO_ANSWER)
        now = self._clock()
        if found.reason_code is not None:
            return PortalResponse(
                request.request_id,
                request.session_id,
                request.service,
                PortalStatus.REJECTED,
                now,
                found.reason_code,
                found.message_vi,
                found.message_en,
            )
        return PortalResponse(
            request.request_id, request.session_id, request.service, PortalStatus.OK, now, fields=found.fields
        )

    async def _access_history(self, request: PortalRequest) -> PortalResponse:
        if request.assurance_level < HISTORY_LEVEL:
            return self._refusal(request, PortalReason.LEVEL_2_REQUIRED)
        assert request.history is not None  # request_from reads it for every ACCESS_HISTORY request
        try:
            page = await self._history(request.account_personal_id, request.history, self._clock())
        except ConfigError:
            return self._refusal(request, PortalReason.INVALID_CURSOR)
        except DancuError as exc:
            log.warning("the access history could not be read: %s", exc)
            return self._refusal(request, PortalReason.HISTORY_UNAVAILABLE)
        return PortalResponse(
            request.request_id,
            request.session_id,
            request.service,
            PortalStatus.OK,
            self._clock(),
            history=page.entries,
            next_cursor=page.next_cursor,
        )

    def _refusal(self, request: PortalRequest, reason: PortalReason) -> PortalResponse:
        return self._refused(request.request_id, request.session_id, request.service, reason)

    def _refused(
        self, request_id: str, session_id: str, service: Service, reason: PortalReason, detail: str = ""
    ) -> PortalResponse:
        return refusal(request_id, session_id, service, reason, self._clock(), detail)
