"""send_many of both clients over a fake exchange: the window, slow sources, timeouts, and the partitioner."""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from dancu_bus.contracts import Request, Response, ResponseStatus, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.sdk import AsyncClient, Client, ClientConfig
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.writers import partition_of

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
        self.futures[request_id].set_result(
            Response(request_id, request_id, "bank", "VERIFY", ResponseStatus.OK, now)
        )


def _client(exchange: FakeExchange, max_in_flight: int, timeout_s: float = 5.0) -> Client:
    client = Client(ClientConfig("bank", timeout_s=timeout_s, max_in_flight=max_in_flight, check_codes=False))
    client._exchange = exchange  # type: ignore[assignment]
    return client


def _requests(count: int) -> list[Request]:
    return [build_request("bank", CONTEXT, VerifyQuery(f"00109001234{i}"), 60) for i in range(count)]


def _noting(requests: list[Request], taken: list[str]) -> Iterator[Request]:
    """``requests``, noting in ``taken`` the id of each one the consumer of this iterable takes."""
    for request in requests:
        taken.append(request.request_id)
        yield request


def _answering(exchange: FakeExchange, after_s: float = 0.0, only: str | None = None) -> FakeExchange:
    """The exchange answers each request (or ``only`` that one) when submitted, or ``after_s`` later."""
    original = exchange.submit

    def submit_and_answer(request: Request) -> Future[Response]:
        future = original(request)
        if only is not None and request.request_id != only:
            return future
        if after_s:
            threading.Timer(after_s, exchange.answer, [request.request_id]).start()
        else:
            exchange.answer(request.request_id)
        return future

    exchange.submit = submit_and_answer  # type: ignore[method-assign]
    return exchange


def test_next_request_is_taken_only_when_there_is_room() -> None:
    """With a window of two and no answers, the third request is never taken from the iterable."""
    exchange = FakeExchange()
    requests = _requests(3)
    taken: list[str] = []
    with pytest.raises(RequestTimeout):
        list(_client(exchange, max_in_flight=2, timeout_s=0.05).send_requests(_noting(requests, taken)))
    assert taken == [r.request_id for r in requests[:2]]


def test_every_response_is_yielded_once_whatever_the_order() -> None:
    """Responses come out in the order they arrive, each once, and the stream ends after the last."""
    exchange = _answering(FakeExchange())
    requests = _requests(5)
    got = [r.request_id for r in _client(exchange, max_in_flight=2).send_requests(requests)]
    assert sorted(got) == sorted(r.request_id for r in requests) and len(got) == 5


def test_silence_raises_request_timeout_and_forgets_every_request() -> None:
    """When nothing answers within timeout_s, RequestTimeout names the oldest and all are forgotten."""
    exchange = FakeExchange()
    requests = _requests(3)
    with pytest.raises(RequestTimeout) as raised:
        list(_client(exchange, max_in_flight=10, timeout_s=0.05).send_requests(requests))
    assert requests[0].request_id in str(raised.value) and isinstance(raised.value, TimeoutError)
    assert sorted(raised.value.request_ids) == sorted(r.request_id for r in requests)
    assert sorted(exchange.forgotten) == sorted(r.request_id for r in requests)


def test_send_many_yields_typed_answers_paired_with_their_queries() -> None:
    """No build(): queries and one context in, VerifyAnswers out, each with the query it answers."""
    exchange = FakeExchange()
    queries = [VerifyQuery(f"00109001234{i}", f"Name {i}") for i in range(4)]

    def answered() -> None:
        while len(exchange.futures) < 4:
            time.sleep(0.01)
        for request_id in reversed(list(exchange.futures)):
            exchange.answer(request_id)

    threading.Thread(target=answered).start()
    answers = list(_client(exchange, max_in_flight=10).send_many(queries, CONTEXT))
    asked = [a.query for a in answers]
    assert sorted(q.personal_id for q in asked if q is not None) == [q.personal_id for q in queries]
    assert all(a.ok and a.request_id in exchange.futures for a in answers)


def test_the_config_reads_the_cluster_and_lifetime_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ClientConfig("agency") takes DANCU_KAFKA__* and DANCU_SDK__*; what is given explicitly wins."""
    monkeypatch.setenv("DANCU_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19192")
    monkeypatch.setenv("DANCU_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("DANCU_KAFKA__USERNAME", "demo-bank")
    monkeypatch.setenv("DANCU_KAFKA__PASSWORD", "s3cret")
    monkeypatch.setenv("DANCU_SDK__LIFETIME_S", "90")
    config = ClientConfig("demo-bank")
    assert config.kafka.bootstrap_servers == "127.0.0.1:19192" and config.kafka.username == "demo-bank"
    assert config.lifetime_s == 90 and config.wait_s == 100
    assert ClientConfig("demo-bank", timeout_s=5).wait_s == 5
    assert ClientConfig("demo-bank", KafkaSettings()).kafka.bootstrap_servers == "127.0.0.1:9092"


@pytest.mark.parametrize("count", [1, 3, 6, 12])
def test_keyed_partition_is_librdkafkas_crc32(count: int) -> None:
    """A keyed record goes where librdkafka's default partitioner puts it: CRC-32 of the key."""
    key = b"6f1c7c2e-8a51-4c1a-9bb1-0d6f4d0c6a11"
    assert partition_of(key, count) == zlib.crc32(key) % count
    assert 0 <= partition_of(None, count) < count


def test_a_response_is_yielded_while_the_source_waits_for_its_next_request() -> None:
    """The first response reaches the caller while the source is still blocked before its second request."""
    exchange = _answering(FakeExchange(), after_s=0.05)  # answered once the source is already waiting
    first, second = _requests(2)
    seen_first = threading.Event()

    def slow_source() -> Iterator[Request]:
        yield first
        # Only the caller, having received the first response, lets the source go on.
        assert seen_first.wait(timeout=5), "the first response was held back until the next request"
        yield second

    got = []
    for response in _client(exchange, max_in_flight=10).send_requests(slow_source()):
        got.append(response.request_id)
        seen_first.set()
    assert got == [first.request_id, second.request_id]


def test_a_slow_source_with_nothing_in_flight_is_no_timeout() -> None:
    """Time the source takes while every request is answered does not count toward timeout_s."""
    exchange = _answering(FakeExchange())
    requests = _requests(3)

    def slow_source() -> Iterator[Request]:
        for request in requests:
            time.sleep(0.15)
            yield request

    got = [
        r.request_id for r in _client(exchange, max_in_flight=10, timeout_s=0.05).send_requests(slow_source())
    ]
    assert got == [r.request_id for r in requests]


def test_an_error_of_the_source_is_raised_to_the_caller_and_requests_forgotten() -> None:
    """An exception inside the iterable comes out of send_many; unanswered requests are forgotten."""
    exchange = FakeExchange()
    requests = _requests(2)

    def failing_source() -> Iterator[Request]:
        yield from requests
        raise ValueError("the customer file ended mid-line")

    with pytest.raises(ValueError, match="mid-line"):
        list(_client(exchange, max_in_flight=10).send_requests(failing_source()))
    assert sorted(exchange.forgotten) == sorted(r.request_id for r in requests)


def test_leaving_the_loop_early_forgets_what_is_still_in_flight() -> None:
    """A caller that stops after one response leaves nothing pending in the exchange."""
    requests = _requests(3)
    exchange = _answering(FakeExchange(), only=requests[0].request_id)
    stream = _client(exchange, max_in_flight=10).send_requests(requests)
    assert next(stream).request_id == requests[0].request_id
    deadline = time.monotonic() + 5
    while len(exchange.futures) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # the feeder submits the other two on its own thread
    stream.close()  # type: ignore[attr-defined]
    assert sorted(exchange.forgotten) == sorted(r.request_id for r in requests[1:])


async def _drain(responses: AsyncIterator[Response]) -> None:
    async for _ in responses:
        pass


def _async_client(exchange: FakeExchange, max_in_flight: int, timeout_s: float = 5.0) -> AsyncClient:
    client = AsyncClient(
        ClientConfig("bank", timeout_s=timeout_s, max_in_flight=max_in_flight, check_codes=False)
    )
    client._exchange = exchange  # type: ignore[assignment]
    return client


async def test_async_responses_come_while_an_async_source_is_slow() -> None:
    """AsyncClient.send_many reads an async source and yields each response before the next request."""
    exchange = _answering(FakeExchange())
    requests = _requests(3)
    yielded: list[str] = []

    async def slow_source() -> AsyncIterator[Request]:
        for request in requests:
            # Every earlier response was yielded before this request is even made.
            assert yielded == [r.request_id for r in requests[: len(yielded)]]
            assert len(yielded) == requests.index(request)
            yield request
            await asyncio.sleep(0.05)

    async for response in _async_client(exchange, max_in_flight=10, timeout_s=0.02).send_requests(
        slow_source()
    ):
        yielded.append(response.request_id)
    assert yielded == [r.request_id for r in requests]


async def test_async_window_and_timeout() -> None:
    """With a window of two and no answers, the third request is never taken, and silence times out."""
    exchange = FakeExchange()
    requests = _requests(3)
    taken: list[str] = []
    client = _async_client(exchange, max_in_flight=2, timeout_s=0.05)
    with pytest.raises(RequestTimeout) as raised:
        await _drain(client.send_requests(_noting(requests, taken)))
    assert taken == [r.request_id for r in requests[:2]]
    assert requests[0].request_id in str(raised.value)
    assert sorted(exchange.forgotten) == sorted(taken)
