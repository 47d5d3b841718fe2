"""How a dancu-bus process logs: one line per event, tracebacks only with ``--debug``, no floods.

Kafka clients log every failed reconnection; during a broker outage that was hundreds of thousands
of lines in minutes. ``RateLimit`` lets each distinct message (logger and message template) through
once per interval and then says how many of it it held back.

Lines are text for a person (``DANCU_LOG_FORMAT=text``, the default) or one JSON object each for a log
pipeline (``json``): structlog's ``ProcessorFormatter`` renders every standard ``logging`` record,
aiokafka's and librdkafka's included, with its timestamp, level, logger and event, and the request's
``REQUEST_FIELDS`` when the line is about one (given as ``extra``, or bound with structlog's
contextvars).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

import structlog

__all__ = ["REQUEST_FIELDS", "RateLimit", "configure_logging", "json_formatter"]

_INTERVAL_S = 10.0
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What a line about one request says of it: never a personal id.
REQUEST_FIELDS = ("request_id", "agency", "operation", "trace_id")
_HELD_BACK = "held_back"


class RateLimit(logging.Filter):
    """Passes each distinct message at most once per ``interval_s``, with a count of those held back."""

    def __init__(self, interval_s: float = _INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` goes out now (its message then says how many like it were held back).

        A debug line about one request (it has a ``request_id``) is no repeat of another: it passes,
        untracked (asked for with ``--debug``; tracking every request id would grow without bound).
        """
        if record.levelno <= logging.DEBUG and hasattr(record, "request_id"):
            return True
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
            setattr(record, _HELD_BACK, held)
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per record: timestamp (UTC, ISO 8601), level, logger, event, the request's fields."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.ExtraAdder(allow=(*REQUEST_FIELDS, _HELD_BACK)),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # a traceback (``--debug``) as the "exception" string
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def configure_logging(level: str, debug: bool, form: Literal["text", "json"] = "text") -> None:
    """Log to stderr at ``level`` (DEBUG with ``debug``) in ``form``, rate-limited; Kafka clients quieter."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if form == "json" else logging.Formatter(_FORMAT))
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("DEBUG" if debug else level)
    # The Kafka client narrates every connection at INFO; its warnings are what an operator needs.
    logging.getLogger("aiokafka").setLevel(logging.DEBUG if debug else max(logging.WARNING, root.level))
    # OpenTelemetry warns of every malformed tracestate an agency sends, quoting it: the answer simply
    # carries none (``dancu_bus.tracing``), which is nothing for an operator to act on.
    logging.getLogger("opentelemetry.trace.span").setLevel(logging.DEBUG if debug else logging.ERROR)
