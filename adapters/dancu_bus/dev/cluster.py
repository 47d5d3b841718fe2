"""The local development cluster: three secured KRaft nodes, each a broker and a voter of the quorum.

Each node is ``deploy/local/broker.sh`` of the single development broker, run with a home of its own
(``<cluster home>/node-<id>``: storage, ``broker.pid``, ``server.log``), the static quorum of every
node's controller listener, one cluster id and one super-user password. Node n serves clients on
``port + 2(n-1)`` and its controller peers on the port after, all on 127.0.0.1, secured as the single
broker is (TLS, SASL_SSL SCRAM-SHA-512, the StandardAuthorizer, super user ``dancu-admin``) with the
development CA of ``dev.ca`` in ``<cluster home>/tls``. The jars are fetched once into the cluster's
home; each node's home links to them and to the CA.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from dancu_bus.admin import Replicas, replicas, wait_ready
from dancu_bus.dev.broker import (
    ADMIN_USER,
    QuorumMember,
    fetch_broker,
    finish_script,
    repo_root,
    spawn_script,
    stop_broker,
)
from dancu_bus.dev.ca import DevCa, ensure_dev_ca
from dancu_bus.errors import BrokerError, ClusterUnusable, ConfigError, DancuError
from dancu_bus.secret_files import write_private
from dancu_bus.settings import BrokerSettings, ClusterSettings, KafkaSettings

__all__ = [
    "ClusterNode",
    "ClusterStatus",
    "NodeStatus",
    "active_controller",
    "cluster_ca",
    "cluster_home",
    "cluster_kafka",
    "cluster_nodes",
    "cluster_status",
    "describe_status",
    "kill_node",
    "start_cluster",
    "start_node",
    "stop_cluster",
    "stop_node",
]


@dataclass(frozen=True)
class ClusterNode:
    """One node: its id, and the single-broker settings broker.sh runs it with."""

    node_id: int
    broker: BrokerSettings
    member: QuorumMember

    @property
    def home(self) -> Path:
        assert self.broker.home is not None
        return self.broker.home

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.broker.port}"

    def pid(self) -> int | None:
        """The node's java process, if it runs (broker.sh's pid file, checked against /proc)."""
        try:
            pid = int((self.home / "broker.pid").read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"kafka.Kafka" in command else None


@dataclass(frozen=True)
class NodeStatus:
    """Whether a node runs, and what the cluster's metadata says it leads."""

    node: ClusterNode
    pid: int | None
    leads: int | None


@dataclass(frozen=True)
class ClusterStatus:
    """Every node's status, the active controller, and partitions out of sync (None: no metadata)."""

    nodes: tuple[NodeStatus, ...]
    controller: int | None
    replicas: Replicas | None


def cluster_home(cluster: ClusterSettings) -> Path:
    """Where the cluster keeps its jars, CA, password and nodes; ``<repo>/.cache/cluster`` unless set."""
    return (cluster.home or repo_root() / ".cache" / "cluster").resolve()


def cluster_ca(cluster: ClusterSettings) -> DevCa:
    """The cluster's development CA; its ``ca.crt`` is what clients trust."""
    return DevCa(cluster_home(cluster) / "tls")


def _password(cluster: ClusterSettings, create: bool) -> SecretStr:
    """The super user's password: from the settings, else kept in ``<home>/admin.password``."""
    if cluster.admin_password is not None:
        return cluster.admin_password
    kept = cluster_home(cluster) / "admin.password"
    if kept.exists():
        return SecretStr(kept.read_text().strip())
    if not create:
        raise ConfigError(f"no {kept}: start the cluster once, or set DANCU_CLUSTER__ADMIN_PASSWORD")
    # The script's alphabet: it goes into JAAS and StorageTool syntax.
    password = secrets.token_hex(24)
    write_private(kept, password + "\n")
    return SecretStr(password)


def _cluster_id(cluster: ClusterSettings) -> str:
    """The id every node's storage is formatted with, made once (as Kafka's: URL-safe base64, 16 bytes)."""
    kept = cluster_home(cluster) / "cluster.id"
    if kept.exists():
        return kept.read_text().strip()
    made = "-"
    while made.startswith("-"):  # as Kafka's Uuid.randomUuid: an id must not read as an option
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    kept.write_text(made + "\n")
    return made


def cluster_nodes(cluster: ClusterSettings, *, create: bool = False) -> list[ClusterNode]:
    """The cluster's nodes, 1 to ``brokers``; ``create``: make the password and cluster id if missing."""
    home = cluster_home(cluster)
    if create:
        home.mkdir(parents=True, exist_ok=True)
    ids = range(1, cluster.brokers + 1)
    voters = ",".join(f"{n}@127.0.0.1:{cluster.port + 2 * (n - 1) + 1}" for n in ids)
    # Stopping or asking after a cluster never started needs no password.
    known = create or cluster.admin_password is not None or (home / "admin.password").exists()
    password = _password(cluster, create) if known else None
    cluster_id = _cluster_id(cluster) if create else ""
    return [
        ClusterNode(
            n,
            BrokerSettings(
                home=home / f"node-{n}",
                port=cluster.port + 2 * (n - 1),
                controller_port=cluster.port + 2 * (n - 1) + 1,
                heap=cluster.heap,
                start_timeout_s=cluster.start_timeout_s,
                secure=True,
                admin_password=password,
            ),
            QuorumMember(n, voters, cluster_id),
        )
        for n in ids
    ]


def cluster_kafka(cluster: ClusterSettings) -> KafkaSettings:
    """Client settings that reach the cluster, every node a bootstrap server, as its super user."""
    return KafkaSettings(
        bootstrap_servers=",".join(node.address for node in cluster_nodes(cluster)),
        security_protocol="SASL_SSL",
        ssl_ca=cluster_ca(cluster).certificate,
        username=ADMIN_USER,
        password=_password(cluster, create=False),
    )


def _prepare(cluster: ClusterSettings, echo: bool) -> list[ClusterNode]:
    """Jars, CA, password and cluster id in the cluster's home; each node's home linked to them."""
    home = cluster_home(cluster)
    home.mkdir(parents=True, exist_ok=True)
    fetch_broker(BrokerSettings(home=home), echo=echo)
    ensure_dev_ca(cluster_ca(cluster).folder)
    nodes = cluster_nodes(cluster, create=True)
    for node in nodes:
        node.home.mkdir(exist_ok=True)
        for shared in [*home.glob("libs-*"), cluster_ca(cluster).folder]:
            link = node.home / shared.name
            if not link.exists():
                link.symlink_to(shared, target_is_directory=True)
    return nodes


def _check_ports(node: ClusterNode, cluster: ClusterSettings) -> None:
    """BrokerError naming the node and port when another process holds one of its ports."""
    for port in (node.broker.port, node.broker.controller_port):
        with socket.socket() as probe:
            # As the broker binds: a port whose connections are closing (TIME_WAIT) is free to it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise ClusterUnusable(
                    f"cluster node {node.node_id}: port {port} on 127.0.0.1 is taken by another process;"
                    f" set DANCU_CLUSTER__PORT to the first of {2 * cluster.brokers} free ports",
                    retriable=False,
                ) from None


def _start(nodes: list[ClusterNode], cluster: ClusterSettings) -> list[int]:
    """Start the nodes that do not run, together; the ids started, once each one's script is done."""
    down = [node for node in nodes if node.pid() is None]
    for node in down:
        _check_ports(node, cluster)
    spawned = [(node, spawn_script(node.broker, "start", node.member)) for node in down]
    failures = []
    for node, process in spawned:
        try:
            finish_script(process, "start")
        except BrokerError as exc:
            failures.append(f"cluster node {node.node_id} ({node.address}) did not start: {exc}")
    if failures:
        raise ClusterUnusable("; ".join(failures), retriable=False)
    return [node.node_id for node in down]


def start_cluster(cluster: ClusterSettings, *, echo: bool = False) -> list[int]:
    """Start every node that does not run; the ids started, once all are brokers of the cluster."""
    nodes = _prepare(cluster, echo)
    started = _start(nodes, cluster)
    _wait_brokers(cluster, {node.node_id for node in nodes})
    return started


def start_node(cluster: ClusterSettings, node_id: int) -> None:
    """Start one node again (after ``stop_node`` or ``kill_node``); return once it is a broker again."""
    _start([_node(cluster, node_id, create=True)], cluster)
    _wait_brokers(cluster, {node_id})


def stop_node(cluster: ClusterSettings, node_id: int) -> None:
    """SIGTERM one node, as a rolling restart does: it hands its leaderships over and leaves."""
    node = _node(cluster, node_id)
    stop_broker(node.broker, member=node.member)


def kill_node(cluster: ClusterSettings, node_id: int) -> None:
    """SIGKILL one node, and return once it is gone."""
    pid = _node(cluster, node_id).pid()
    if pid is None:
        raise ClusterUnusable(f"cluster node {node_id} is not running: nothing to kill", retriable=False)
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.1)


def stop_cluster(cluster: ClusterSettings) -> list[str]:
    """Stop every node that runs (SIGTERM, SIGKILL after 30 s); what each node's script said.

    All at once: one by one, the last node would wait out its 30 s for a quorum that is gone.
    """
    nodes = cluster_nodes(cluster)
    spawned = [spawn_script(node.broker, "stop", node.member) for node in nodes]
    return [finish_script(process, "stop") for process in spawned]


def _node(cluster: ClusterSettings, node_id: int, create: bool = False) -> ClusterNode:
    nodes = {node.node_id: node for node in cluster_nodes(cluster, create=create)}
    if node_id not in nodes:
        raise ConfigError(f"the cluster has nodes 1 to {cluster.brokers}, not {node_id}")
    return nodes[node_id]


def _wait_brokers(cluster: ClusterSettings, wanted: set[int]) -> None:
    """Wait until the cluster answers and its metadata lists every ``wanted`` node as a broker."""
    kafka = cluster_kafka(cluster)
    deadline = time.monotonic() + cluster.start_timeout_s
    logs = f"{cluster_home(cluster)}/node-N/server.log"
    try:
        wait_ready(kafka, cluster.start_timeout_s)
    except BrokerError as exc:
        raise ClusterUnusable(f"the cluster's nodes run but do not answer: {exc}; see {logs}") from exc
    while not wanted <= set(replicas(kafka).brokers):
        if time.monotonic() > deadline:
            missing = sorted(wanted - set(replicas(kafka).brokers))
            raise ClusterUnusable(
                f"cluster nodes {missing} run but did not join within {cluster.start_timeout_s:g} s;"
                f" see {logs}",
                retriable=False,
            )
        time.sleep(0.5)


def active_controller(quorum_states: Mapping[int, tuple[int, int]]) -> int | None:
    """The leader named for the highest epoch in the running nodes' (epoch, leader); None if none names one.

    A node writes the leader it knows whenever the epoch changes; one that was down may hold an old
    epoch's, so the newest wins. No leader is -1 (an election under way).
    """
    known = [(epoch, leader) for epoch, leader in quorum_states.values() if leader >= 0]
    return max(known)[1] if known else None


def _quorum_state(node: ClusterNode) -> tuple[int, int] | None:
    """(epoch, leader) from the node's ``quorum-state`` file, which KRaft rewrites at every election."""
    try:
        state = json.loads((node.home / "data" / "__cluster_metadata-0" / "quorum-state").read_text())
        return int(state["leaderEpoch"]), int(state["leaderId"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cluster_status(cluster: ClusterSettings) -> ClusterStatus:
    """Which nodes run, which one is the active controller, and what each leads."""
    pids = {node.node_id: (node, node.pid()) for node in cluster_nodes(cluster)}
    states = {
        n: state
        for n, (node, pid) in pids.items()
        if pid is not None and (state := _quorum_state(node)) is not None
    }
    found: Replicas | None = None
    if states:
        try:
            found = replicas(cluster_kafka(cluster), timeout_s=10.0)
        except DancuError:
            found = None  # up but not answering: the status says so
    nodes = tuple(
        NodeStatus(node, pid, None if found is None else found.leaders.get(n, 0))
        for n, (node, pid) in pids.items()
    )
    return ClusterStatus(nodes, active_controller(states), found)


def describe_status(status: ClusterStatus) -> list[str]:
    """The status, one line per node and one for the partitions."""
    lines = []
    for entry in status.nodes:
        node = entry.node
        state = f"up (pid {entry.pid})" if entry.pid is not None else "down"
        role = ", active controller" if entry.node.node_id == status.controller else ""
        leads = "" if entry.leads is None else f", leads {entry.leads} partitions"
        lines.append(
            f"node {node.node_id}: {state} on {node.address} (controller port"
            f" {node.broker.controller_port}){role}{leads}"
        )
    if status.replicas is not None:
        found = status.replicas
        lines.append(
            f"cluster: brokers {list(found.brokers)}, {found.under_replicated} partitions under-replicated,"
            f" {found.offline} offline"
        )
    elif any(entry.pid is not None for entry in status.nodes):
        lines.append("cluster: no metadata (fewer than two nodes up, or still starting)")
    return lines
