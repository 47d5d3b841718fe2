"""``verify_many``: verifications sent as VERIFY_BATCH records, a bounded number in flight, answered in order.

Why a window of whole batches and not ``send_many``'s feeder: answers must come back in input order
with memory bounded however many rows there are. The window holds at most ``in_flight`` batches
(sent, or answered and waiting for an older one); the oldest is always the next to be yielded, and
a new batch is read from the source only when there is room. While the oldest is unanswered, newer
ones are sent, so the resolver always has work; a slow source delays only what it has not given yet.
"""

from __future__ import annotations

import concurrent.futures
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

from dancu_bus.contracts import Request, Response, VerifyQuery
from dancu_bus.errors import RequestTimeout
from dancu_bus.operations.verify_batch import MAX_ITEMS, VerifyBatchQuery
from dancu_bus.sdk.bulk import Submitter
from dancu_bus.sdk.results import VerifyAnswer

__all__ = ["BatchWindow", "answers_of", "chunked"]

T = TypeVar("T")


def chunked(rows: Iterable[VerifyQuery], size: int = MAX_ITEMS) -> Iterator[tuple[VerifyQuery, ...]]:
    """Consecutive batches of at most ``size`` rows (1 to ``MAX_ITEMS``), read as they are needed."""
    if not 0 < size <= MAX_ITEMS:
        raise ValueError(f"a batch holds 1 to {MAX_ITEMS} items, not {size}")
    source = iter(rows)
    while batch := tuple(islice(source, size)):
        yield batch


def answers_of(response: Response, items: Sequence[VerifyQuery]) -> tuple[VerifyAnswer, ...]:
    """The answer to each item of a VERIFY_BATCH, in order (a refusal of the whole batch for each)."""
    return tuple(VerifyAnswer.of_item(response, i, item) for i, item in enumerate(items))


@dataclass(frozen=True, slots=True)
class _Sent(Generic[T]):
    tag: T
    items: tuple[VerifyQuery, ...]
    request: Request | None  # None: nothing to ask (an empty batch)
    future: concurrent.futures.Future[Response] | None


class BatchWindow(Generic[T]):
    """Tagged batches in, their answers out in the same order, at most ``in_flight`` held at once."""

    def __init__(
        self,
        exchange: Submitter,
        build: Callable[[VerifyBatchQuery], Request],
        in_flight: int,
        wait_s: float,
        sent: Callable[[T, Request], None] | None = None,
    ) -> None:
        self._exchange = exchange
        self._build = build
        self._in_flight = max(1, in_flight)
        self._wait_s = wait_s
        # Told of each request just before it is produced: what a journal keeps, to collect it after a crash.
        self._sent = sent
        self._window: deque[_Sent[T]] = deque()

    def run(
        self, batches: Iterable[tuple[T, Sequence[VerifyQuery]]]
    ) -> Iterator[tuple[T, tuple[VerifyAnswer, ...]]]:
        """Each batch's tag and answers, in input order; an empty batch is yielded with none, unasked.

        RequestTimeout when the oldest batch is not answered within ``wait_s``; the rest are forgotten.
        """
        source = iter(batches)
        exhausted = False
        try:
            while True:
                while not exhausted and len(self._window) < self._in_flight and not self._head_done():
                    batch = next(source, None)
                    if batch is None:
                        exhausted = True
                    else:
                        self._window.append(self._send(*batch))
                if not self._window:
                    return
                yield self._settle(self._window.popleft())
        finally:
            for left in self._window:
                if left.request is not None:
                    self._exchange.forget(left.request.request_id)
            self._window.clear()

    def _head_done(self) -> bool:
        """Whether the oldest batch can be yielded now (its answer came, or it asked nothing)."""
        head = self._window[0] if self._window else None
        return head is not None and (head.future is None or head.future.done())

    def _send(self, tag: T, items: Sequence[VerifyQuery]) -> _Sent[T]:
        batch = tuple(items)
        if not batch:
            return _Sent(tag, batch, None, None)
        request = self._build(VerifyBatchQuery(batch))
        if self._sent is not None:
            self._sent(tag, request)
        return _Sent(tag, batch, request, self._exchange.submit(request))

    def _settle(self, sent: _Sent[T]) -> tuple[T, tuple[VerifyAnswer, ...]]:
        if sent.future is None or sent.request is None:
            return sent.tag, ()
        try:
            response = sent.future.result(timeout=self._wait_s)
        except concurrent.futures.TimeoutError:
            self._exchange.forget(sent.request.request_id)
            raise RequestTimeout(sent.request.request_id, self._wait_s) from None
        return sent.tag, answers_of(response, sent.items)
