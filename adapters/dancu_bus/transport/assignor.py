"""A consumer-group assignor that keeps every topic of one group with one member.

Kafka's own assignors spread each topic's partitions over the members independently. A service
whose output partition is chosen per input *topic* (the audit writes all of an agency's exchanges
to one audit partition) needs more: every partition of every topic of that output partition owned
by the same member, so that the output partition has one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

__all__ = ["GroupOf", "colocated", "colocating_assignor"]

GroupOf = Callable[[str], int]
"""The group (output partition) of a topic."""
Plan = dict[str, dict[str, list[int]]]


def colocated(
    subscriptions: Mapping[str, Collection[str]], partitions: Mapping[str, Collection[int]], group_of: GroupOf
) -> Plan:
    """Per member, topic → partitions: the groups in use dealt in turn to the members, sorted by id."""
    members = sorted(subscriptions)
    topics = sorted({t for subscribed in subscriptions.values() for t in subscribed if t in partitions})
    groups = sorted({group_of(topic) for topic in topics})
    owner = {group: members[rank % len(members)] for rank, group in enumerate(groups)}
    plan: Plan = {member: {} for member in members}
    for topic in topics:
        member = owner[group_of(topic)]
        # A member that has not matched a new topic yet gets it at the rebalance its match triggers;
        # handing it to another member meanwhile would give its output partition two writers.
        if topic in subscriptions[member]:
            plan[member][topic] = sorted(partitions[topic])
    return plan


def colocating_assignor(group_of: GroupOf) -> type[Any]:
    """An aiokafka assignor class that assigns by ``colocated`` (every member must use it)."""
    return _assignor(
        "dancu-colocating", lambda subscriptions, found: colocated(subscriptions, found, group_of)
    )


def _assignor(
    protocol: str, plan_of: Callable[[Mapping[str, Collection[str]], Mapping[str, Collection[int]]], Plan]
) -> type[Any]:
    class CoLocatingAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
        name = protocol
        version = 0

        @classmethod
        def assign(cls, cluster: Any, members: Mapping[str, Any]) -> dict[str, Any]:
            """The leader's assignment of every member."""
            subscriptions = {member: set(metadata.subscription) for member, metadata in members.items()}
            partitions = _partitions(cluster, {t for topics in subscriptions.values() for t in topics})
            plan = plan_of(subscriptions, partitions)
            return {
                member: ConsumerProtocolMemberAssignment(cls.version, sorted(plan[member].items()), b"")
                for member in members
            }

        @classmethod
        def metadata(cls, topics: Iterable[str]) -> Any:
            """What this member tells the leader: the topics its pattern matched."""
            return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")

        @classmethod
        def on_assignment(cls, assignment: Any) -> None:
            """Nothing to remember: the assignment is a pure function of the group."""

    return CoLocatingAssignor


def _partitions(cluster: Any, topics: Iterable[str]) -> dict[str, Collection[int]]:
    known = {topic: cluster.partitions_for_topic(topic) for topic in topics}
    return {topic: numbers for topic, numbers in known.items() if numbers}
