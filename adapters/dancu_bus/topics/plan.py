"""The difference between topics.yaml and a cluster, topics and ACLs, as lists of actions: pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from dancu_bus.access import (
    Declaration,
    Grant,
    PlatformIds,
    agency_grants,
    bears_on,
    platform_grants,
    principal,
)
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics.model import TopicSpec

__all__ = [
    "AclPlan",
    "Action",
    "ActualTopic",
    "AddPartitions",
    "AlterConfigs",
    "CreateTopic",
    "DeleteTopic",
    "Plan",
    "Problem",
    "plan",
    "plan_acls",
    "render",
    "render_acl",
    "render_acls",
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


@dataclass(frozen=True)
class AclPlan:
    """Grants topics.yaml gives that the broker lacks, and grants the broker holds that it does not give."""

    missing: tuple[Grant, ...] = ()
    stray: tuple[Grant, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the broker holds exactly the grants topics.yaml gives."""
        return not self.missing and not self.stray


def plan_acls(
    declared: Declaration,
    names: TopicNames,
    ids: PlatformIds,
    held: Mapping[str, frozenset[Grant]],
    agency_ids: Iterable[str],
) -> AclPlan:
    """Compare the grants each principal ``held`` (by ``User:<name>``) with those topics.yaml gives.

    Compared are the platform users, on this deployment's topics and ids only (they may serve other
    deployments on the cluster), and the agencies named, on everything (an agency serves one).
    """
    wanted = {principal(user): grants for user, grants in platform_grants(declared, names, ids).items()}
    relevant = {who: frozenset(g for g in held.get(who, ()) if bears_on(g, names, ids)) for who in wanted}
    for agency in agency_ids:
        who = principal(agency)
        wanted[who] = agency_grants(declared, names, agency)
        relevant[who] = held.get(who, frozenset())
    missing = sorted(g for who, grants in wanted.items() for g in grants - relevant[who])
    stray = sorted(g for who, grants in relevant.items() for g in grants - wanted[who])
    return AclPlan(tuple(missing), tuple(stray))


def render_acl(sign: str, grant: Grant) -> str:
    """One ACL line: ``+ acl User:bank WRITE TOPIC LITERAL ndxp.dancu.req.bank`` (``-`` for a stray)."""
    verdict = "" if grant.allow else "DENY "
    host = "" if grant.host == "*" else f" from {grant.host}"
    resource = f"{grant.resource.value} {grant.pattern.value} {grant.name}"
    return f"{sign} acl {grant.principal} {verdict}{grant.operation.value} {resource}{host}"


def render_acls(acls: AclPlan, prune: bool) -> list[str]:
    """``+`` for each missing grant, ``-`` for each stray one, marked as kept unless pruning."""
    kept = "" if prune else "  (kept: apply --prune-acls removes it)"
    return [render_acl("+", g) for g in acls.missing] + [render_acl("-", g) + kept for g in acls.stray]


def render(plan: Plan, acls: AclPlan | None = None, *, prune_acls: bool = False) -> str:
    """The whole plan as text for the CLI; ``no changes`` when there is nothing to do."""
    acls = acls or AclPlan()
    if plan.empty and acls.empty:
        return "no changes"
    lines = [render_action(action) for action in plan.actions]
    lines += render_acls(acls, prune_acls)
    lines += [f"! {problem.topic} {problem.message}" for problem in plan.problems]
    return "\n".join(lines)
