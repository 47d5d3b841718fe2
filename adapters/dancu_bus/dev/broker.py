"""The local single-node development broker, run through ``deploy/local/broker.sh`` of the checkout."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from dancu_bus.admin.cluster import wait_ready
from dancu_bus.dev.ca import DevCa, ensure_dev_ca
from dancu_bus.errors import BrokerError, ConfigError
from dancu_bus.settings import BrokerSettings, KafkaSettings

__all__ = [
    "ADMIN_USER",
    "BrokerStatus",
    "QuorumMember",
    "admin_password",
    "broker_home",
    "broker_kafka",
    "broker_script",
    "broker_status",
    "dev_ca",
    "fetch_broker",
    "finish_script",
    "repo_root",
    "spawn_script",
    "start_broker",
    "stop_broker",
]

# Exit code of ``broker.sh status`` when the broker is not running.
_NOT_RUNNING = 3
# The secured broker's super user, created when its storage is formatted (broker.sh).
ADMIN_USER = "dancu-admin"


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the development broker runs, and the script's one-line account of it."""

    running: bool
    detail: str


@dataclass(frozen=True)
class QuorumMember:
    """A node of a development cluster: its id, every node's controller (``id@host:port,...``), cluster id."""

    node_id: int
    voters: str
    cluster_id: str


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
    """Where the broker keeps its jars and state; ``<repo>/.cache/broker`` or ``secure-broker`` unless set."""
    # A secured broker never shares a home with a plain one: broker.sh refuses storage of the other mode.
    default = "secure-broker" if broker.secure else "broker"
    return (broker.home or repo_root() / ".cache" / default).resolve()


def admin_password(broker: BrokerSettings) -> SecretStr:
    """The secured broker's super-user password: from the settings, else the one broker.sh generated."""
    if broker.admin_password is not None:
        return broker.admin_password
    kept = broker_home(broker) / "admin.password"
    try:
        return SecretStr(kept.read_text().strip())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no {kept}: start the secured broker once, or set DANCU_BROKER__ADMIN_PASSWORD"
        ) from exc


def dev_ca(broker: BrokerSettings) -> DevCa:
    """The secured broker's development CA, ``<home>/tls``: its ``ca.crt`` is what clients trust."""
    return DevCa(broker_home(broker) / "tls")


def broker_kafka(broker: BrokerSettings) -> KafkaSettings:
    """Client settings that reach this broker; as its super user, over TLS, when it is secured."""
    bootstrap = f"127.0.0.1:{broker.port}"
    if not broker.secure:
        return KafkaSettings(bootstrap_servers=bootstrap)
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_SSL",
        ssl_ca=dev_ca(broker).certificate,
        username=ADMIN_USER,
        password=admin_password(broker),
    )


def _environment(broker: BrokerSettings, member: QuorumMember | None = None) -> dict[str, str]:
    """The process environment plus the script's DANCU_BROKER_* variables from the settings."""
    # The settings decide the admin password: a stray variable of the script's own must not.
    inherited = {k: v for k, v in os.environ.items() if k != "DANCU_BROKER_ADMIN_PASSWORD"}
    env = {
        **inherited,
        "DANCU_BROKER_HOME": str(broker_home(broker)),
        "DANCU_BROKER_PORT": str(broker.port),
        "DANCU_BROKER_CONTROLLER_PORT": str(broker.controller_port),
        "DANCU_BROKER_HEAP": broker.heap,
        "DANCU_BROKER_WAIT": str(round(broker.start_timeout_s)),
        "DANCU_BROKER_SECURE": "1" if broker.secure else "0",
        "DANCU_BROKER_TLS_DIR": str(dev_ca(broker).folder),
        "DANCU_BROKER_MTLS_PORT": str(broker.mtls_port or ""),
    }
    if broker.admin_password is not None:
        env["DANCU_BROKER_ADMIN_PASSWORD"] = broker.admin_password.get_secret_value()
    if member is not None:
        env["DANCU_BROKER_NODE_ID"] = str(member.node_id)
        env["DANCU_BROKER_VOTERS"] = member.voters
        env["DANCU_BROKER_CLUSTER_ID"] = member.cluster_id
    return env


def _run(
    broker: BrokerSettings, action: str, echo: bool = False, member: QuorumMember | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``broker.sh <action>``; its progress goes to our stdout when ``echo``, else is captured."""
    command = ["bash", str(broker_script()), action]
    stdout = None if echo else subprocess.PIPE
    env = _environment(broker, member)
    return subprocess.run(command, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)


def spawn_script(
    broker: BrokerSettings, action: str, member: QuorumMember | None = None
) -> subprocess.Popen[str]:
    """Start ``broker.sh <action>``, not waiting: a cluster's nodes start together or none elects a leader."""
    command = ["bash", str(broker_script()), action]
    env = _environment(broker, member)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_script(process: subprocess.Popen[str], action: str) -> str:
    """Wait for a spawned ``broker.sh``; its output, or BrokerError with its last complaint."""
    stdout, stderr = process.communicate()
    return _output(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), action)


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
        if broker.secure:
            ensure_dev_ca(dev_ca(broker).folder)
        _output(_run(broker, "start", echo), "start")
    wait_ready(broker_kafka(broker), broker.start_timeout_s)
    return started


def stop_broker(broker: BrokerSettings, *, echo: bool = False, member: QuorumMember | None = None) -> str:
    """Stop the broker by its pid (SIGTERM: a controlled shutdown); a no-op when it is not running."""
    return _output(_run(broker, "stop", echo, member), "stop")


def broker_status(broker: BrokerSettings, member: QuorumMember | None = None) -> BrokerStatus:
    """Whether the broker of this home runs."""
    result = _run(broker, "status", member=member)
    if result.returncode == _NOT_RUNNING:
        return BrokerStatus(running=False, detail=(result.stdout or "").strip())
    return BrokerStatus(running=True, detail=_output(result, "status"))
