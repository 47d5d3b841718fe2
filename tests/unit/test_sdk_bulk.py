"""Client.send_many over a fake exchange: the window, the order of yields, timeouts, and the partitioner."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from dancu_bus.contracts import Request, Response, ResponseStatus, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.sdk import Client, ClientConfig
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.transport.worker import partition_of

CONTEXT = Context("officer", "case", "KYC", "basis")


class FakeExchange:
    """Answers each request when told to, and remembers what it was asked."""

    def __init__(self) -> None:
        self.futures: dict[str, Future[Response]] = {}
        self.forgotten: list[str] = []

    def submit(self, request: Request) -> Future[Response]:
        future: Future[Response] = Future()
        self.futures[request.request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self.forgotten.append(request_id)

    def answer(self, request_id: str) -> None:
        now = datetime.now(UTC)
        self.futures[request_id].set_result(Response(request_id, "bank", "VERIFY", ResponseStatus.OK, now))


def _client(exchange: FakeExchange, max_in_flight: int, timeout_s: float = 5.0) -> Client:
    client = Client(ClientConfig("bank", timeout_s=timeout_s, max_in_flight=max_in_flight, check_codes=False))
    client._exchange = exchange  # type: ignore[assignment]
    return client


def _requests(count: int) -> list[Request]:
    return [build_request("bank", CONTEXT, VerifyQuery(f"00109001234{i}"), 60) for i in range(count)]


def test_next_request_is_taken_only_when_there_is_room() -> None:
    """With a window of two and no answers, the third request is never taken from the iterable."""
    exchange = FakeExchange()
    requests = _requests(3)
    taken: list[str] = []

    def source() -> Iterator[Request]:
        for request in requests:
            taken.append(request.request_id)
            yield request

    with pytest.raises(RequestTimeout):
        list(_client(exchange, max_in_flight=2, timeout_s=0.05).send_many(source()))
    assert taken == [r.request_id for r in requests[:2]]


def test_every_response_is_yielded_once_whatever_the_order() -> None:
    """Responses come out in the order they arrive, each once, and the stream ends after the last."""
    exchange = FakeExchange()
    requests = _requests(5)
    original = exchange.submit

    def submit_and_answer(request: Request) -> Future[Response]:
        future = original(request)
        exchange.answer(request.request_id)
        return future

    exchange.submit = submit_and_answer  # type: ignore[method-assign]
    got = [r.request_id for r in _client(exchange, max_in_flight=2).send_many(requests)]
    assert sorted(got) == sorted(r.request_id for r in requests) and len(got) == 5


def test_silence_raises_request_timeout_and_forgets_every_request() -> None:
    """When nothing answers within timeout_s, RequestTimeout names the oldest and all are forgotten."""
    exchange = FakeExchange()
    requests = _requests(3)
    with pytest.raises(RequestTimeout) as raised:
        list(_client(exchange, max_in_flight=10, timeout_s=0.05).send_many(requests))
    assert requests[0].request_id in str(raised.value)
    assert sorted(exchange.forgotten) == sorted(r.request_id for r in requests)


@pytest.mark.parametrize("count", [1, 3, 6, 12])
def test_keyed_partition_is_librdkafkas_crc32(count: int) -> None:
    """A keyed record goes where librdkafka's default partitioner puts it: CRC-32 of the key."""
    key = b"6f1c7c2e-8a51-4c1a-9bb1-0d6f4d0c6a11"
    assert partition_of(key, count) == zlib.crc32(key) % count
    assert 0 <= partition_of(None, count) < count
