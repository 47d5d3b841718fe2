"""The synchronous agency client."""

from __future__ import annotations

import concurrent.futures
import queue
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Self

from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import LookupQuery, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.sdk.exchange import ClientConfig, Exchange
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.sdk.results import LookupAnswer, VerifyAnswer

__all__ = ["Client"]


class Client:
    """Sends VERIFY and LOOKUP requests for one agency and waits for their responses.

    Use as a context manager: ``with Client(ClientConfig("my-bank")) as client: ...``.
    """

    def __init__(self, config: ClientConfig, codec: Codec | None = None) -> None:
        self.config = config
        self._exchange = Exchange(config, codec or Codec(load_schemas()))

    def __enter__(self) -> Self:
        self._exchange.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exchange.close()

    def verify(self, query: VerifyQuery, context: Context, timeout_s: float | None = None) -> VerifyAnswer:
        """Ask whether what the agency holds matches the record; RequestTimeout if no answer in time."""
        return VerifyAnswer.of(self.request(self.build(query, context), timeout_s))

    def lookup(self, query: LookupQuery, context: Context, timeout_s: float | None = None) -> LookupAnswer:
        """Ask for a person's fields within the purpose's scope; RequestTimeout if no answer in time."""
        return LookupAnswer.of(self.request(self.build(query, context), timeout_s))

    def build(self, query: VerifyQuery | LookupQuery, context: Context) -> Request:
        """A request of this agency for ``query``, valid as long as the client waits."""
        return build_request(self.config.agency, context, query, self.config.timeout_s)

    def request(self, request: Request, timeout_s: float | None = None) -> Response:
        """Send any request and wait for its response."""
        seconds = self.config.timeout_s if timeout_s is None else timeout_s
        future = self._exchange.submit(request)
        try:
            return future.result(timeout=seconds)
        except concurrent.futures.TimeoutError:
            self._exchange.forget(request.request_id)
            raise RequestTimeout(request.request_id, seconds) from None

    def send_many(self, requests: Iterable[Request]) -> Iterator[Response]:
        """Send many requests, at most ``max_in_flight`` unanswered at once; yield responses as they come.

        The next request is taken from ``requests`` only when there is room for it. Raises
        RequestTimeout when no response at all arrives for ``timeout_s``.
        """
        bulk = _Bulk(self._exchange, self.config.timeout_s)
        source = iter(requests)
        while True:
            while bulk.in_flight >= self.config.max_in_flight:
                yield bulk.next_response()
            request = next(source, None)
            if request is None:
                break
            bulk.submit(request)
            yield from bulk.ready()
        while bulk.in_flight:
            yield bulk.next_response()


class _Bulk:
    """The requests of one ``send_many`` in flight; each future reports its completion to one queue.

    Waiting on the queue costs the same however many requests are in flight, where waiting on all
    their futures at once cost time in proportion to the window for every response.
    """

    def __init__(self, exchange: Exchange, timeout_s: float) -> None:
        self._exchange = exchange
        self._timeout_s = timeout_s
        self._done: queue.SimpleQueue[concurrent.futures.Future[Response]] = queue.SimpleQueue()
        self._waiting: dict[concurrent.futures.Future[Response], str] = {}

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet yielded."""
        return len(self._waiting)

    def submit(self, request: Request) -> None:
        """Send one request."""
        future = self._exchange.submit(request)
        self._waiting[future] = request.request_id
        future.add_done_callback(self._done.put)

    def ready(self) -> Iterator[Response]:
        """The responses already in, without waiting."""
        while not self._done.empty():
            yield self._take(self._done.get_nowait())

    def next_response(self) -> Response:
        """The next response to arrive; RequestTimeout (and every request forgotten) after ``timeout_s``."""
        try:
            future = self._done.get(timeout=self._timeout_s)
        except queue.Empty:
            oldest = next(iter(self._waiting.values()))
            for request_id in self._waiting.values():
                self._exchange.forget(request_id)
            raise RequestTimeout(oldest, self._timeout_s) from None
        return self._take(future)

    def _take(self, future: concurrent.futures.Future[Response]) -> Response:
        del self._waiting[future]
        return future.result()
