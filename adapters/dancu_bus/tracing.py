"""W3C trace context in Kafka headers, read and written with OpenTelemetry's propagator. Pure.

A request may carry a ``traceparent`` (and a ``tracestate``) header: the SDK writes the caller's, the
resolver answers with the same trace id, the audit consumer records it. Agencies send anything, so the
reading is bounded: only the first header of each name counts, only printable ASCII of at most
``MAX_TRACEPARENT`` / ``MAX_TRACESTATE`` bytes is looked at, and whatever is malformed (per W3C: upper
case hex, version ``ff``, an all-zero id, ...) gives no context at all. Nothing here raises for input.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "MAX_TRACEPARENT",
    "MAX_TRACESTATE",
    "TRACEPARENT",
    "TRACESTATE",
    "KafkaHeaders",
    "extract",
    "inject",
    "trace_id",
    "trace_id_of",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# Version 00 is 55 bytes; later versions may append fields. W3C asks for at least 512 bytes of
# tracestate to be propagated, and lets longer ones be dropped.
MAX_TRACEPARENT = 256
MAX_TRACESTATE = 512
_LIMITS = {TRACEPARENT: MAX_TRACEPARENT, TRACESTATE: MAX_TRACESTATE}

KafkaHeaders = Sequence[tuple[str, bytes | None]]
"""A record's headers as the Kafka clients give them: (name, value) pairs, in order, names repeatable."""

_PROPAGATOR = TraceContextTextMapPropagator()


class _FirstHeader(Getter[KafkaHeaders]):
    """The propagator's view of a header list: the first value of a trace header, if small and printable.

    Both headers are printable ASCII by their grammar: anything else (a control character that would
    forge a log line when the propagator warns about it, say) is no header.
    """

    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        """The first value of ``key`` (only the trace headers), decoded; None if absent or unusable."""
        limit = _LIMITS.get(key)
        if limit is None:
            return None
        value = next((v for k, v in carrier if k == key), None)
        if value is None or len(value) > limit or not value.isascii():
            return None
        text = value.decode("ascii")
        return [text] if text.isprintable() else None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        """The trace headers ``carrier`` holds."""
        return [k for k in _LIMITS if any(name == k for name, _ in carrier)]


_GETTER = _FirstHeader()


def extract(headers: KafkaHeaders) -> Context | None:
    """The trace context of a record's headers, or None when there is none or it is malformed."""
    if not any(name == TRACEPARENT for name, _ in headers):
        return None  # most records: not worth the propagator's call
    context = _PROPAGATOR.extract(headers, Context(), _GETTER)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def inject(context: Context | None = None) -> list[tuple[str, bytes]]:
    """The headers carrying ``context`` (default: the current one); empty when it holds no valid span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context)
    return [(name, carrier[name].encode("ascii")) for name in (TRACEPARENT, TRACESTATE) if name in carrier]


def trace_id(context: Context | None) -> str | None:
    """The 32 lower-case hex digits of the trace ``context`` belongs to; None without a valid one."""
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None


def trace_id_of(headers: KafkaHeaders) -> str | None:
    """The trace id of a record's headers (``extract``), or None."""
    return trace_id(extract(headers))
