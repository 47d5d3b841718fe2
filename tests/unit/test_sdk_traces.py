"""The SDK sends the caller's W3C trace context with each request and reads the answer's trace id."""

from __future__ import annotations

import dataclasses
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id

from dancu_bus.sdk import ClientConfig, traced
from dancu_bus.sdk.exchange import Exchange
from tests.unit import samples
from tests.unit.test_sdk_duplicates import CODEC, Message

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Producer:
    """Keeps the headers of every record produced."""

    def __init__(self) -> None:
        self.headers: list[list[tuple[str, bytes]]] = []

    def produce(self, *args: Any, headers: list[tuple[str, bytes]], **kwargs: Any) -> None:
        """Nothing is sent: the headers are kept."""
        self.headers.append(headers)


def exchange() -> tuple[Exchange, Producer]:
    """An exchange whose producer keeps headers, and that producer."""
    opened = Exchange(ClientConfig("demo-bank", check_codes=False), CODEC)
    producer = Producer()
    opened._producer = producer
    return opened, producer


def sent(request_id: str) -> Any:
    """The sample VERIFY under ``request_id``."""
    return dataclasses.replace(samples.VERIFY_REQUEST, request_id=request_id)


def test_a_request_carries_the_trace_it_is_sent_in_and_only_that() -> None:
    """Outside any trace: correlation id alone; in ``traced`` or under a current span: its traceparent."""
    client, producer = exchange()
    client.submit(sent("00000000-0000-4000-8000-000000000001"))
    with traced(TRACEPARENT, "bank=7"):
        client.submit(sent("00000000-0000-4000-8000-000000000002"))
    with TracerProvider().get_tracer("app").start_as_current_span("kyc") as span:
        client.submit(sent("00000000-0000-4000-8000-000000000003"))
    untraced, given, current = ({k: v for k, v in h if k != "correlation_id"} for h in producer.headers)
    assert untraced == {}
    assert given == {"traceparent": TRACEPARENT.encode(), "tracestate": b"bank=7"}
    context = span.get_span_context()
    expected = (
        f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-{context.trace_flags:02x}"
    )
    assert current == {"traceparent": expected.encode()}


def test_traced_ignores_a_malformed_traceparent() -> None:
    """A traceparent no receiver would accept starts no trace: nothing is yielded, nothing sent."""
    client, producer = exchange()
    with traced(TRACEPARENT.upper()) as trace_id:
        client.submit(sent("00000000-0000-4000-8000-000000000004"))
    assert trace_id is None and [k for k, _ in producer.headers[0]] == ["correlation_id"]


def test_the_answer_has_the_trace_id_of_its_responses_traceparent() -> None:
    """A response with a valid traceparent settles its request with that trace id; without one, None."""
    client, _ = exchange()
    first = client.submit(sent(samples.OK_RESPONSE.request_id))
    client._settle(
        Message(CODEC.encode_response(samples.OK_RESPONSE), [("traceparent", TRACEPARENT.encode())])
    )
    other = dataclasses.replace(samples.OK_RESPONSE, request_id="00000000-0000-4000-8000-000000000005")
    second = client.submit(sent(other.request_id))
    client._settle(Message(CODEC.encode_response(other)))
    assert first.result(timeout=1).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert second.result(timeout=1).trace_id is None
