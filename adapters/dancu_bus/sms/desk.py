"""What the adapter does with each MO: reply at once, ask the resolver, or stay silent. Pure.

Every MO takes a token of its sender's bucket, and a lookup one of its personal id's as well; one
refused gets the sender one "try later" reply per period (from the first refusal), and the MOs
after it in that period none: a burst costs the resolver nothing, and the phone one SMS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dancu_bus.contracts import Response, ResponseStatus
from dancu_bus.operations.self_record import PHONE, SelfQuery, SelfResult
from dancu_bus.reasons import Reason
from dancu_bus.settings import SmsSettings
from dancu_bus.sms.limits import Buckets, Rate
from dancu_bus.sms.replies import (
    NOT_BOUND,
    UNAVAILABLE,
    Kind,
    Labeller,
    help_text,
    plain,
    record_text,
    try_later_text,
)
from dancu_bus.sms.syntax import Help, Lookup, parse
from dancu_bus.sms.wire import Mo

__all__ = ["Ask", "Desk", "Reply"]

log = logging.getLogger(__name__)
# Refusals that say the same as an unknown id: a well-formed id that is no valid one tells nothing.
_NOT_BOUND = frozenset({Reason.NOT_BOUND, Reason.INVALID_PERSONAL_ID})


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to send now."""

    kind: Kind
    text: str


@dataclass(frozen=True, slots=True)
class Ask:
    """A SELF query to ask the resolver; the reply comes from its answer (``Desk.answered``)."""

    query: SelfQuery


class Desk:
    """The adapter's decisions, with the rate limits' memory."""

    def __init__(self, settings: SmsSettings, label: Labeller) -> None:
        self._settings = settings
        self._label = label
        self._phones = Buckets(Rate(settings.phone_limit, settings.phone_period_s), settings.max_tracked)
        self._ids = Buckets(Rate(settings.id_limit, settings.id_period_s), settings.max_tracked)

    def decide(self, mo: Mo, now: float) -> Reply | Ask | None:
        """The reply to ``mo`` at ``now`` (monotonic seconds), or the query to ask, or None (silence)."""
        if not self._phones.take(mo.sender, now):
            return self._try_later(mo.sender, now)
        command = parse(mo.text, self._settings.groups)
        if isinstance(command, Help):
            return self.reply(Kind.HELP, help_text(self._settings.groups))
        if isinstance(command, Lookup):
            if not self._ids.take(command.personal_id, now):
                return self._try_later(mo.sender, now)
            return Ask(SelfQuery(command.personal_id, PHONE, phone=mo.sender, field_group=command.group))
        raise AssertionError(f"no reply for {command!r}")

    def answered(self, response: Response | None) -> Reply:
        """The reply to a SELF answer (None: no answer came in time)."""
        if response is None:
            return self.reply(Kind.UNAVAILABLE, UNAVAILABLE)
        result = response.result
        if response.status is ResponseStatus.OK and isinstance(result, SelfResult) and result.found:
            return self.reply(Kind.RECORD, record_text(result.fields, self._label))
        if response.reason_code in _NOT_BOUND:
            return self.reply(Kind.NOT_BOUND, NOT_BOUND)
        log.warning("a SELF request was refused: %s; the citizen is told to try later", response.reason_code)
        return self.reply(Kind.UNAVAILABLE, UNAVAILABLE)

    def reply(self, kind: Kind, text: str) -> Reply:
        """A reply of ``kind``, without diacritics when so configured."""
        return Reply(kind, text if self._settings.diacritics else plain(text))

    def _try_later(self, phone: str, now: float) -> Reply | None:
        if not self._phones.warn(phone, now):
            return None
        return self.reply(Kind.TRY_LATER, try_later_text(self._settings.phone_period_s))
