"""The asyncio agency client; the same exchange as the synchronous one, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Collection, Iterable
from datetime import datetime
from types import TracebackType
from typing import Self

from dancu_bus.codec import Codec
from dancu_bus.contracts import LookupQuery, Query, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.operations import platform_codec, registry_of
from dancu_bus.operations.search import SearchQuery
from dancu_bus.sdk.bulk import Pairs, stream_async
from dancu_bus.sdk.collect import Collected, collect_responses
from dancu_bus.sdk.exchange import ClientConfig, Exchange
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.sdk.results import Answer, LookupAnswer, SearchAnswer, VerifyAnswer

__all__ = ["AsyncClient"]


class AsyncClient:
    """Sends requests of any registered operation for one agency from asyncio code.

    Use as ``async with AsyncClient(ClientConfig("my-bank")) as client: ...``.
    """

    def __init__(self, config: ClientConfig, codec: Codec | None = None) -> None:
        self.config = config
        self._codec = codec or platform_codec()
        self._operations = registry_of(self._codec)
        self._exchange = Exchange(config, self._codec)

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self._exchange.open)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._exchange.close)

    async def verify(
        self, query: VerifyQuery, context: Context, timeout_s: float | None = None
    ) -> VerifyAnswer:
        """Ask whether what the agency holds matches the record."""
        return VerifyAnswer.of(await self.request(self.build(query, context), timeout_s), query)

    async def lookup(
        self, query: LookupQuery, context: Context, timeout_s: float | None = None
    ) -> LookupAnswer:
        """Ask for a person's fields within the purpose's scope."""
        return LookupAnswer.of(await self.request(self.build(query, context), timeout_s), query)

    async def search(
        self, query: SearchQuery, context: Context, timeout_s: float | None = None
    ) -> SearchAnswer:
        """Ask who has this name and birth date: candidate ids only, best first."""
        return SearchAnswer.of(await self.request(self.build(query, context), timeout_s))

    async def send_many(
        self,
        queries: Iterable[VerifyQuery | LookupQuery] | AsyncIterable[VerifyQuery | LookupQuery],
        context: Context,
    ) -> AsyncIterator[Answer]:
        """``Client.send_many`` for asyncio: ``queries`` may be an async iterable too."""
        pairs = Pairs(lambda query: self.build(query, context))
        async for response in self.send_requests(pairs.requests_async(queries)):
            yield pairs.answer(response)

    def build(self, query: Query, context: Context) -> Request:
        """A request of this agency for ``query``, valid for the configured lifetime."""
        return build_request(self.config.agency, context, query, self.config.lifetime_s, self._operations)

    async def request(self, request: Request, timeout_s: float | None = None) -> Response:
        """Send any request and await its response; RequestTimeout if none comes in time."""
        seconds = self.config.wait_s if timeout_s is None else timeout_s
        future = asyncio.wrap_future(self._exchange.submit(request))
        try:
            return await asyncio.wait_for(future, timeout=seconds)
        except TimeoutError:
            self._exchange.forget(request.request_id)
            raise RequestTimeout(request.request_id, seconds) from None

    def send_requests(self, requests: Iterable[Request] | AsyncIterable[Request]) -> AsyncIterator[Response]:
        """``send_many`` for requests built by hand: yields each raw response as it comes."""
        return stream_async(self._exchange, requests, self.config.max_in_flight, self.config.wait_s)

    async def collect(
        self, request_ids: Collection[str], since: datetime, wait_s: float | None = None
    ) -> Collected:
        """``Client.collect``, awaited."""
        seconds = self.config.wait_s if wait_s is None else wait_s
        kafka, agency = self.config.kafka, self.config.agency
        return await asyncio.to_thread(
            collect_responses, kafka, agency, self._exchange.responses, request_ids, since, seconds
        )
