"""Reads each process's ``/readyz`` and ``/metrics`` over HTTP; what fails becomes a line, not a traceback."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dancu_bus.status.model import Reading, Status, Target, parse_exposition, status_from_readings

__all__ = ["Answer", "Scraper", "Unanswered", "http_get", "read"]

_NOT_READY = "not ready: "


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, whatever its status."""

    status: int
    body: str


@dataclass(frozen=True)
class Unanswered:
    """No HTTP answer; ``detail`` is empty for a refused connection, else what happened."""

    detail: str


def http_get(url: str, timeout_s: float) -> Answer | Unanswered:
    """GET ``url``: its answer (an error status too), or why there was none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return Answer(answer.status, answer.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode("utf-8", "replace"))
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            return Unanswered(f" within {timeout_s:g} s")
        if isinstance(reason, ConnectionRefusedError):
            return Unanswered("")
        return Unanswered(f" ({reason})")


def read(target: Target, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> Reading:
    """One look at ``target``: its readiness, then its metrics (timed when they were read)."""
    ready = http_get(f"{target.url}/readyz", timeout_s)
    if isinstance(ready, Unanswered):
        return Reading(target, clock(), False, target.no_answer(ready.detail), None)
    if ready.status not in (200, 503):
        return Reading(target, clock(), False, _stranger(target, "/readyz", ready.status), None)
    reason = None if ready.status == 200 else ready.body.strip().removeprefix(_NOT_READY)
    metrics = http_get(f"{target.url}/metrics", timeout_s)
    at = clock()
    if isinstance(metrics, Unanswered):
        return Reading(target, at, False, target.no_answer(metrics.detail), None)
    if metrics.status != 200:
        return Reading(target, at, ready.status == 200, _stranger(target, "/metrics", metrics.status), None)
    try:
        exposition = parse_exposition(metrics.body)
    except ValueError as exc:
        return Reading(
            target, at, ready.status == 200, f"{target.url}/metrics is not Prometheus text: {exc}", None
        )
    return Reading(target, at, ready.status == 200, reason, exposition)


def _stranger(target: Target, path: str, status: int) -> str:
    return (
        f"{target.url}{path} answered HTTP {status}: is this a dancu-bus {target.service}?"
        f" ({target.service.port_setting})"
    )


class Scraper:
    """Reads every target at each ``look``; rates come from the difference with the previous look."""

    def __init__(
        self, targets: Sequence[Target], timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._targets = tuple(targets)
        self._timeout_s = timeout_s
        self._clock = clock
        self._previous: list[Reading] = []

    def look(self) -> Status:
        """Read all targets at once (one thread each), and the status since the previous look."""
        with ThreadPoolExecutor(max_workers=len(self._targets)) as pool:
            readings = list(pool.map(lambda t: read(t, self._timeout_s, self._clock), self._targets))
        status = status_from_readings(self._previous, readings)
        self._previous = readings
        return status
