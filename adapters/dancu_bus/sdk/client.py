"""The synchronous agency client."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Self

from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import LookupQuery, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.sdk.bulk import stream_sync
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

        A feeder thread takes the next request from ``requests`` only when there is room for it, so a
        response is yielded as soon as it arrives, even while the source is slow to give the next
        request (the iterable is read on that thread). Raises RequestTimeout, forgetting every request
        in flight, when none of them is answered for ``timeout_s``; an exception of the source, or
        InvalidCode for a request, is raised here.
        """
        return stream_sync(self._exchange, requests, self.config.max_in_flight, self.config.timeout_s)
