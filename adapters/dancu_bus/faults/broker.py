"""The harness's own broker: free ports and a fresh home per run, the Kafka jars shared between runs.

Several harnesses may run at once on one machine (two engineers' test runs): each one's broker has
its own ports and storage, so that one restarting or stopping its broker never touches another's.
The jars are fetched once into ``.cache/fault-broker`` and linked into each run's home.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from dancu_bus.admin import fetch_broker, repo_root
from dancu_bus.errors import BrokerError
from dancu_bus.settings import BrokerSettings

__all__ = ["fault_broker", "prepare_home", "remove_home"]


def _shared() -> Path:
    return repo_root() / ".cache" / "fault-broker"


def fault_broker(port: int | None = None) -> BrokerSettings:
    """A broker on ``port`` and ``port + 1`` (free if None), at home in ``.cache/fault-broker/run-<port>``."""
    client = port if port is not None else _free_pair()
    return BrokerSettings(
        home=_shared() / f"run-{client}", port=client, controller_port=client + 1, heap="768m"
    )


def prepare_home(broker: BrokerSettings) -> None:
    """Fetch the jars once into the shared cache and link them into the broker's own, empty home."""
    shared = BrokerSettings(home=_shared())
    fetch_broker(shared)
    assert broker.home is not None
    shutil.rmtree(broker.home, ignore_errors=True)
    broker.home.mkdir(parents=True)
    for libs in _shared().glob("libs-*"):
        (broker.home / libs.name).symlink_to(libs, target_is_directory=True)


def remove_home(broker: BrokerSettings) -> None:
    """Delete the broker's storage and logs (the shared jars stay)."""
    if broker.home is not None:
        shutil.rmtree(broker.home, ignore_errors=True)


def _free_pair(attempts: int = 50) -> int:
    """A port whose successor is free too: the client and controller listeners."""
    for _ in range(attempts):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            try:
                with socket.socket() as second:
                    second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise BrokerError("found no two consecutive free ports for the harness's broker", retriable=False)
