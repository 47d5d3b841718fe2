"""Log lines: text or one JSON object each, with the request's fields, and no flood in either form."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import structlog

from dancu_bus.cli.logs import RateLimit, json_formatter

FORMS = ["text", "json"]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The rate limit's clock, at 0."""
    return Clock()


@contextmanager
def logger_to(stream: io.StringIO, form: str, clock: Clock) -> Iterator[logging.Logger]:
    """A logger of its own writing ``form`` lines to ``stream`` through a rate limit on ``clock``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        json_formatter() if form == "json" else logging.Formatter("%(levelname)s %(message)s")
    )
    handler.addFilter(RateLimit(10.0, clock))
    log = logging.getLogger(f"tests.logs.{form}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    try:
        yield log
    finally:
        log.handlers.clear()


@pytest.fixture(params=FORMS)
def logged(request: pytest.FixtureRequest, clock: Clock) -> Iterator[tuple[logging.Logger, io.StringIO, str]]:
    """A logger, what it wrote, and its form (text or json)."""
    stream = io.StringIO()
    with logger_to(stream, request.param, clock) as log:
        yield log, stream, request.param


def test_a_json_line_has_time_level_logger_event_and_the_requests_fields() -> None:
    """Given as ``extra`` or bound in structlog's contextvars, the request's fields are keys of the object."""
    stream = io.StringIO()
    bound = structlog.contextvars.bound_contextvars(trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    with logger_to(stream, "json", Clock()) as log, bound:
        log.info("answered %s", "VERIFY", extra={"request_id": "r-1", "agency": "demo-bank", "other": 1})
    line = json.loads(stream.getvalue())
    assert (
        line["event"] == "answered VERIFY" and line["level"] == "info" and line["logger"] == "tests.logs.json"
    )
    assert line["timestamp"].endswith("Z") and line["timestamp"][:2] == "20"
    assert (line["request_id"], line["agency"]) == ("r-1", "demo-bank")
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "other" not in line  # only the declared fields, never whatever a caller put in ``extra``


def test_a_traceback_is_one_json_string() -> None:
    """An exception logged with its traceback stays one line, its traceback under "exception"."""
    stream = io.StringIO()
    with logger_to(stream, "json", Clock()) as log:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    (line,) = stream.getvalue().splitlines()
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_a_flood_is_one_line_per_interval_with_a_count(
    logged: tuple[logging.Logger, io.StringIO, str], clock: Clock
) -> None:
    """A broker outage's 10,000 identical warnings are one line, then one that says how many were held."""
    log, stream, form = logged
    for _ in range(10_000):
        log.warning("cannot reach %s", "broker-1")
    clock.now = 10.5
    log.warning("cannot reach %s", "broker-1")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    last = json.loads(lines[1]) if form == "json" else {"event": lines[1]}
    assert "[and 9999 more like it in 10 s]" in last["event"]
    if form == "json":
        assert last["held_back"] == 9999


def test_debug_lines_about_single_requests_are_not_held_back(
    logged: tuple[logging.Logger, io.StringIO, str],
) -> None:
    """With --debug each answer's line passes: each is about another request, none a repeat."""
    log, stream, _ = logged
    for n in range(5):
        log.debug("answered %s", n, extra={"request_id": f"r-{n}"})
        log.debug("polling")
    assert len(stream.getvalue().splitlines()) == 6
