"""The synchronous agency client."""

from __future__ import annotations

import concurrent.futures
from collections import deque
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

        Raises RequestTimeout when no response at all arrives for ``timeout_s``.
        """
        waiting: deque[tuple[Request, concurrent.futures.Future[Response]]] = deque()
        for request in requests:
            while len(waiting) >= self.config.max_in_flight:
                yield from self._collect(waiting)
            waiting.append((request, self._exchange.submit(request)))
        while waiting:
            yield from self._collect(waiting)

    def _collect(
        self, waiting: deque[tuple[Request, concurrent.futures.Future[Response]]]
    ) -> Iterator[Response]:
        done, _ = concurrent.futures.wait(
            [f for _, f in waiting],
            timeout=self.config.timeout_s,
            return_when=concurrent.futures.FIRST_COMPLETED,
        )
        if not done:
            oldest = waiting[0][0].request_id
            for request, _ in waiting:
                self._exchange.forget(request.request_id)
            raise RequestTimeout(oldest, self.config.timeout_s)
        remaining = [(r, f) for r, f in waiting if f not in done]
        waiting.clear()
        waiting.extend(remaining)
        for future in done:
            yield future.result()
