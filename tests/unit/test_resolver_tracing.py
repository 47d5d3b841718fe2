"""The resolver continues the request's W3C trace: the answer's traceparent, and its span when recorded."""

from __future__ import annotations

import dataclasses
import logging
from typing import cast

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer, format_span_id
from prometheus_client import CollectorRegistry

from dancu_bus.metrics import ResolverMetrics
from dancu_bus.resolver.handler import HandlerOptions, ResolverHandler
from dancu_bus.store import PopulationStore
from dancu_bus.transport import Incoming, Outgoing
from tests.unit.test_resolver_handler import CODEC, DIRECTORY, NAMES, Store, incoming, request

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01".encode()


def handler(tracer: Tracer | None = None) -> ResolverHandler:
    """A handler over the demo agencies; its spans go to ``tracer`` (default: the no-op API's)."""
    metrics = ResolverMetrics(CollectorRegistry())
    store = cast(PopulationStore, Store())
    return ResolverHandler(CODEC, DIRECTORY, store, NAMES, metrics, HandlerOptions(tracer=tracer))


def recording() -> tuple[Tracer, InMemorySpanExporter]:
    """A tracer of an OpenTelemetry SDK of its own (not the process's), and what it records."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def traced(headers: tuple[tuple[str, bytes], ...], offset: int = 0) -> Incoming:
    """A valid request record of the bank with ``headers``."""
    return dataclasses.replace(incoming(CODEC.encode_request(request()), offset), headers=headers)


def trace_headers(out: Outgoing) -> dict[str, bytes]:
    """The trace context an answer carries."""
    return {k: v for k, v in out.headers if k in ("traceparent", "tracestate")}


async def test_without_an_sdk_the_answer_names_the_callers_span() -> None:
    """No spans recorded: the answer carries the request's traceparent and valid tracestate as they came."""
    (out,) = await handler().handle([traced((("traceparent", PARENT), ("tracestate", b"bank=7")))])
    assert trace_headers(out) == {"traceparent": PARENT, "tracestate": b"bank=7"}


@pytest.mark.parametrize(
    "headers",
    [
        (("traceparent", PARENT.upper()),),
        (("traceparent", b"ff" + PARENT[2:]),),
        (("traceparent", PARENT + b"0" * 5000),),
        (("tracestate", b"bank=7"),),
        (),
    ],
    ids=["upper-case", "version-ff", "huge", "tracestate-alone", "none"],
)
async def test_a_request_without_a_valid_trace_context_gets_none(
    headers: tuple[tuple[str, bytes], ...],
) -> None:
    """Malformed or missing: the answer has no trace header at all, and is answered as usual."""
    (out,) = await handler().handle([traced(headers)])
    assert trace_headers(out) == {}
    assert CODEC.decode_response(out.value).status.value == "OK"


async def test_a_recorded_span_is_the_child_of_the_requests_and_the_answers_parent() -> None:
    """With an SDK: a CONSUMER span in the request's trace, under its span; the answer names that span."""
    tracer, spans = recording()
    (out,) = await handler(tracer).handle([traced((("traceparent", PARENT),))])
    (span,) = spans.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER and span.name == f"process {NAMES.request('demo-bank')}"
    assert span.parent is not None and format_span_id(span.parent.span_id) == "00f067aa0ba902b7"
    assert span.context is not None and span.context.trace_id == int(TRACE, 16)
    assert trace_headers(out) == {
        "traceparent": f"00-{TRACE}-{format_span_id(span.context.span_id)}-01".encode()
    }
    attributes = dict(span.attributes or {})
    assert attributes["dancu.operation"] == "VERIFY" and attributes["dancu.status"] == "OK"
    assert not any("001090012345" in str(v) for v in attributes.values())  # never a personal id


async def test_with_an_sdk_an_untraced_request_starts_a_trace() -> None:
    """A request with no trace context gets a root span, and its answer the trace that span begins."""
    tracer, spans = recording()
    (out,) = await handler(tracer).handle([traced(())])
    (span,) = spans.get_finished_spans()
    assert span.parent is None and span.context is not None
    assert trace_headers(out)["traceparent"].split(b"-")[1] == f"{span.context.trace_id:032x}".encode()


async def test_a_debug_line_per_answer_carries_the_requests_fields(caplog: pytest.LogCaptureFixture) -> None:
    """With debug logging each answer is a line with request id, agency, operation and trace id."""
    record = traced((("traceparent", PARENT),))
    with caplog.at_level(logging.DEBUG, logger="dancu_bus.resolver.handler"):
        await handler().handle([record])
    (line,) = [r for r in caplog.records if r.name == "dancu_bus.resolver.handler"]
    sent = CODEC.decode_request(record.value)
    assert line.__dict__["request_id"] == sent.request_id and line.__dict__["agency"] == "demo-bank"
    assert line.__dict__["operation"] == "VERIFY" and line.__dict__["trace_id"] == TRACE
