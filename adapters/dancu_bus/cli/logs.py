"""How a dancu-bus process logs: one line per event, tracebacks only with ``--debug``, no floods.

Kafka clients log every failed reconnection; during a broker outage that was hundreds of thousands
of lines in minutes. ``RateLimit`` lets each distinct message (logger and message template) through
once per interval and then says how many of it it held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimit", "configure_logging"]

_INTERVAL_S = 10.0
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RateLimit(logging.Filter):
    """Passes each distinct message at most once per ``interval_s``, with a count of those held back."""

    def __init__(self, interval_s: float = _INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` goes out now (its message then says how many like it were held back)."""
        key = (record.name, record.msg)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval_s:
            self._last[key] = (last[0], last[1] + 1)
            return False
        held = last[1] if last is not None else 0
        self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [and {held} more like it in {self._interval_s:g} s]"
        return True


def configure_logging(level: str, debug: bool) -> None:
    """Log to stderr at ``level`` (DEBUG with ``debug``), each message rate-limited; Kafka clients quieter."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("DEBUG" if debug else level)
    # The Kafka client narrates every connection at INFO; its warnings are what an operator needs.
    logging.getLogger("aiokafka").setLevel(logging.DEBUG if debug else max(logging.WARNING, root.level))
