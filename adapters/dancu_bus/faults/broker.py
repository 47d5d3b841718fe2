"""The harness's own broker: free ports and a fresh home per run, the Kafka jars shared between runs.

Several harnesses may run at once on one machine (two engineers' test runs): each one's broker has
its own ports and storage, so that one restarting or stopping its broker never touches another's.
The jars are fetched once into ``.cache/fault-broker`` and linked into each run's home.
"""

from __future__ import annotations

import random
import shutil
import socket
from pathlib import Path

from dancu_bus.dev import broker_kafka, fetch_broker, repo_root, start_broker, stop_broker
from dancu_bus.errors import BrokerError, DancuError
from dancu_bus.settings import BrokerSettings, KafkaSettings

__all__ = ["SingleBroker", "fault_broker", "free_port", "link_jars", "prepare_home", "remove_home"]


def _shared() -> Path:
    return repo_root() / ".cache" / "fault-broker"


class SingleBroker:
    """The harness's one broker (a ``Deployment``): its settings are what the scenarios act on."""

    replication_factor = 1

    def __init__(self, broker: BrokerSettings) -> None:
        self.target = broker
        self._started = False

    @property
    def kafka(self) -> KafkaSettings:
        return broker_kafka(self.target)

    def start(self) -> None:
        """Start the broker on fresh storage (BrokerError when it cannot)."""
        prepare_home(self.target)
        try:
            self._started = start_broker(self.target)
        except DancuError:
            stop_broker(self.target)  # in case it started after all: no broker outlives the harness
            remove_home(self.target)
            raise

    def stop(self) -> None:
        """Stop the broker ``start`` started and delete its storage."""
        if self._started:
            stop_broker(self.target)
            self._started = False
            remove_home(self.target)


def fault_broker(port: int | None = None) -> BrokerSettings:
    """A broker on ``port`` and ``port + 1`` (free if None), at home in ``.cache/fault-broker/run-<port>``."""
    client = port if port is not None else free_port(2)
    return BrokerSettings(
        home=_shared() / f"run-{client}", port=client, controller_port=client + 1, heap="768m"
    )


def prepare_home(broker: BrokerSettings) -> None:
    """Fetch the jars once into the shared cache and link them into the broker's own, empty home."""
    assert broker.home is not None
    link_jars(broker.home)


def link_jars(home: Path) -> None:
    """An empty ``home`` (whatever was there is deleted) with the jars of the shared cache linked in."""
    fetch_broker(BrokerSettings(home=_shared()))
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for libs in _shared().glob("libs-*"):
        (home / libs.name).symlink_to(libs, target_is_directory=True)


def remove_home(broker: BrokerSettings) -> None:
    """Delete the broker's storage and logs (the shared jars stay)."""
    if broker.home is not None:
        shutil.rmtree(broker.home, ignore_errors=True)


def free_port(count: int = 1, attempts: int = 200) -> int:
    """The first of ``count`` consecutive ports that are free now, below the ephemeral range.

    A port taken by the kernel's ephemeral range (where clients' source ports come from) may be in use
    by a client's connection when a broker restarts on it ("Address already in use"); below it, only a
    server that binds it on purpose can take it.
    """
    low = _ephemeral_low()
    ceiling = min(low, 65536) - count
    for port in random.sample(range(_LOWEST, ceiling), min(attempts, ceiling - _LOWEST)):
        if all(_free(port + n) for n in range(count)):
            return port
    raise BrokerError(f"found no {count} consecutive free ports below {low}", retriable=False)


_LOWEST = 20_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
