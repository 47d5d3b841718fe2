"""CITIZEN_INFO through the resolver: a SELF request as agency ``portal``, bound to the session's account.

The field set is the resolver's to decide, from its settings for the portal and the account's
assurance level; the adapter passes the level on and never names fields itself.
"""

from __future__ import annotations

from dancu_bus.contracts import ResponseStatus
from dancu_bus.operations.self_record import SelfQuery, SelfResult
from dancu_bus.portal.adapter import AskResolver, CitizenAnswer
from dancu_bus.portal.requests import PortalRequest
from dancu_bus.sdk import AsyncClient, Context
from dancu_bus.settings import PortalSettings

__all__ = ["resolver_asker", "self_query"]


def self_query(request: PortalRequest) -> SelfQuery:
    """The SELF query of a CITIZEN_INFO request: the id asked, bound to the account's id, at its level."""
    return SelfQuery(
        personal_id=request.personal_id,
        bound_by="ACCOUNT",
        phone=None,
        account_id=request.account_personal_id,
        assurance_level=request.assurance_level,
        field_group=None,
    )


def context_of(request: PortalRequest, settings: PortalSettings) -> Context:
    """Who asks and why, as the audit records it: the sign-in kind as officer, the session as case."""
    officer = f"citizen.{request.account_type.value.lower()}.level{request.assurance_level}"
    return Context(officer, request.session_id, settings.purpose_code, settings.legal_basis)


def resolver_asker(client: AsyncClient, settings: PortalSettings) -> AskResolver:
    """Asks the resolver through ``client`` (agency ``portal``), waiting ``answer_timeout_s`` at most."""

    async def ask(request: PortalRequest) -> CitizenAnswer:
        query = self_query(request)
        response = await client.request(
            client.build(query, context_of(request, settings)), settings.answer_timeout_s
        )
        if response.status is not ResponseStatus.OK:
            return CitizenAnswer(
                (), response.reason_code or "REJECTED", response.message_vi, response.message_en
            )
        result = response.result
        if not isinstance(result, SelfResult):
            raise TypeError(f"a SELF request was answered with {type(result).__name__}")
        return CitizenAnswer(result.fields)

    return ask
