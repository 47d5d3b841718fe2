"""The resolver and the audit consumer as child processes the harness can signal by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dancu_bus.errors import BrokerError

__all__ = ["Application", "Service", "start_application", "start_service"]

COMMANDS = {"resolver": ("resolver",), "audit": ("audit", "run"), "sms": ("sms",), "portal": ("portal",)}


@dataclass
class Service:
    """A running ``dancu-bus resolver`` or ``dancu-bus audit run``, its metrics port and its log."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    # A resolver's name in its transactional id (``DANCU_RESOLVER__INSTANCE``).
    instance: str = ""

    @property
    def pid(self) -> int:
        """The process id the signals go to."""
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no draining, no commit, no goodbye to the group."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(30)

    def freeze(self) -> None:
        """SIGSTOP: every thread stops, heartbeats too, while the process keeps its connections."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: it goes on from where it stood, unaware of the time that passed."""
        os.kill(self.pid, signal.SIGCONT)

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM, as an operator stops it: it drains, commits and leaves; SIGKILL if it hangs."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BrokerError(f"{self.name} (pid {self.pid}) did not stop within {timeout_s:g} s") from None

    def stop(self) -> None:
        """SIGTERM and a clean exit, or BrokerError naming the exit code and the log."""
        code = self.terminate()
        if code != 0:
            raise BrokerError(
                f"{self.name} (pid {self.pid}) exited with {code} after SIGTERM; see {self.log}"
            )

    def wait_ready(self, timeout_s: float = 90) -> None:
        """Wait until ``/readyz`` says it serves (owns partitions, store reachable)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            if self._ready():
                return
            time.sleep(0.3)
        raise BrokerError(f"{self.name} was not ready within {timeout_s:g} s; see {self.log}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as ready:
                return bool(ready.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False  # not listening yet, or not ready


def start_service(kind: str, environment: Mapping[str, str], port: int, log: Path) -> Service:
    """Start ``dancu-bus <kind>`` with these ``DANCU_*`` settings, its output appended to ``log``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_")}
    env = {**inherited, **environment}
    command = [sys.executable, "-m", "dancu_bus.cli.main", *COMMANDS[kind]]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Service(kind, process, port, log, environment.get("DANCU_RESOLVER__INSTANCE", ""))


@dataclass
class Application:
    """An agency's application (``dancu_bus.faults.application``) working through its job folder."""

    agency: str
    job: Path
    environment: Mapping[str, str]
    process: subprocess.Popen[bytes]
    runs: int = 1

    def kill(self) -> None:
        """SIGKILL: what it had in memory is gone; its journal and answers files stay."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def restart(self) -> None:
        """Start it again on the same job, as an operator restarts a crashed bulk job."""
        self.runs += 1
        self.process = _launch(self.job, self.environment, self.runs)

    def wait(self, timeout_s: float) -> int:
        """Its exit code once done (every query answered), or -1 if it still runs after ``timeout_s``."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return -1


def start_application(agency: str, job: Path, environment: Mapping[str, str]) -> Application:
    """Start the application of ``agency`` on ``job`` with these ``DANCU_*`` settings."""
    return Application(agency, job, environment, _launch(job, environment, 1))


def _launch(job: Path, environment: Mapping[str, str], run: int) -> subprocess.Popen[bytes]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_")}
    command = [sys.executable, "-m", "dancu_bus.faults.application", str(job)]
    with (job / f"run-{run}.log").open("ab") as out:
        return subprocess.Popen(
            command, env={**inherited, **environment}, stdout=out, stderr=subprocess.STDOUT
        )
