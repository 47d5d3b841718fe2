"""The status from Prometheus' HTTP API: instant queries (``/api/v1/query``) over its scrapes.

Prometheus keeps no ``/readyz`` text: a process is ready when it is scraped (``up``) and says so
(``dancu_ready``). Rates are over ``window`` (a PromQL duration); the scrape jobs are deploy/prometheus's.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from dancu_bus.metrics import PLATFORM_FAULTS
from dancu_bus.status.model import (
    AUDIT_BACKLOG,
    AUDIT_BACKLOG_OLDEST,
    BUILD_INFO,
    DEAD_LETTERS,
    END_TO_END,
    GROUP_LAG,
    GROUP_LAG_SECONDS,
    NO_TRAFFIC,
    P99,
    REQUESTS,
    Backlog,
    GroupLag,
    ProcessStatus,
    Service,
    Status,
    Traffic,
    ratio,
)
from dancu_bus.status.probe import Unanswered, http_get

__all__ = [
    "JOBS",
    "Sample",
    "parse_vector",
    "queries",
    "status_from_answers",
    "status_from_prometheus",
    "window_seconds",
]

JOBS = {"dancu-resolver": Service.RESOLVER, "dancu-audit": Service.AUDIT}
"""The scrape jobs of deploy/prometheus, and the service each scrapes."""
_UNITS = {"s": 1, "m": 60, "h": 3600}

Sample = tuple[dict[str, str], float]
"""One element of an instant vector: its labels and its value."""


def window_seconds(window: str) -> float:
    """The seconds of a PromQL range like ``1m`` or ``30s``; ``ValueError`` for anything else."""
    match = re.fullmatch(r"([1-9][0-9]*)([smh])", window)
    if match is None:
        raise ValueError(f"a range is a whole number of s, m or h (like 1m), not {window!r}")
    return float(int(match[1]) * _UNITS[match[2]])


def queries(window: str) -> dict[str, str]:
    """The instant queries of one status, by what they answer."""
    faults = "|".join(sorted(PLATFORM_FAULTS))
    jobs = "|".join(JOBS)
    return {
        "up": f'up{{job=~"{jobs}"}}',
        "ready": "dancu_ready",
        "build": BUILD_INFO,
        "requests": f"sum(rate({REQUESTS}[{window}]))",
        "errors": f'sum(rate({DEAD_LETTERS}{{error_code=~"{faults}"}}[{window}]))',
        "p99": f"histogram_quantile({P99}, sum by (le) (rate({END_TO_END}_bucket[{window}])))",
        "lag_records": f"max by (group) ({GROUP_LAG})",
        "lag_seconds": f"max by (group) ({GROUP_LAG_SECONDS})",
        "backlog": f"max({AUDIT_BACKLOG})",
        "backlog_oldest": f"max({AUDIT_BACKLOG_OLDEST})",
    }


def parse_vector(payload: object) -> list[Sample]:
    """The samples of an instant query's answer; ``ValueError`` for an error or another shape."""
    if not isinstance(payload, dict):
        raise ValueError("the answer is not a JSON object")
    if payload.get("status") != "success":
        raise ValueError(f"{payload.get('errorType', 'error')}: {payload.get('error', 'no reason given')}")
    try:
        data = payload["data"]
        if data["resultType"] != "vector":
            raise ValueError(f"a {data['resultType']} where an instant vector was expected")
        return [(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"not the shape of an instant query's answer ({exc!r})") from exc


def status_from_answers(answers: Mapping[str, Sequence[Sample]], window_s: float) -> Status:
    """The status the answers to ``queries`` give."""
    processes = _processes(answers)
    resolvers_up = any(p.service is Service.RESOLVER and p.reachable for p in processes)
    return Status(
        "prometheus",
        processes,
        _traffic(answers, window_s) if resolvers_up else NO_TRAFFIC,
        _lag(answers),
        Backlog(_scalar(answers["backlog"]), _scalar(answers["backlog_oldest"])),
    )


def _processes(answers: Mapping[str, Sequence[Sample]]) -> tuple[ProcessStatus, ...]:
    def where(labels: Mapping[str, str]) -> tuple[str, str]:
        return labels.get("job", ""), labels.get("instance", "")

    ready = {where(labels): value for labels, value in answers["ready"]}
    builds = {where(labels): labels for labels, _ in answers["build"]}
    shown = []
    for labels, up in answers["up"]:
        job, instance = where(labels)
        if job not in JOBS:
            raise ValueError(f"a series of job {job!r}, which the query does not ask for")
        service = JOBS[job]
        is_ready = ready.get((job, instance))
        reason = _why_not(service, instance, up, is_ready)
        build = builds.get((job, instance), {})
        shown.append(
            ProcessStatus(
                service, instance, up == 1, reason is None, reason, build.get("version"), build.get("commit")
            )
        )
    return tuple(sorted(shown, key=lambda p: (list(Service).index(p.service), p.address)))


def _why_not(service: Service, instance: str, up: float, ready: float | None) -> str | None:
    if up != 1:
        return (
            f"Prometheus cannot scrape {instance} (up 0): is the {service} running? ({service.port_setting})"
        )
    if ready is None:
        return f"{instance} exposes no dancu_ready (an older build?)"
    if ready != 1:
        return "not ready (dancu_ready 0): its /readyz says why"
    return None


def _traffic(answers: Mapping[str, Sequence[Sample]], window_s: float) -> Traffic:
    # No series yet (no request since the resolver started) is no traffic, not an unknown.
    requests = _scalar(answers["requests"]) or 0.0
    errors = _scalar(answers["errors"]) or 0.0
    return Traffic(requests, ratio(errors, requests + errors), _scalar(answers["p99"]), window_s)


def _lag(answers: Mapping[str, Sequence[Sample]]) -> dict[str, GroupLag]:
    records = {labels.get("group", ""): value for labels, value in answers["lag_records"]}
    seconds = {labels.get("group", ""): value for labels, value in answers["lag_seconds"]}
    return {g: GroupLag(records.get(g), seconds.get(g)) for g in sorted(records.keys() | seconds.keys())}


def _scalar(samples: Sequence[Sample]) -> float | None:
    """The value of a one-element vector; None when empty or NaN (a quantile without observations)."""
    if not samples or math.isnan(samples[0][1]):
        return None
    return samples[0][1]


def _failed(problem: str) -> Status:
    return Status("prometheus", (), NO_TRAFFIC, {}, Backlog(None, None), problem)


def status_from_prometheus(url: str, window: str = "1m", timeout_s: float = 3.0) -> Status:
    """The status from the Prometheus at ``url``; what fails is the status's ``problem``."""
    base = url.rstrip("/")
    asked = queries(window)
    with ThreadPoolExecutor(max_workers=len(asked)) as pool:
        answered = list(pool.map(lambda expr: _query(base, expr, timeout_s), asked.values()))
    problems = [a for a in answered if isinstance(a, str)]
    if problems:
        return _failed(problems[0])
    answers = {key: a for key, a in zip(asked, answered, strict=True) if not isinstance(a, str)}
    if not answers["up"]:
        return _failed(f"Prometheus at {base} scrapes no job {' or '.join(JOBS)} (see deploy/prometheus)")
    try:
        return status_from_answers(answers, window_seconds(window))
    except ValueError as exc:
        return _failed(f"Prometheus at {base}: {exc}")


def _query(base: str, expr: str, timeout_s: float) -> list[Sample] | str:
    """An instant query's samples, or the line that says why there are none."""
    answer = http_get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout_s)
    if isinstance(answer, Unanswered):
        return f"no answer from Prometheus at {base}{answer.detail} (is it running? is --prometheus right?)"
    try:
        return parse_vector(json.loads(answer.body))
    except json.JSONDecodeError:
        return f"{base}/api/v1/query answered HTTP {answer.status}, not JSON: is this Prometheus?"
    except ValueError as exc:
        return f"Prometheus at {base} refused {expr!r}: {exc}"
