"""``dancu-bus dev cluster start|stop|status``: the local three-node KRaft cluster (DANCU_CLUSTER__*)."""

from __future__ import annotations

import argparse
import time

from pydantic import ValidationError

from dancu_bus.dev.cluster import (
    cluster_ca,
    cluster_home,
    cluster_kafka,
    cluster_status,
    describe_status,
    start_cluster,
    stop_cluster,
)
from dancu_bus.errors import ConfigError
from dancu_bus.settings import ClusterSettings, Settings

__all__ = ["register_cluster"]

# As ``dev broker status``: 3 when the cluster is not (wholly) running.
_NOT_RUNNING = 3


def register_cluster(dev_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dev cluster``."""
    cluster = dev_commands.add_parser(
        "cluster",
        help="a secured KRaft cluster on 127.0.0.1, every node a broker and a controller (DANCU_CLUSTER__*)",
    )
    cluster.add_argument("action", choices=["start", "stop", "status"])
    cluster.add_argument(
        "--brokers", type=int, help="nodes (default DANCU_CLUSTER__BROKERS, 3), each a voter of the quorum"
    )
    cluster.set_defaults(run=run_cluster)


def run_cluster(args: argparse.Namespace, settings: Settings) -> int:
    """Run one cluster action; the status is one line per node."""
    cluster = settings.cluster
    if args.brokers is not None:
        try:
            cluster = ClusterSettings.model_validate({**cluster.model_dump(), "brokers": args.brokers})
        except ValidationError:
            raise ConfigError(f"--brokers {args.brokers}: the cluster has 3 to 9 nodes") from None
    if args.action == "stop":
        for said in stop_cluster(cluster):
            print(said)
        return 0
    if args.action == "start":
        began = time.monotonic()
        started = start_cluster(cluster, echo=True)
        kafka = cluster_kafka(cluster)
        again = f"started nodes {started}" if started else "already running"
        print(f"cluster: {again}; ready at {kafka.bootstrap_servers} ({time.monotonic() - began:.1f} s)")
        print(_login(cluster))
    status = cluster_status(cluster)
    for line in describe_status(status):
        print(line)
    return 0 if all(node.pid is not None for node in status.nodes) else _NOT_RUNNING


def _login(cluster: ClusterSettings) -> str:
    """The settings that reach the cluster as its super user, and how to lay out its topics."""
    kafka = cluster_kafka(cluster)
    ca = cluster_ca(cluster).certificate
    kept = cluster_home(cluster) / "admin.password"
    password = (
        "DANCU_KAFKA__PASSWORD=$DANCU_CLUSTER__ADMIN_PASSWORD"
        if cluster.admin_password
        else f"DANCU_KAFKA__PASSWORD_FILE={kept}"
    )
    return (
        f"cluster: SASL_SSL + SCRAM-SHA-512, CA {ca}; super user {kafka.username}\n"
        f"  export DANCU_KAFKA__BOOTSTRAP_SERVERS={kafka.bootstrap_servers}"
        f" DANCU_KAFKA__SECURITY_PROTOCOL=SASL_SSL DANCU_KAFKA__SSL_CA={ca}"
        f" DANCU_KAFKA__USERNAME={kafka.username} {password}\n"
        "  then `dancu-bus topics apply`: replication factor 3, min.insync.replicas 2, as topics.yaml says"
    )
