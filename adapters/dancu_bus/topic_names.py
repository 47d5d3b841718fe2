"""Names of dancu-bus topics under one prefix (``ndxp.dancu`` by default); the agency is part of the name."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TopicNames"]


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Topic names derived from a prefix, so tests and deployments can run side by side."""

    prefix: str = "ndxp.dancu"

    def request(self, agency: str) -> str:
        """The agency's request topic."""
        return f"{self.prefix}.req.{agency}"

    def response(self, agency: str) -> str:
        """The agency's response topic."""
        return f"{self.prefix}.res.{agency}"

    @property
    def audit(self) -> str:
        """The compacted audit log."""
        return f"{self.prefix}.audit"

    @property
    def audit_pending(self) -> str:
        """The audit consumer's compacted state: halves of exchanges waiting for their other half."""
        return f"{self.prefix}.audit.pending"

    @property
    def audit_checkpoints(self) -> str:
        """Signed checkpoints of the audit partitions' chain heads (key = ``<partition>:<offset>``)."""
        return f"{self.prefix}.audit.checkpoints"

    @property
    def registry(self) -> str:
        """The compacted registry of agencies (key = agency id)."""
        return f"{self.prefix}.registry"

    def catalogue(self, name: str) -> str:
        """The compacted topic of one shared catalogue (key = scheme:code), e.g. ``catalogue.commune``."""
        return f"{self.prefix}.catalogue.{name}"

    @property
    def corrections(self) -> str:
        """The compacted correction tickets (key = ticket id): REPORT_ERROR and its decisions."""
        return f"{self.prefix}.corrections"

    @property
    def sms_mo(self) -> str:
        """Incoming SMS (MO) the gateway publishes for the SMS adapter (key = sender's phone)."""
        return f"{self.prefix}.sms.mo"

    @property
    def sms_mt(self) -> str:
        """The SMS adapter's replies (MT) for the gateway to deliver (key = recipient's phone)."""
        return f"{self.prefix}.sms.mt"

    @property
    def portal_req(self) -> str:
        """Requests of the public service portal's sessions for the portal adapter (key = session id)."""
        return f"{self.prefix}.portal.req"

    @property
    def portal_res(self) -> str:
        """The portal adapter's replies (key = session id)."""
        return f"{self.prefix}.portal.res"

    @property
    def dead_letters(self) -> str:
        """Where undecodable records go."""
        return f"{self.prefix}.dlq"

    @property
    def request_pattern(self) -> str:
        """Regular expression of every agency's request topic."""
        return rf"^{re.escape(self.prefix)}\.req\.[a-z0-9-]+$"

    @property
    def exchange_pattern(self) -> str:
        """Regular expression of every request and response topic."""
        return rf"^{re.escape(self.prefix)}\.(req|res)\.[a-z0-9-]+$"

    def split(self, topic: str) -> tuple[str, str] | None:
        """``("req" | "res", agency)`` for an exchange topic, else None."""
        head = f"{self.prefix}."
        if not topic.startswith(head):
            return None
        kind, _, agency = topic[len(head) :].partition(".")
        return (kind, agency) if kind in ("req", "res") and agency else None
