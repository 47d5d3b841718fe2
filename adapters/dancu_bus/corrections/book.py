"""The tickets as the corrections topic says now: a live view the resolver keeps, like the registry's."""

from __future__ import annotations

import logging
from typing import Protocol

from dancu_bus.corrections.ticket import CorrectionTicket
from dancu_bus.corrections.wire import TicketCodec
from dancu_bus.errors import CodecError

__all__ = ["TicketBook", "Tickets"]

log = logging.getLogger(__name__)


class Tickets(Protocol):
    """What operations read and write of the tickets."""

    @property
    def topic(self) -> str:
        """The compacted topic tickets are written to."""

    def get(self, ticket_id: str) -> CorrectionTicket | None:
        """The ticket as it stands now, or None."""

    def encode(self, ticket: CorrectionTicket) -> bytes:
        """The ticket as the value of its record on ``topic``."""


class TicketBook:
    """Tickets by id, from the records of the corrections topic (``apply``); the latest of each wins."""

    def __init__(self, codec: TicketCodec, topic: str) -> None:
        self._codec = codec
        self._topic = topic
        self._tickets: dict[str, CorrectionTicket] = {}

    @property
    def topic(self) -> str:
        """The compacted topic tickets are written to."""
        return self._topic

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Take one record (a tombstone removes the ticket); an unreadable one is logged and skipped."""
        name = (key or b"").decode("utf-8", "replace")
        if value is None:
            self._tickets.pop(name, None)
            return
        try:
            self._tickets[name] = self._codec.decode(value)
        except CodecError as exc:
            log.error("correction ticket %r is unreadable and was skipped: %s", name, exc)

    def get(self, ticket_id: str) -> CorrectionTicket | None:
        """The ticket as it stands now, or None."""
        return self._tickets.get(ticket_id)

    def encode(self, ticket: CorrectionTicket) -> bytes:
        """The ticket as a record value."""
        return self._codec.encode(ticket)

    def all(self) -> tuple[CorrectionTicket, ...]:
        """Every ticket, oldest report first."""
        return tuple(sorted(self._tickets.values(), key=lambda t: (t.reported_at, t.ticket_id)))
