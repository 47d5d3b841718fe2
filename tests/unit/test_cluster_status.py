"""The development cluster's status: the active controller from the quorum states, one line per node."""

from __future__ import annotations

from pathlib import Path

import pytest

from dancu_bus.admin import Replicas
from dancu_bus.dev.cluster import ClusterStatus, NodeStatus, active_controller, cluster_nodes, describe_status
from dancu_bus.settings import ClusterSettings


@pytest.mark.parametrize(
    ("states", "controller"),
    [
        ({1: (4, 2), 2: (4, 2), 3: (4, 2)}, 2),
        ({1: (5, 1), 3: (4, 3)}, 1),  # node 3 was down through the election of epoch 5
        ({1: (6, -1), 2: (5, 2)}, 2),  # epoch 6's election is under way: the last leader known stands
        ({1: (3, -1)}, None),
        ({}, None),
    ],
)
def test_the_active_controller_is_the_leader_of_the_newest_epoch(
    states: dict[int, tuple[int, int]], controller: int | None
) -> None:
    """The leader named for the highest epoch wins; a node that missed an election holds an older one."""
    assert active_controller(states) == controller


def test_nodes_take_two_ports_each_and_share_one_static_quorum(tmp_path: Path) -> None:
    """Node n serves clients on port + 2(n-1), controllers on the next port; every node names all voters."""
    nodes = cluster_nodes(ClusterSettings(home=tmp_path, port=30000))
    assert [(n.broker.port, n.broker.controller_port) for n in nodes] == [
        (30000, 30001),
        (30002, 30003),
        (30004, 30005),
    ]
    assert {n.member.voters for n in nodes} == {"1@127.0.0.1:30001,2@127.0.0.1:30003,3@127.0.0.1:30005"}
    assert all(n.broker.secure and n.home == tmp_path / f"node-{n.node_id}" for n in nodes)


def test_the_status_names_each_node_the_controller_and_the_leaders(tmp_path: Path) -> None:
    """Up or down per node, the active controller marked, partitions led, and what is out of sync."""
    one, two, three = cluster_nodes(ClusterSettings(home=tmp_path, port=30000))
    found = Replicas(brokers=(1, 3), leaders={1: 10, 3: 8}, under_replicated=18, offline=0, factors={3: 18})
    status = ClusterStatus(
        (NodeStatus(one, 11, 10), NodeStatus(two, None, 0), NodeStatus(three, 33, 8)), 3, found
    )
    assert describe_status(status) == [
        "node 1: up (pid 11) on 127.0.0.1:30000 (controller port 30001), leads 10 partitions",
        "node 2: down on 127.0.0.1:30002 (controller port 30003), leads 0 partitions",
        "node 3: up (pid 33) on 127.0.0.1:30004 (controller port 30005), active controller,"
        " leads 8 partitions",
        "cluster: brokers [1, 3], 18 partitions under-replicated, 0 offline",
    ]
