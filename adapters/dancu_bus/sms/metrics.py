"""What the SMS adapter counts: MOs by what became of them, the resolver's part of it, and the segments.

Every label value is from a closed set of the adapter's own (a reply kind, ``SILENT``, ``DEAD_LETTER``,
an encoding); nothing a gateway or a citizen sent becomes a label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from dancu_bus.metrics import ServiceMetrics

__all__ = ["SILENT", "SmsMetrics"]

SILENT = "SILENT"  # rate-limited after its sender was told to try later
DEAD_LETTER = "DEAD_LETTER"


class SmsMetrics:
    """The adapter's series, on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.service = ServiceMetrics(registry, "sms")
        self.messages = Counter(
            "dancu_sms_messages",
            "MOs read, by outcome: the reply kind sent (RECORD, NOT_BOUND, HELP, TRY_LATER, UNAVAILABLE),"
            " SILENT (rate-limited, already told) or DEAD_LETTER (unusable)",
            ["outcome"],
            registry=registry,
        )
        self.lookups = Counter(
            "dancu_sms_lookups", "SELF requests sent to the resolver on a citizen's behalf", registry=registry
        )
        self.segments = Counter(
            "dancu_sms_segments",
            "SMS segments written in replies, by encoding",
            ["encoding"],
            registry=registry,
        )
