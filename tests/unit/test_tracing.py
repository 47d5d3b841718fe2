"""W3C trace context in Kafka headers: what is read (bounded, first header only), what is written."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context

from dancu_bus import tracing
from dancu_bus.tracing import KafkaHeaders

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01".encode()
OTHER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("headers", "trace_id"),
    [
        ([("traceparent", PARENT)], TRACE),
        ([("correlation_id", b"x"), ("traceparent", PARENT), ("x-other", b"1")], TRACE),
        # Only the first counts, whatever follows it (a later valid one does not rescue a bad first).
        ([("traceparent", PARENT), ("traceparent", OTHER)], TRACE),
        ([("traceparent", b"00-zz"), ("traceparent", PARENT)], None),
        ([("traceparent", None), ("traceparent", PARENT)], None),
        # A later version may append fields; version 00 may not.
        ([("traceparent", b"01-" + PARENT[3:] + b"-what-comes-next")], TRACE),
        ([("traceparent", PARENT + b"-extra")], None),
        # Malformed per W3C.
        ([("traceparent", PARENT.upper())], None),
        ([("traceparent", f"00-{TRACE.upper()}-{SPAN}-01".encode())], None),
        ([("traceparent", b"ff" + PARENT[2:])], None),
        ([("traceparent", f"00-{'0' * 32}-{SPAN}-01".encode())], None),
        ([("traceparent", f"00-{TRACE}-{'0' * 16}-01".encode())], None),
        ([("traceparent", PARENT[:-1])], None),
        ([("TraceParent", PARENT)], None),
        ([], None),
        # Hostile: huge, not ASCII, control characters, NUL.
        ([("traceparent", PARENT + b" " * tracing.MAX_TRACEPARENT)], None),
        ([("traceparent", b"0" * (3 * 1024 * 1024))], None),
        ([("traceparent", PARENT + "é".encode())], None),
        ([("traceparent", PARENT[:-2] + b"\n01")], None),
        ([("traceparent", b"\x00" * 55)], None),
    ],
    ids=[
        "valid",
        "among-others",
        "repeated-first-wins",
        "bad-first",
        "null-first",
        "future-version",
        "version-00-with-suffix",
        "upper-case",
        "upper-case-trace-id",
        "version-ff",
        "zero-trace-id",
        "zero-span-id",
        "short",
        "other-case-name",
        "absent",
        "too-long",
        "3-MB",
        "not-ascii",
        "newline",
        "nul",
    ],
)
def test_the_trace_id_of_a_record_is_its_first_valid_traceparents(
    headers: KafkaHeaders, trace_id: str | None
) -> None:
    """Only the first ``traceparent`` counts, and only when W3C-valid and within bounds; else none."""
    assert tracing.trace_id_of(headers) == trace_id
    assert (tracing.extract(headers) is None) == (trace_id is None)


def test_a_valid_context_is_injected_back_as_it_came() -> None:
    """Extracted then injected, the trace context is the same headers (and a valid tracestate with them)."""
    headers = [("traceparent", PARENT), ("tracestate", b"vendor=abc,other=1")]
    context = tracing.extract(headers)
    assert context is not None
    assert tracing.inject(context) == headers


@pytest.mark.parametrize(
    ("tracestate", "kept"),
    [
        (b"a=1,b=2", b"a=1,b=2"),
        (b"not a tracestate", None),
        (b"a=1\nb=2", None),
        (b"a=" + b"x" * tracing.MAX_TRACESTATE, None),
    ],
    ids=["valid", "malformed", "control-character", "too-long"],
)
def test_a_tracestate_goes_with_its_traceparent_only_when_valid(
    tracestate: bytes, kept: bytes | None
) -> None:
    """A malformed or oversized tracestate is dropped; the traceparent beside it still counts."""
    context = tracing.extract([("traceparent", PARENT), ("tracestate", tracestate), ("tracestate", b"c=3")])
    assert context is not None
    expected = [("traceparent", PARENT), *([("tracestate", kept)] if kept is not None else [])]
    assert tracing.inject(context) == expected


def test_a_tracestate_without_a_traceparent_is_no_context() -> None:
    """tracestate alone names no trace."""
    assert tracing.extract([("tracestate", b"a=1")]) is None


def test_a_context_without_a_span_injects_nothing() -> None:
    """No valid span in the context: no headers, and no trace id."""
    assert tracing.inject(Context()) == []
    assert tracing.trace_id(Context()) is None and tracing.trace_id(None) is None


def test_the_current_span_is_injected_with_its_own_span_id() -> None:
    """A span of the caller's, made current, is the parent the headers name."""
    span_context = trace.SpanContext(int(TRACE, 16), 0x1234, is_remote=False, trace_flags=trace.TraceFlags(1))
    context = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    assert tracing.inject(context) == [("traceparent", f"00-{TRACE}-0000000000001234-01".encode())]
