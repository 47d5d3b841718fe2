"""The three-node cluster under a broker fault: one node SIGKILLed mid-stream and restarted loses nothing.

The cluster is the development cluster of `dancu-bus dev cluster` on free ports (never 19192-19194),
secured as the single broker is, started once for this module; the stage's topics are laid out as
topics.yaml declares them, 3 replicas and min.insync.replicas 2. The load and the counts are the fault
harness's (`dancu-bus check faults --cluster` runs every cluster scenario).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dancu_bus.admin import describe, replicas
from dancu_bus.dev.cluster import cluster_status
from dancu_bus.errors import DancuError
from dancu_bus.faults import CLUSTER_SCENARIOS, FaultCluster, FaultOptions, Harness, fault_cluster
from dancu_bus.faults.stage import prepare_stage
from dancu_bus.settings import Settings

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(600)]

# Long enough that the load goes on while the node is down and while it comes back.
SHORT = FaultOptions(requests=3_000, seconds=20.0)


@pytest.fixture(scope="module")
def cluster() -> Iterator[FaultCluster]:
    """Three secured nodes on free ports, started once for this module and stopped (storage deleted) after."""
    running = FaultCluster(fault_cluster())
    try:
        running.start()
    except DancuError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the three-node cluster did not start: {exc}", pytrace=False)
        pytest.skip(f"the three-node cluster did not start: {exc}")
    try:
        yield running
    finally:
        running.stop()


def test_three_voters_serve_and_topics_get_three_replicas_two_in_sync(
    cluster: FaultCluster, tmp_path: Path
) -> None:
    """Every node is up, one is the active controller, and a stage's topics follow topics.yaml: 3 and 2."""
    status = cluster_status(cluster.target)
    assert [entry.pid is not None for entry in status.nodes] == [True, True, True]
    assert status.controller in {1, 2, 3}
    stage = prepare_stage(Settings(), cluster.kafka, tmp_path, replication_factor=None)
    try:
        prefix = stage.kafka.topic_prefix + "."
        topics = describe(stage.kafka, prefix)
        assert topics and {t.configs["min.insync.replicas"] for t in topics.values()} == {"2"}
        assert set(replicas(stage.kafka, prefix).factors) == {3}
    finally:
        stage.tear_down(keep_workdir=False)


def test_one_broker_killed_mid_stream_loses_nothing_and_answers_nothing_twice(
    cluster: FaultCluster, tmp_path: Path
) -> None:
    """A node SIGKILLed once a third is answered, then restarted: one response and one audit record each."""
    harness = Harness(cluster, Settings(), tmp_path, SHORT)
    row = harness.run(CLUSTER_SCENARIOS["cluster-broker-kill"])
    assert 0 < row.fault_at < row.sent, "the fault did not land in the middle of the stream"
    assert (row.duplicates, row.missing) == (0, 0)
    assert row.received == row.sent and row.audit_records == row.sent and row.chain_intact
    assert row.audited_twice == 0
