"""The difference between the declared topics and a cluster, as a list of actions: a pure function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from dancu_bus.topics.model import TopicSpec

__all__ = [
    "Action",
    "ActualTopic",
    "AddPartitions",
    "AlterConfigs",
    "CreateTopic",
    "DeleteTopic",
    "Plan",
    "Problem",
    "plan",
    "render",
    "render_action",
]

# Configs whose value is a comma-separated set: "compact,delete" equals "delete,compact".
SET_VALUED_CONFIGS = frozenset({"cleanup.policy"})


@dataclass(frozen=True)
class ActualTopic:
    """A topic as the cluster reports it: partition count and effective configs."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateTopic:
    """Create a declared topic that the cluster lacks."""

    spec: TopicSpec

    @property
    def topic(self) -> str:
        """The topic's name."""
        return self.spec.name


@dataclass(frozen=True)
class AlterConfigs:
    """Set one config of an existing topic to its declared value."""

    topic: str
    key: str
    old: str | None
    new: str


@dataclass(frozen=True)
class AddPartitions:
    """Raise an existing topic's partition count to the declared one."""

    topic: str
    old: int
    new: int


@dataclass(frozen=True)
class DeleteTopic:
    """Delete a managed topic that is no longer declared."""

    topic: str


@dataclass(frozen=True)
class Problem:
    """A difference the plan cannot resolve, such as fewer declared partitions than exist."""

    topic: str
    message: str


Action: TypeAlias = CreateTopic | AlterConfigs | AddPartitions | DeleteTopic


@dataclass(frozen=True)
class Plan:
    """What to do, in order, and what cannot be done."""

    actions: tuple[Action, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the cluster already matches the declaration."""
        return not self.actions and not self.problems


def _same(key: str, old: str | None, new: str) -> bool:
    """Whether a config already has its declared value."""
    if old is None:
        return False
    if key in SET_VALUED_CONFIGS:
        return {p.strip() for p in old.split(",")} == {p.strip() for p in new.split(",")}
    return old == new


def _align(spec: TopicSpec, actual: ActualTopic) -> tuple[list[Action], list[Problem]]:
    """Actions and problems that bring one existing topic to its declaration."""
    actions: list[Action] = [
        AlterConfigs(spec.name, key, actual.configs.get(key), value)
        for key, value in sorted(spec.configs.items())
        if not _same(key, actual.configs.get(key), value)
    ]
    problems: list[Problem] = []
    if spec.partitions > actual.partitions:
        actions.append(AddPartitions(spec.name, actual.partitions, spec.partitions))
    elif spec.partitions < actual.partitions:
        message = (
            f"has {actual.partitions} partitions but {spec.partitions} are declared;"
            " Kafka cannot remove partitions (declare at least the current count, or recreate the topic)"
        )
        problems.append(Problem(spec.name, message))
    return actions, problems


def plan(
    desired: list[TopicSpec],
    actual: Mapping[str, ActualTopic],
    delete_unknown: bool = False,
    *,
    prefix: str = "ndxp.dancu",
) -> Plan:
    """Actions that make ``actual`` match ``desired``; deletes only undeclared topics under ``prefix.``."""
    actions: list[Action] = []
    problems: list[Problem] = []
    for spec in desired:
        existing = actual.get(spec.name)
        if existing is None:
            actions.append(CreateTopic(spec))
            continue
        more_actions, more_problems = _align(spec, existing)
        actions += more_actions
        problems += more_problems
    if delete_unknown:
        declared = {s.name for s in desired}
        undeclared = (n for n in actual if n.startswith(prefix + ".") and n not in declared)
        actions += [DeleteTopic(name) for name in sorted(undeclared)]
    return Plan(tuple(actions), tuple(problems))


def render_action(action: Action) -> str:
    """One line of a plan: ``+ create``, ``~ alter`` or ``- delete``."""
    if isinstance(action, CreateTopic):
        spec = action.spec
        details = [f"partitions {spec.partitions}", f"replication {spec.replication_factor}"]
        details += [f"{key}={value}" for key, value in sorted(spec.configs.items())]
        return f"+ create {spec.name} ({', '.join(details)})"
    if isinstance(action, AlterConfigs):
        return f"~ alter {action.topic} {action.key}: {action.old} -> {action.new}"
    if isinstance(action, AddPartitions):
        return f"~ alter {action.topic} partitions: {action.old} -> {action.new}"
    return f"- delete {action.topic}"


def render(plan: Plan) -> str:
    """The whole plan as text for the CLI; ``no changes`` when there is nothing to do."""
    if plan.empty:
        return "no changes"
    lines = [render_action(action) for action in plan.actions]
    lines += [f"! {problem.topic} {problem.message}" for problem in plan.problems]
    return "\n".join(lines)
