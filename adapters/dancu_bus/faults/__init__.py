"""``dancu-bus check faults``: the guarantees of DESIGN.md §5 checked by breaking things on a real broker.

Scenarios (``SCENARIOS``): the resolver killed with SIGKILL and restarted; the broker stopped and
restarted; a second resolver joining and the first leaving (a rebalance); the SQLite store made
unavailable for 5 s by another process's locks; the audit consumer killed and restarted; and, with the
traffic sent by agencies' applications through the SDK with its defaults (``faults.application``),
the resolver killed, the broker killed with SIGKILL, and an application killed and restarted. Each runs
on a broker the harness starts itself (``fault_broker``: free ports and a home of its own under
``.cache/fault-broker``, never the development broker), with the resolver and the audit consumer as
``dancu-bus`` child processes. ``CLUSTER_SCENARIOS`` (``check faults --cluster``) break the nodes of a
three-node cluster of the harness's own instead (``fault_cluster``).
"""

from dancu_bus.faults.broker import SingleBroker, fault_broker
from dancu_bus.faults.cluster import CLUSTER_SCENARIOS, FaultCluster, fault_cluster
from dancu_bus.faults.harness import Deployment, FaultOptions, Harness, Row, render
from dancu_bus.faults.scenarios import SCENARIOS, Scenario

__all__ = [
    "CLUSTER_SCENARIOS",
    "SCENARIOS",
    "Deployment",
    "FaultCluster",
    "FaultOptions",
    "Harness",
    "Row",
    "Scenario",
    "SingleBroker",
    "fault_broker",
    "fault_cluster",
    "render",
]
