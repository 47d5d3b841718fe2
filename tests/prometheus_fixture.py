"""A real Prometheus for the tests: Debian's ``prometheus`` on a free loopback port, the project's config.

``prometheus_factory`` starts one per call with ``deploy/prometheus/prometheus.yml`` rewritten for the
test: each job's targets replaced by the running processes' addresses, scrape and rule evaluation every
second, rule files by absolute path, storage in the test's temporary folder. It is stopped by its pid at
the end of the test. Without the binary the tests are skipped locally and fail under ``CI=true``
(``.ci/run`` installs the package).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

__all__ = ["Prometheus", "prometheus_binary", "prometheus_factory"]

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
_BINARY = "prometheus"


def _give_up(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the prometheus tests must run)", pytrace=False)
    pytest.skip(reason)


def prometheus_binary(name: str = _BINARY) -> str:
    """The path of ``prometheus`` or ``promtool``, or skip (fail under CI) naming the package to install."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        _give_up(f"{name} is not installed: apt-get install -y prometheus")
    return found


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def query(self, expression: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or matrix/scalar as a list); AssertionError on an error."""
        body = self._get("/api/v1/query", {"query": expression})
        assert body.get("status") == "success", f"{expression}: {body}"
        data = body["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expression: str) -> float | None:
        """The single value of ``expression``, or None when it has no series."""
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def wait_for(
        self, expression: str, done: Callable[[float | None], bool], timeout_s: float = 60
    ) -> float | None:
        """Poll ``expression`` until ``done(value)``; AssertionError with the last value after the timeout."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = self.value(expression)
            if done(value):
                return value
            time.sleep(0.5)
        raise AssertionError(f"{expression} was {value} after {timeout_s:g} s; see {self.log}")

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets and their health."""
        targets: list[dict[str, Any]] = self._get("/api/v1/targets", {})["data"]["activeTargets"]
        return targets

    def rules(self) -> list[dict[str, Any]]:
        """Every rule Prometheus loaded, with its health and last error."""
        groups = self._get("/api/v1/rules", {})["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def stop(self) -> None:
        """SIGTERM by pid, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(15)


def scrape_config(
    targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path] | None = None
) -> dict[str, Any]:
    """The project's scrape config, aimed at ``targets`` (job name → host:port), every second."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"] = {**config.get("global", {}), "scrape_interval": "1s", "evaluation_interval": "1s"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    missing = set(targets) - set(jobs)
    assert not missing, f"deploy/prometheus/prometheus.yml has no job {sorted(missing)}"
    for name, job in jobs.items():
        job["scrape_interval"] = "1s"
        job["static_configs"] = [{"targets": list(targets.get(name, []))}]
    files = rule_files if rule_files is not None else [DEPLOY / f for f in config.get("rule_files", [])]
    config["rule_files"] = [str((DEPLOY / f).resolve()) for f in files]
    return config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[Mapping[str, Any]], Prometheus]]:
    """Starts a Prometheus with a given config (see ``scrape_config``); all stop after the module."""
    binary = prometheus_binary()
    started: list[Prometheus] = []

    def start(config: Mapping[str, Any]) -> Prometheus:
        home = tmp_path_factory.mktemp("prometheus")
        (home / "prometheus.yml").write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
        port = _free_port()
        log = home / "prometheus.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={home / 'prometheus.yml'}",
                    f"--storage.tsdb.path={home / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Prometheus(process, f"http://127.0.0.1:{port}", log)
        started.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return server
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus was not ready within 30 s; see {log}")

    try:
        yield start
    finally:
        for server in started:
            server.stop()
