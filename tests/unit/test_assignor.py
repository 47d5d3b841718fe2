"""The co-locating group assignor: every topic of one output partition with one member."""

from __future__ import annotations

from collections.abc import Collection

from dancu_bus.transport.assignor import colocated, colocating_assignor

GROUPS = {"req.a": 0, "res.a": 0, "req.b": 3, "res.b": 3, "req.c": 5, "res.c": 5}
SIX = list(range(6))


def group_of(topic: str) -> int:
    """The test's fixed placement of topics."""
    return GROUPS[topic]


def owners(plan: dict[str, dict[str, list[int]]]) -> dict[str, str]:
    """Which member holds each topic."""
    return {topic: member for member, topics in plan.items() for topic in topics}


def test_each_group_goes_whole_to_one_member() -> None:
    """Both topics of an agency, all their partitions, land with the same member; groups spread out."""
    subscribed = {"m2": set(GROUPS), "m1": set(GROUPS)}
    plan = colocated(subscribed, {t: SIX for t in GROUPS}, group_of)
    held = owners(plan)
    assert (
        held["req.a"] == held["res.a"] and held["req.b"] == held["res.b"] and held["req.c"] == held["res.c"]
    )
    assert {held["req.a"], held["req.b"]} == {"m1", "m2"}
    assert all(partitions == SIX for topics in plan.values() for partitions in topics.values())


def test_one_member_holds_everything() -> None:
    """A single audit consumer owns every group."""
    plan = colocated({"only": set(GROUPS)}, {t: SIX for t in GROUPS}, group_of)
    assert set(plan["only"]) == set(GROUPS)


def test_a_member_that_has_not_seen_a_topic_does_not_pass_it_on() -> None:
    """A topic its group's owner has not matched yet stays unassigned rather than get a second writer."""
    subscribed: dict[str, Collection[str]] = {"m1": set(GROUPS) - {"res.a"}, "m2": set(GROUPS)}
    plan = colocated(subscribed, {t: SIX for t in GROUPS}, group_of)
    assert owners(plan)["req.a"] == "m1"
    assert "res.a" not in owners(plan)


def test_topics_without_partition_metadata_are_skipped() -> None:
    """A topic the leader has no metadata for is left for the next rebalance."""
    plan = colocated({"m1": {"req.a", "res.a"}}, {"req.a": SIX}, group_of)
    assert plan == {"m1": {"req.a": SIX}}


class _Cluster:
    """The leader's view of topic partitions."""

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(SIX) if topic in GROUPS else None


def test_the_aiokafka_assignor_speaks_the_group_protocol() -> None:
    """The assignor class encodes the plan as aiokafka member assignments under its own protocol name."""
    assignor = colocating_assignor(group_of)
    members = {m: assignor.metadata(sorted(GROUPS)) for m in ("m1", "m2")}
    assignments = assignor.assign(_Cluster(), members)
    held = {topic: m for m, a in assignments.items() for topic, _ in a.assignment}
    assert assignor.name == "dancu-colocating"
    assert held["req.a"] == held["res.a"] and set(held) == set(GROUPS)
