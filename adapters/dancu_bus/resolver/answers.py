"""The response to an exchange: the operation's result, or the refusal in Vietnamese and English. Pure."""

from __future__ import annotations

from datetime import datetime

from dancu_bus.contracts import Request, Response, ResponseStatus
from dancu_bus.reasons import Rejection, worded
from dancu_bus.resolver.policy import TEXT_LIMITS
from dancu_bus.text import shown

__all__ = ["reject", "respond"]


def respond(request: Request, result: object, now: datetime, *, exchange_id: str, agency: str) -> Response:
    """The OK response to exchange ``exchange_id``, a request on ``agency``'s topic.

    It names the agency of the topic, never the one the body claims.
    """
    return Response(
        request_id=request.request_id,
        exchange_id=exchange_id,
        agency=agency,
        operation=request.operation,
        status=ResponseStatus.OK,
        answered_at=now,
        result=result,
    )


def reject(
    request: Request, rejection: Rejection, now: datetime, *, exchange_id: str, agency: str
) -> Response:
    """A REJECTED response stating the reason in Vietnamese and English."""
    message = worded(rejection)
    return Response(
        request_id=request.request_id,
        exchange_id=exchange_id,
        agency=agency,
        operation=shown(request.operation, TEXT_LIMITS["operation"]),
        status=ResponseStatus.REJECTED,
        answered_at=now,
        reason_code=rejection.reason.value,
        message_vi=message.vi,
        message_en=message.en,
    )
