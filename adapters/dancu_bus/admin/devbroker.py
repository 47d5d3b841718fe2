"""The local single-node development broker, run through ``deploy/local/broker.sh`` of the checkout."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dancu_bus.admin.cluster import wait_ready
from dancu_bus.errors import BrokerError, ConfigError
from dancu_bus.settings import BrokerSettings, KafkaSettings

__all__ = [
    "BrokerStatus",
    "broker_home",
    "broker_kafka",
    "broker_script",
    "broker_status",
    "fetch_broker",
    "repo_root",
    "start_broker",
    "stop_broker",
]

# Exit code of ``broker.sh status`` when the broker is not running.
_NOT_RUNNING = 3


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the development broker runs, and the script's one-line account of it."""

    running: bool
    detail: str


def repo_root() -> Path:
    """The checkout this package runs from: the package lives at ``<repo>/adapters/dancu_bus``."""
    return Path(__file__).resolve().parents[3]


def broker_script() -> Path:
    """``<repo>/deploy/local/broker.sh``; ConfigError naming where it looked when it is missing."""
    script = repo_root() / "deploy" / "local" / "broker.sh"
    if not script.is_file():
        raise ConfigError(f"no broker script at {script}: the development broker needs a source checkout")
    return script


def broker_home(broker: BrokerSettings) -> Path:
    """Where the broker keeps its jars and state; ``<repo>/.cache/broker`` unless set."""
    return (broker.home or repo_root() / ".cache" / "broker").resolve()


def broker_kafka(broker: BrokerSettings) -> KafkaSettings:
    """Client settings that reach this broker."""
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{broker.port}")


def _environment(broker: BrokerSettings) -> dict[str, str]:
    """The process environment plus the script's DANCU_BROKER_* variables from the settings."""
    return {
        **os.environ,
        "DANCU_BROKER_HOME": str(broker_home(broker)),
        "DANCU_BROKER_PORT": str(broker.port),
        "DANCU_BROKER_CONTROLLER_PORT": str(broker.controller_port),
        "DANCU_BROKER_HEAP": broker.heap,
        "DANCU_BROKER_WAIT": str(round(broker.start_timeout_s)),
    }


def _run(broker: BrokerSettings, action: str, echo: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``broker.sh <action>``; its progress goes to our stdout when ``echo``, else is captured."""
    command = ["bash", str(broker_script()), action]
    stdout = None if echo else subprocess.PIPE
    env = _environment(broker)
    return subprocess.run(command, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)


def _output(result: subprocess.CompletedProcess[str], action: str) -> str:
    """The script's output; BrokerError with its last complaint when it failed."""
    if result.returncode != 0:
        lines = [line for line in f"{result.stdout or ''}\n{result.stderr}".splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        raise BrokerError(f"broker.sh {action} failed (exit {result.returncode}): {last}", retriable=False)
    return (result.stdout or "").strip()


def fetch_broker(broker: BrokerSettings, *, echo: bool = False) -> str:
    """Fetch the Kafka jars into the broker's home with Maven; what the script said."""
    return _output(_run(broker, "fetch", echo), "fetch")


def start_broker(broker: BrokerSettings, *, echo: bool = False) -> bool:
    """Start the broker unless it runs; return once it answers, True if this call started it."""
    started = not broker_status(broker).running
    if started:
        _output(_run(broker, "start", echo), "start")
    wait_ready(broker_kafka(broker), broker.start_timeout_s)
    return started


def stop_broker(broker: BrokerSettings, *, echo: bool = False) -> str:
    """Stop the broker by its pid; a no-op when it is not running."""
    return _output(_run(broker, "stop", echo), "stop")


def broker_status(broker: BrokerSettings) -> BrokerStatus:
    """Whether the broker of this home runs."""
    result = _run(broker, "status")
    if result.returncode == _NOT_RUNNING:
        return BrokerStatus(running=False, detail=(result.stdout or "").strip())
    return BrokerStatus(running=True, detail=_output(result, "status"))
