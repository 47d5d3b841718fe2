"""The SDK never takes the refusal of a resent request id for the answer to the original."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dancu_bus.contracts import ResponseStatus
from dancu_bus.errors import DuplicateRequest
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import ClientConfig
from dancu_bus.sdk.exchange import Exchange
from tests.unit import samples

CODEC = platform_codec()


class Message:
    """What confluent-kafka hands the reader for one response."""

    def __init__(self, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        self._value = value
        self._headers = headers

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers  # None when the record has none, as confluent-kafka gives it

    def offset(self) -> int:
        return 0


class Producer:
    """Takes every record."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        """Nothing is sent in these tests."""


def exchange() -> Exchange:
    """An exchange whose producer takes everything and whose reader is driven by hand."""
    opened = Exchange(ClientConfig("demo-bank", check_codes=False), CODEC)
    opened._producer = Producer()
    return opened


def test_a_duplicate_refusal_is_an_error_not_the_answer() -> None:
    """A DUPLICATE_REQUEST response settles the request with DuplicateRequest naming the first exchange."""
    client = exchange()
    future = client.submit(samples.VERIFY_REQUEST)
    refusal = dataclasses.replace(
        samples.OK_RESPONSE,
        status=ResponseStatus.REJECTED,
        result=None,
        reason_code="DUPLICATE_REQUEST",
        message_en="The request id repeats a request (request id x was exchange 7d1f0e3a)",
    )
    client._settle(Message(CODEC.encode_response(refusal)))
    with pytest.raises(DuplicateRequest, match="7d1f0e3a"):
        future.result(timeout=1)


def test_the_same_request_id_cannot_be_in_flight_twice() -> None:
    """A second submit of an id still waiting for its answer is refused before producing."""
    client = exchange()
    client.submit(samples.VERIFY_REQUEST)
    with pytest.raises(DuplicateRequest, match="in flight"):
        client.submit(samples.VERIFY_REQUEST)
