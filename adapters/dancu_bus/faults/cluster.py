"""Faults on a three-node cluster of the harness's own (``dancu-bus check faults --cluster``).

The cluster is the development cluster of ``dev.cluster`` on free ports, at home in
``.cache/fault-broker/cluster-<port>`` with the shared jars, its topics as topics.yaml declares them
(3 replicas, ``min.insync.replicas`` 2), so one node may be down without a write being refused. Each
scenario returns once every node serves again and every partition has all its replicas in sync.
"""

from __future__ import annotations

import shutil
import time

from dancu_bus.admin import replicas
from dancu_bus.dev import repo_root
from dancu_bus.dev.cluster import (
    cluster_home,
    cluster_kafka,
    cluster_status,
    kill_node,
    start_cluster,
    start_node,
    stop_cluster,
    stop_node,
)
from dancu_bus.errors import BrokerError, DancuError
from dancu_bus.faults.broker import free_port, link_jars
from dancu_bus.faults.scenarios import Progress, Scenario
from dancu_bus.faults.stage import Stage
from dancu_bus.settings import ClusterSettings, KafkaSettings

__all__ = ["CLUSTER_SCENARIOS", "FaultCluster", "fault_cluster"]

_NODES = 3
# How long a restarted node may take to be back in every partition's in-sync replicas.
_IN_SYNC_S = 300.0


def fault_cluster(port: int | None = None) -> ClusterSettings:
    """Three nodes on ``port`` to ``port + 5`` (free if None), at ``.cache/fault-broker/cluster-<port>``."""
    first = port if port is not None else free_port(2 * _NODES)
    home = repo_root() / ".cache" / "fault-broker" / f"cluster-{first}"
    return ClusterSettings(home=home, port=first, brokers=_NODES, heap="512m", start_timeout_s=240.0)


class FaultCluster:
    """The harness's cluster (a ``Deployment``): its settings are what the scenarios act on."""

    replication_factor = None

    def __init__(self, cluster: ClusterSettings) -> None:
        self.target = cluster
        self._started = False

    @property
    def kafka(self) -> KafkaSettings:
        return cluster_kafka(self.target)

    def start(self) -> None:
        """Start the three nodes on fresh storage (BrokerError when they cannot; none is left running)."""
        link_jars(cluster_home(self.target))
        try:
            start_cluster(self.target)
        except DancuError:
            self._remove()
            raise
        self._started = True

    def stop(self) -> None:
        """Stop the nodes and delete their storage."""
        if self._started:
            self._started = False
            self._remove()

    def _remove(self) -> None:
        stop_cluster(self.target)
        shutil.rmtree(cluster_home(self.target), ignore_errors=True)


def _in_sync(cluster: ClusterSettings, timeout_s: float = _IN_SYNC_S) -> None:
    """Wait until every partition of the cluster (internal topics too) has all its replicas in sync."""
    kafka = cluster_kafka(cluster)
    deadline = time.monotonic() + timeout_s
    while (
        (found := replicas(kafka)).under_replicated or found.offline or len(found.brokers) < cluster.brokers
    ):
        if time.monotonic() > deadline:
            raise BrokerError(
                f"after {timeout_s:g} s {found.under_replicated} partitions are still under-replicated and"
                f" {found.offline} offline, brokers {list(found.brokers)}",
                retriable=False,
            )
        time.sleep(1.0)


def _restart_killed(cluster: ClusterSettings, node_id: int) -> None:
    """SIGKILL a node, start it again, and wait until it is back in every in-sync replica set."""
    kill_node(cluster, node_id)
    start_node(cluster, node_id)
    _in_sync(cluster)


def _kill_follower(stage: Stage, progress: Progress, cluster: ClusterSettings) -> None:
    """A node that is not the active controller, so this fault is a broker's alone."""
    progress.wait_answered(1 / 3)
    controller = cluster_status(cluster).controller
    victim = next(n for n in range(cluster.brokers, 0, -1) if n != controller)
    progress.mark()
    _restart_killed(cluster, victim)


def _kill_leaders(stage: Stage, progress: Progress, cluster: ClusterSettings) -> None:
    """The node leading the most of the stage's partitions: their leaderships move while the load goes on."""
    progress.wait_answered(1 / 3)
    leaders = replicas(stage.kafka, stage.kafka.topic_prefix + ".").leaders
    victim = max(leaders, key=lambda node: leaders[node])
    progress.mark()
    _restart_killed(cluster, victim)


def _kill_controller(stage: Stage, progress: Progress, cluster: ClusterSettings) -> None:
    """The active controller: the other two voters elect a new one, and it serves on as a broker after."""
    progress.wait_answered(1 / 3)
    controller = cluster_status(cluster).controller
    if controller is None:
        raise BrokerError("no node names an active controller: the quorum has no leader", retriable=False)
    progress.mark()
    _restart_killed(cluster, controller)


def _restart_in_turn(cluster: ClusterSettings, node_id: int) -> None:
    """One step of a rolling restart: SIGTERM (leaderships handed over), start, back in every ISR."""
    stop_node(cluster, node_id)
    start_node(cluster, node_id)
    _in_sync(cluster)


def _rolling_restart(stage: Stage, progress: Progress, cluster: ClusterSettings) -> None:
    """Every node in turn, each back in sync before the next goes, as an operator upgrades a cluster."""
    progress.wait_answered(1 / 4)
    progress.mark()
    for node_id in range(1, cluster.brokers + 1):
        _restart_in_turn(cluster, node_id)


def _scale_while_rolling(stage: Stage, progress: Progress, cluster: ClusterSettings) -> None:
    """A rolling restart, with two more resolvers and audit consumers joining after the first node and
    leaving (SIGTERM) after the second: both groups rebalance while a broker is away."""
    progress.wait_answered(1 / 4)
    progress.mark()
    _restart_in_turn(cluster, 1)
    joined = [stage.start(kind) for kind in ("resolver", "audit") for _ in range(2)]
    _restart_in_turn(cluster, 2)
    for service in joined:
        service.stop()
    for node_id in range(3, cluster.brokers + 1):
        _restart_in_turn(cluster, node_id)


CLUSTER_SCENARIOS: dict[str, Scenario[ClusterSettings]] = {
    s.name: s
    for s in (
        Scenario("cluster-broker-kill", "one broker SIGKILL, restarted", _kill_follower),
        Scenario("cluster-leaders-kill", "the partition leaders' broker SIGKILL", _kill_leaders),
        Scenario("cluster-controller-kill", "the active controller SIGKILL", _kill_controller),
        Scenario("cluster-rolling-restart", "rolling restart of all three", _rolling_restart),
        Scenario(
            "cluster-rolling-scale", "rolling restart, resolver + audit 1 → 3 → 1", _scale_while_rolling
        ),
    )
}
