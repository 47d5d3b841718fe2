"""The synchronous agency client."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

from dancu_bus.codec import Codec
from dancu_bus.contracts import LookupQuery, Query, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.operations import platform_codec, registry_of
from dancu_bus.operations.search import SearchQuery
from dancu_bus.operations.verify_batch import MAX_ITEMS
from dancu_bus.sdk.batches import BatchWindow, chunked
from dancu_bus.sdk.bulk import Pairs, stream_sync
from dancu_bus.sdk.collect import Collected, collect_responses
from dancu_bus.sdk.exchange import ClientConfig, Exchange
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.sdk.results import Answer, LookupAnswer, SearchAnswer, VerifyAnswer

__all__ = ["Client"]

T = TypeVar("T")


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

    def verify_many(
        self,
        rows: Iterable[VerifyQuery],
        context: Context,
        batch_size: int = MAX_ITEMS,
        in_flight: int = 4,
    ) -> Iterator[VerifyAnswer]:
        """Verify every row, ``batch_size`` to a VERIFY_BATCH request; yield each answer in input order.

        At most ``in_flight`` batches are held at once, so memory is bounded however many rows come.
        Each answer carries its row (``query``) and its item's exchange id; a refusal of one item is that
        item's answer, a refusal of a whole batch every item's. RequestTimeout as for ``request``.
        """
        for _, answers in self.verify_batches(
            ((None, b) for b in chunked(rows, batch_size)), context, in_flight
        ):
            yield from answers

    def verify_batches(
        self,
        batches: Iterable[tuple[T, Sequence[VerifyQuery]]],
        context: Context,
        in_flight: int = 4,
        sent: Callable[[T, Request], None] | None = None,
    ) -> Iterator[tuple[T, tuple[VerifyAnswer, ...]]]:
        """``verify_many`` for batches made by the caller, each with a tag of its own, yielded in order.

        An empty batch asks nothing and is yielded in its place; ``sent`` is told of each request just
        before it is produced (a journal of what to ``collect`` after a crash).
        """
        build = partial(self.build, context=context)
        window: BatchWindow[T] = BatchWindow(self._exchange, build, in_flight, self.config.wait_s, sent)
        return window.run(batches)

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
