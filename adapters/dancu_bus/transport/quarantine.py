"""What keeps a service up when a batch fails for a reason nobody foresaw (a bug, not bad input).

The worker loop lets such an exception go up to the service's outermost loop, ``supervise``, which
logs it, counts it and starts the worker again; the new worker re-reads from the last commit. So
that one poisonous record cannot stop a partition for good, the batch that was in hand is
remembered in a ``Quarantine``: its records are handled one at a time next, and a record that fails
alone is set aside (dead-lettered with its original bytes) instead of being handled a third time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from dancu_bus.errors import ConfigError, DancuError
from dancu_bus.transport.consuming import sleep_unless
from dancu_bus.transport.records import Incoming, TopicPartition

__all__ = ["Quarantine", "supervise"]

log = logging.getLogger(__name__)

# A worker that ran this long before failing was not failing in a loop: the next restart is prompt.
_HEALTHY_RUN_S = 60.0
_MAX_DELAY_S = 30.0


class Quarantine:
    """Remembers the batch in hand, and after it failed, which records to retry alone or set aside."""

    def __init__(self) -> None:
        self._held: list[Incoming] = []
        # Per partition, the last offset of a failed batch: records up to it are handled one at a time.
        self._suspects: dict[TopicPartition, int] = {}
        self._poisoned: dict[tuple[TopicPartition, int], str] = {}

    def hold(self, records: Sequence[Incoming]) -> None:
        """``records`` are being handled now."""
        self._held = list(records)

    def release(self) -> None:
        """The records in hand were written; suspicion of them and of what came before them ends."""
        for record in self._held:
            if self._suspects.get(record.tp, -1) <= record.offset:
                self._suspects.pop(record.tp, None)
            self._poisoned.pop((record.tp, record.offset), None)
        self._held = []

    def failed(self, detail: str) -> None:
        """The records in hand failed: one alone is poisoned; several become suspects to retry alone."""
        if len(self._held) == 1:
            record = self._held[0]
            self._poisoned[record.tp, record.offset] = detail
        for record in self._held:
            self._suspects[record.tp] = max(self._suspects.get(record.tp, -1), record.offset)
        self._held = []

    def poisoned(self, record: Incoming) -> str | None:
        """Why ``record`` failed when handled alone, or None if it has not."""
        return self._poisoned.get((record.tp, record.offset))

    def split(self, batch: Sequence[Incoming]) -> list[list[Incoming]]:
        """The batch in parts to handle in turn: suspect partitions' records one by one, the rest together.

        Every record of a suspect partition goes alone and in order, so its committed offset never
        passes a record that has not been answered.
        """
        together = [r for r in batch if r.tp not in self._suspects]
        alone = [[r] for r in batch if r.tp in self._suspects]
        return ([together] if together else []) + alone


def _tracing() -> bool:
    return log.isEnabledFor(logging.DEBUG)


async def supervise(
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    on_failure: Callable[[BaseException], None],
) -> None:
    """Run ``run`` until it returns; after any exception log it, report it, and run it again.

    This is the service's outermost loop: nothing but ``stop`` ends it. A retriable error that
    ends a run while stopping (the store still down when the signal came) ends it quietly: the
    batch in hand was not committed and the next start answers it.
    """
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            await run()
            return
        except ConfigError:
            raise  # a setting nobody can use as given: starting again cannot help
        except Exception as exc:  # the outermost loop: log, count and go on, whatever went wrong
            if stop.is_set() and isinstance(exc, DancuError) and exc.retriable:
                log.info(
                    "stopped while retrying (%s); the batch in hand is answered after the next start", exc
                )
                return
            # One line per failure; the traceback with debug logging (``dancu-bus --debug``).
            detail = f"{type(exc).__name__}: {exc}"
            log.error("the worker failed, restarting from the last commit: %s", detail, exc_info=_tracing())
            on_failure(exc)
        if time.monotonic() - started > _HEALTHY_RUN_S:
            delay = 1.0
        await sleep_unless(stop, delay)
        if stop.is_set():
            return
        delay = min(delay * 2, _MAX_DELAY_S)
