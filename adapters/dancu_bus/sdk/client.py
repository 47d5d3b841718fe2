"""The synchronous agency client."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Self

from dancu_bus.codec import Codec
from dancu_bus.contracts import LookupQuery, Query, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.operations import platform_codec, registry_of
from dancu_bus.operations.search import SearchQuery
from dancu_bus.sdk.bulk import Pairs, stream_sync
from dancu_bus.sdk.collect import Collected, collect_responses
from dancu_bus.sdk.exchange import ClientConfig, Exchange
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.sdk.results import Answer, LookupAnswer, SearchAnswer, VerifyAnswer

__all__ = ["Client"]


class Client:
    """Sends requests of any registered operation for one agency and waits for their responses.

    Use as a context manager: ``with Client(ClientConfig("my-bank")) as client: ...``; leaving it
    delivers what is queued and raises ``Undelivered`` naming any request the broker never took.
    """

    def __init__(self, config: ClientConfig, codec: Codec | None = None) -> None:
        self.config = config
        self._codec = codec or platform_codec()
        self._operations = registry_of(self._codec)
        self._exchange = Exchange(config, self._codec)

    def __enter__(self) -> Self:
        self._exchange.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exchange.close()

    def verify(self, query: VerifyQuery, context: Context, timeout_s: float | None = None) -> VerifyAnswer:
        """Ask whether what the agency holds matches the record; RequestTimeout if no answer in time."""
        return VerifyAnswer.of(self.request(self.build(query, context), timeout_s), query)

    def lookup(self, query: LookupQuery, context: Context, timeout_s: float | None = None) -> LookupAnswer:
        """Ask for a person's fields within the purpose's scope; RequestTimeout if no answer in time."""
        return LookupAnswer.of(self.request(self.build(query, context), timeout_s), query)

    def search(self, query: SearchQuery, context: Context, timeout_s: float | None = None) -> SearchAnswer:
        """Ask who has this name and birth date: candidate ids only, best first; RequestTimeout if late."""
        return SearchAnswer.of(self.request(self.build(query, context), timeout_s))

    def send_many(self, queries: Iterable[VerifyQuery | LookupQuery], context: Context) -> Iterator[Answer]:
        """Ask many questions under one context; yield each typed answer (with its query) as it comes.

        At most ``max_in_flight`` are unanswered at once; a feeder thread takes the next query only
        when there is room, so answers come while the source is slow. RequestTimeout names every
        request still unanswered when none was answered for ``wait_s``; Undelivered names those the
        broker did not take within their lifetime; an exception of the source is raised here.
        """
        pairs = Pairs(lambda query: self.build(query, context))
        for response in self.send_requests(pairs.requests(queries)):
            yield pairs.answer(response)

    def build(self, query: Query, context: Context) -> Request:
        """A request of this agency for ``query``, valid for the configured lifetime."""
        return build_request(self.config.agency, context, query, self.config.lifetime_s, self._operations)

    def request(self, request: Request, timeout_s: float | None = None) -> Response:
        """Send any request and wait for its response."""
        seconds = self.config.wait_s if timeout_s is None else timeout_s
        future = self._exchange.submit(request)
        try:
            return future.result(timeout=seconds)
        except concurrent.futures.TimeoutError:
            self._exchange.forget(request.request_id)
            raise RequestTimeout(request.request_id, seconds) from None

    def send_requests(self, requests: Iterable[Request]) -> Iterator[Response]:
        """``send_many`` for requests built by hand: yields each raw response as it comes."""
        return stream_sync(self._exchange, requests, self.config.max_in_flight, self.config.wait_s)

    def collect(
        self, request_ids: Collection[str], since: datetime, wait_s: float | None = None
    ) -> Collected:
        """The answers on the bus to requests sent since ``since`` (by an earlier run, say), by id.

        Waits up to ``wait_s`` (default ``wait_s`` of the config) for those not answered yet; what is
        ``missing`` afterwards never reached the resolver and may be sent again.
        """
        seconds = self.config.wait_s if wait_s is None else wait_s
        kafka, agency = self.config.kafka, self.config.agency
        return collect_responses(kafka, agency, self._exchange.responses, request_ids, since, seconds)
