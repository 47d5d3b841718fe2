"""The asyncio agency client; the same exchange as the synchronous one, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import Self

from dancu_bus.codec import Codec, load_schemas
from dancu_bus.contracts import LookupQuery, Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.sdk.bulk import stream_async
from dancu_bus.sdk.exchange import ClientConfig, Exchange
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.sdk.results import LookupAnswer, VerifyAnswer

__all__ = ["AsyncClient"]


class AsyncClient:
    """Sends VERIFY and LOOKUP requests for one agency from asyncio code.

    Use as ``async with AsyncClient(ClientConfig("my-bank")) as client: ...``.
    """

    def __init__(self, config: ClientConfig, codec: Codec | None = None) -> None:
        self.config = config
        self._exchange = Exchange(config, codec or Codec(load_schemas()))

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
        return VerifyAnswer.of(await self.request(self.build(query, context), timeout_s))

    async def lookup(
        self, query: LookupQuery, context: Context, timeout_s: float | None = None
    ) -> LookupAnswer:
        """Ask for a person's fields within the purpose's scope."""
        return LookupAnswer.of(await self.request(self.build(query, context), timeout_s))

    def build(self, query: VerifyQuery | LookupQuery, context: Context) -> Request:
        """A request of this agency for ``query``."""
        return build_request(self.config.agency, context, query, self.config.timeout_s)

    async def request(self, request: Request, timeout_s: float | None = None) -> Response:
        """Send any request and await its response; RequestTimeout if none comes in time."""
        seconds = self.config.timeout_s if timeout_s is None else timeout_s
        future = asyncio.wrap_future(self._exchange.submit(request))
        try:
            return await asyncio.wait_for(future, timeout=seconds)
        except TimeoutError:
            self._exchange.forget(request.request_id)
            raise RequestTimeout(request.request_id, seconds) from None

    def send_many(self, requests: Iterable[Request] | AsyncIterable[Request]) -> AsyncIterator[Response]:
        """Send many requests, at most ``max_in_flight`` unanswered at once; yield responses as they come.

        ``requests`` may be an async iterable; a feeder task takes the next request only when there is
        room, so responses are yielded while the source is slow. RequestTimeout as ``Client.send_many``.
        """
        return stream_async(self._exchange, requests, self.config.max_in_flight, self.config.timeout_s)
