"""Sending requests in a given W3C trace, for callers that have a ``traceparent`` but no OpenTelemetry span.

With OpenTelemetry, nothing is needed: every request carries the caller's current span as its parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context

from dancu_bus import tracing

__all__ = ["traced"]


@contextmanager
def traced(traceparent: str, tracestate: str | None = None) -> Iterator[str | None]:
    """Requests sent inside carry ``traceparent`` (and ``tracestate``); yields its trace id.

    A malformed ``traceparent`` is ignored, as W3C asks of any receiver: requests then carry the
    current context's, and None is yielded.
    """
    given = [(tracing.TRACEPARENT, traceparent.encode())]
    if tracestate is not None:
        given.append((tracing.TRACESTATE, tracestate.encode()))
    context = tracing.extract(given)
    if context is None:
        yield None
        return
    token = otel_context.attach(context)
    try:
        yield tracing.trace_id(context)
    finally:
        otel_context.detach(token)
