"""``send_many``: a feeder takes requests from the caller's iterable while responses are yielded.

Why a feeder: when requests come from a slow source (a database cursor, a file being written), a
response that arrived must not wait for the next request to be produced before the caller sees it.
So a feeder thread (sync) or task (asyncio) takes a request only when there is room in the window,
submits it, and every response goes to one completion queue the caller's loop reads.

Why ``RequestTimeout`` counts from the last progress: "no response for ``timeout_s``" means nothing
came back while something was in flight. A slow source with nothing in flight is not a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from dancu_bus.contracts import LookupQuery, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.sdk.results import Answer, answer_of

__all__ = ["Pairs", "Submitter", "stream_async", "stream_sync"]


class Submitter(Protocol):
    """What send_many needs of the exchange."""

    def submit(self, request: Request) -> concurrent.futures.Future[Response]:
        """Send a request; the future holds its response."""

    def forget(self, request_id: str) -> None:
        """Stop waiting for a request's response."""


@dataclass(frozen=True, slots=True)
class _Fed:
    """The feeder's last word: every request taken, or the exception the source or a submit raised."""

    error: BaseException | None


class _InFlight:
    """Requests submitted and not yet yielded, when the stream last made progress, and whether it ended."""

    def __init__(self, exchange: Submitter, timeout_s: float, release: Callable[[], object]) -> None:
        self._exchange = exchange
        self._timeout_s = timeout_s
        self._release = release  # frees a slot of the window
        self._ids: dict[object, str] = {}
        self._lock = threading.Lock()
        self._progress = time.monotonic()
        self._fed = False

    @property
    def running(self) -> bool:
        """Whether the feeder may still submit, or a submitted request is not yet yielded."""
        return not self._fed or bool(self._ids)

    def settle(
        self, item: concurrent.futures.Future[Response] | asyncio.Future[Response] | _Fed
    ) -> Response | None:
        """The response a done future brings; None for the feeder's end; the source's error raised."""
        if isinstance(item, _Fed):
            if item.error is not None:
                raise item.error
            self._fed = True
            return None
        self._remove(item)
        self._release()
        return item.result()

    def add(self, future: object, request_id: str) -> None:
        """A request just submitted, ``future`` holding its response."""
        with self._lock:
            if not self._ids:
                self._progress = time.monotonic()  # the clock starts when something is in flight
            self._ids[future] = request_id

    def _remove(self, future: object) -> None:
        with self._lock:
            del self._ids[future]
            self._progress = time.monotonic()

    def wait_s(self) -> float:
        """How long to wait for the next event before checking for a timeout again."""
        with self._lock:
            if not self._ids:
                return self._timeout_s
            return max(0.0, self._timeout_s - (time.monotonic() - self._progress))

    def check(self) -> None:
        """RequestTimeout naming (and forgetting) each request in flight when none came back in time."""
        with self._lock:
            late = bool(self._ids) and time.monotonic() - self._progress >= self._timeout_s
            unanswered = list(self._ids.values())
        if late:
            self.forget_all()
            raise RequestTimeout(unanswered, self._timeout_s)

    def forget_all(self) -> None:
        with self._lock:
            ids, self._ids = list(self._ids.values()), {}
        for request_id in ids:
            self._exchange.forget(request_id)


def stream_sync(
    exchange: Submitter, requests: Iterable[Request], max_in_flight: int, timeout_s: float
) -> Iterator[Response]:
    """Submit ``requests`` from a feeder thread, at most ``max_in_flight`` unanswered; yield responses."""
    done: queue.SimpleQueue[concurrent.futures.Future[Response] | _Fed] = queue.SimpleQueue()
    slots = threading.Semaphore(max_in_flight)
    stop = threading.Event()
    in_flight = _InFlight(exchange, timeout_s, slots.release)

    def feed() -> None:
        source = iter(requests)
        try:
            # A request taken from the caller's iterable is always submitted: once the caller stops
            # reading, the feeder stops before taking another, never after.
            while _take_slot(slots, stop):
                request = next(source, None)
                if request is None:
                    break
                future = exchange.submit(request)
                in_flight.add(future, request.request_id)
                future.add_done_callback(done.put)
        except Exception as exc:  # noqa: BLE001 (any failure of the source: raised in the caller's thread)
            done.put(_Fed(exc))
            return
        done.put(_Fed(None))

    # In the caller's context: each request carries the trace the caller was in (``dancu_bus.tracing``).
    caller = contextvars.copy_context()
    threading.Thread(target=caller.run, args=(feed,), name="dancu-sdk-feeder", daemon=True).start()
    try:
        while in_flight.running:
            try:
                response = in_flight.settle(done.get(timeout=in_flight.wait_s()))
            except queue.Empty:
                in_flight.check()
                continue
            if response is not None:
                yield response
    finally:
        stop.set()
        in_flight.forget_all()  # nothing left on a normal end; what was abandoned otherwise


def _take_slot(slots: threading.Semaphore, stop: threading.Event) -> bool:
    """Wait for room in the window; False once the caller stopped reading."""
    while not slots.acquire(timeout=0.1):
        if stop.is_set():
            return False
    if stop.is_set():
        slots.release()
        return False
    return True


async def stream_async(
    exchange: Submitter,
    requests: Iterable[Request] | AsyncIterable[Request],
    max_in_flight: int,
    timeout_s: float,
) -> AsyncIterator[Response]:
    """``stream_sync`` for asyncio: the feeder is a task, and the source may be an async iterable."""
    done: asyncio.Queue[asyncio.Future[Response] | _Fed] = asyncio.Queue()
    slots = asyncio.Semaphore(max_in_flight)
    in_flight = _InFlight(exchange, timeout_s, slots.release)
    take = _taker(requests)

    async def feed() -> None:
        try:
            while True:
                await slots.acquire()
                request = await take()
                if request is None:
                    break
                future = asyncio.wrap_future(exchange.submit(request))
                in_flight.add(future, request.request_id)
                future.add_done_callback(done.put_nowait)
        except Exception as exc:  # noqa: BLE001 (any failure of the source: raised in the caller's loop)
            done.put_nowait(_Fed(exc))
            return
        done.put_nowait(_Fed(None))

    feeder = asyncio.create_task(feed())
    try:
        while in_flight.running:
            try:
                response = in_flight.settle(await asyncio.wait_for(done.get(), in_flight.wait_s()))
            except TimeoutError:
                in_flight.check()
                continue
            if response is not None:
                yield response
    finally:
        feeder.cancel()
        in_flight.forget_all()


def _taker(requests: Iterable[Request] | AsyncIterable[Request]) -> Callable[[], Awaitable[Request | None]]:
    """The next request of either kind of source, None at its end."""
    if isinstance(requests, AsyncIterable):
        source = aiter(requests)

        async def take_async() -> Request | None:
            return await anext(source, None)

        return take_async
    plain = iter(requests)

    async def take() -> Request | None:
        return next(plain, None)

    return take


class Pairs:
    """The requests built for a caller's queries, and the query each answer is to (while in flight)."""

    def __init__(self, build: Callable[[VerifyQuery | LookupQuery], Request]) -> None:
        self._build = build
        self._asked: dict[str, VerifyQuery | LookupQuery] = {}

    def requests(self, queries: Iterable[VerifyQuery | LookupQuery]) -> Iterator[Request]:
        """A request for each query, built when it is taken."""
        for query in queries:
            yield self._built(query)

    async def requests_async(
        self, queries: Iterable[VerifyQuery | LookupQuery] | AsyncIterable[VerifyQuery | LookupQuery]
    ) -> AsyncIterator[Request]:
        """``requests`` of either kind of source."""
        if isinstance(queries, AsyncIterable):
            async for query in queries:
                yield self._built(query)
        else:
            for query in queries:
                yield self._built(query)

    def answer(self, response: Response) -> Answer:
        """The typed answer of ``response``, paired with its query."""
        return answer_of(response, self._asked.pop(response.request_id))

    def _built(self, query: VerifyQuery | LookupQuery) -> Request:
        request = self._build(query)
        self._asked[request.request_id] = query
        return request
