"""Reading and changing a live cluster's topics with confluent-kafka's AdminClient."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

# The documented import path; the package re-exports these without an __all__, hence the ignore.
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import diagnose
from dancu_bus.errors import BrokerError, ClusterUnusable, ConfigError
from dancu_bus.settings import KafkaSettings
from dancu_bus.topics import (
    ActualTopic,
    AddPartitions,
    AlterConfigs,
    CreateTopic,
    DeleteTopic,
    Plan,
    TopicsFile,
    TopicSpec,
    expand,
    plan,
    render_action,
)

__all__ = [
    "Replicas",
    "apply",
    "broker_count",
    "delete_topics",
    "describe",
    "plan_topics",
    "replicas",
    "wait_ready",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")
# How long a metadata request waits before the cluster is diagnosed (``_metadata``), and the diagnosis.
_FIRST_TRY_S = 3.0
_DIAGNOSE_S = 5.0
# Reconnect quickly while waiting for a broker that is still starting.
_EAGER_RECONNECT = {"reconnect.backoff.ms": "100", "reconnect.backoff.max.ms": "1000"}


@contextmanager
def _admin(kafka: KafkaSettings, **extra: str) -> Iterator[AdminClient]:
    """An AdminClient for one operation; librdkafka's log goes to Python logging.

    A refusal for want of an ACL says who asked and who may: administering the cluster (topics,
    configs, users, ACLs) is the super user's, not a service's or an agency's.
    """
    try:
        with AdminClient({**client_config(kafka), **extra}, logger=_log) as admin:
            yield admin
    except _Denied as exc:
        user = kafka.username or "(anonymous)"
        raise BrokerError(
            f"user {user} is not allowed to {exc}: run this as the cluster's administrator (its super user,"
            " dancu-admin on the development broker: DANCU_KAFKA__USERNAME and DANCU_KAFKA__PASSWORD_FILE)",
            retriable=False,
        ) from exc


class _Denied(BrokerError):
    """The broker refused an administrative operation for want of an ACL."""


_DENIED = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
    }
)


def _reason(exc: KafkaException) -> tuple[str, bool]:
    """The broker's message and whether retrying may help."""
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return error.str(), error.retriable()
    return str(exc), False


def _denied(exc: KafkaException) -> bool:
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and error.code() in _DENIED


def _wait(future: Future[T], what: str, timeout_s: float) -> T:
    """The future's result; a failure becomes a BrokerError that says what was attempted."""
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        message, retriable = _reason(exc)
        if _denied(exc):
            raise _Denied(f"{what.removeprefix('cannot ')} ({message})", retriable=False) from exc
        raise BrokerError(f"{what}: {message}", retriable=retriable) from exc
    except TimeoutError as exc:
        raise BrokerError(f"{what}: no answer within {timeout_s:g} s") from exc


def _wait_all(futures: Mapping[str, Future[T]], verb: str, timeout_s: float) -> None:
    """Wait for every future; raise one BrokerError naming each topic that failed."""
    failures = []
    for topic, future in futures.items():
        try:
            _wait(future, f"cannot {verb} topic {topic}", timeout_s)
        except _Denied:
            raise
        except BrokerError as exc:
            failures.append(str(exc))
    if failures:
        raise BrokerError("; ".join(failures), retriable=False)


def _metadata(admin: AdminClient, kafka: KafkaSettings, timeout_s: float) -> ClusterMetadata:
    """The cluster's metadata, or a BrokerError naming the bootstrap servers.

    A cluster that does not answer within a few seconds is diagnosed before it is waited for any
    longer: a broker that is down, a wrong port or a refused login is said in seconds, not after the
    whole timeout; a cluster that is only slow gets the rest of the time.
    """
    try:
        return admin.list_topics(timeout=min(timeout_s, _FIRST_TRY_S))
    except KafkaException as exc:
        if timeout_s <= _FIRST_TRY_S:
            raise _no_metadata(kafka, exc) from exc
        problem = diagnose(kafka, timeout_s=_DIAGNOSE_S)
        if problem is not None:
            raise ClusterUnusable(problem, retriable=_reason(exc)[1]) from exc
    try:
        return admin.list_topics(timeout=max(0.5, timeout_s - _FIRST_TRY_S - _DIAGNOSE_S))
    except KafkaException as exc:
        raise _no_metadata(kafka, exc) from exc


def _no_metadata(kafka: KafkaSettings, exc: KafkaException) -> BrokerError:
    message, retriable = _reason(exc)
    return BrokerError(f"no metadata from {kafka.bootstrap_servers}: {message}", retriable=retriable)


def wait_ready(kafka: KafkaSettings, timeout_s: float) -> None:
    """Return once the cluster answers a metadata request; BrokerError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with _admin(kafka, **_EAGER_RECONNECT) as admin:
        while True:
            remaining = deadline - time.monotonic()
            try:
                _metadata(admin, kafka, max(0.5, min(remaining, 2.0)))
                return
            except BrokerError as exc:
                if time.monotonic() >= deadline:
                    raise BrokerError(
                        f"Kafka at {kafka.bootstrap_servers} did not answer within {timeout_s:g} s ({exc})"
                    ) from exc
            time.sleep(0.2)


def broker_count(kafka: KafkaSettings, timeout_s: float = 15.0) -> int:
    """How many brokers the cluster has."""
    with _admin(kafka) as admin:
        return len(_metadata(admin, kafka, timeout_s).brokers)


@dataclass(frozen=True)
class Replicas:
    """Where a cluster's partitions stand, as its metadata says."""

    brokers: tuple[int, ...]
    # Broker id → how many partitions it leads.
    leaders: Mapping[int, int]
    # Partitions with fewer in-sync replicas than replicas, and partitions without a leader.
    under_replicated: int
    offline: int
    # Replication factor → how many partitions have it.
    factors: Mapping[int, int]


def replicas(kafka: KafkaSettings, prefix: str = "", timeout_s: float = 15.0) -> Replicas:
    """Leaders and replicas of every partition of the topics starting with ``prefix`` (all if empty)."""
    with _admin(kafka) as admin:
        metadata = _metadata(admin, kafka, timeout_s)
    partitions = [
        p for name, t in metadata.topics.items() if name.startswith(prefix) for p in t.partitions.values()
    ]
    return Replicas(
        brokers=tuple(sorted(metadata.brokers)),
        leaders=Counter(p.leader for p in partitions if p.leader >= 0),
        under_replicated=sum(1 for p in partitions if len(p.isrs) < len(p.replicas)),
        offline=sum(1 for p in partitions if p.leader < 0),
        factors=Counter(len(p.replicas) for p in partitions),
    )


def _topic_names(metadata: ClusterMetadata, names_or_prefix: str | Iterable[str]) -> list[str]:
    """Healthy topics in the metadata that have a wanted name or start with the prefix."""
    healthy = {name for name, topic in metadata.topics.items() if topic.error is None}
    if isinstance(names_or_prefix, str):
        return sorted(name for name in healthy if name.startswith(names_or_prefix))
    return sorted(healthy & set(names_or_prefix))


def _configs(admin: AdminClient, names: list[str], timeout_s: float) -> dict[str, dict[str, str]]:
    """The effective configs of each named topic."""
    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=timeout_s)
    configs = {}
    for resource, future in futures.items():
        entries = _wait(future, f"cannot read the configs of topic {resource.name}", timeout_s)
        configs[resource.name] = {key: e.value for key, e in entries.items() if e.value is not None}
    return configs


def describe(
    kafka: KafkaSettings, names_or_prefix: str | Iterable[str], timeout_s: float = 30.0
) -> dict[str, ActualTopic]:
    """Partition counts and configs of the named topics, or of every topic starting with a prefix."""
    with _admin(kafka) as admin:
        metadata = _metadata(admin, kafka, timeout_s)
        names = _topic_names(metadata, names_or_prefix)
        configs = _configs(admin, names, timeout_s)
    return {n: ActualTopic(n, len(metadata.topics[n].partitions), configs[n]) for n in names}


def _check_replication(kafka: KafkaSettings, desired: list[TopicSpec]) -> None:
    """Refuse a declaration the cluster has too few brokers for, and say how to fit it."""
    wanted = max((spec.replication_factor for spec in desired), default=0)
    if wanted <= 1:
        return
    brokers = broker_count(kafka)
    if wanted > brokers:
        raise ConfigError(
            f"topics need replication factor {wanted} but {kafka.bootstrap_servers} has {brokers} broker(s);"
            f" pass --replication-factor {brokers}"
        )


def plan_topics(
    kafka: KafkaSettings,
    declared: TopicsFile,
    agency_ids: Iterable[str],
    *,
    replication_factor: int | None = None,
    delete_unknown: bool = False,
) -> Plan:
    """The plan that aligns the cluster's topics under ``kafka.topic_prefix`` with a topics file."""
    prefix = kafka.topic_prefix
    desired = expand(declared, agency_ids, replication_factor=replication_factor, prefix=prefix)
    _check_replication(kafka, desired)
    return plan(desired, describe(kafka, prefix + "."), delete_unknown=delete_unknown, prefix=prefix)


def _await(check: Callable[[], bool], failure: str, timeout_s: float = 30.0) -> None:
    """Poll ``check`` until it holds: the controller has committed a change before brokers show it."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            raise BrokerError(f"{failure} within {timeout_s:g} s")
        time.sleep(0.1)


def _await_metadata(admin: AdminClient, kafka: KafkaSettings, names: set[str], present: bool) -> None:
    """Wait until the broker's metadata lists the topics created (or no longer lists those deleted)."""

    def settled() -> bool:
        known = set(_metadata(admin, kafka, 10.0).topics)
        return names <= known if present else not names & known

    state = "appear in" if present else "disappear from"
    _await(settled, f"topics {sorted(names)} did not {state} the metadata of {kafka.bootstrap_servers}")


def _create(admin: AdminClient, kafka: KafkaSettings, actions: list[CreateTopic], timeout_s: float) -> None:
    """Create topics with their partitions, replication and configs."""
    new = [
        NewTopic(a.spec.name, a.spec.partitions, a.spec.replication_factor, config=dict(a.spec.configs))
        for a in actions
    ]
    _wait_all(admin.create_topics(new, operation_timeout=timeout_s), "create", timeout_s)
    _await_metadata(admin, kafka, {a.topic for a in actions}, present=True)


def _alter(admin: AdminClient, actions: list[AlterConfigs], timeout_s: float) -> None:
    """Set configs with incremental alter, one request per topic, other configs untouched."""
    entries: defaultdict[str, list[ConfigEntry]] = defaultdict(list)
    for a in actions:
        entries[a.topic].append(ConfigEntry(a.key, a.new, incremental_operation=AlterConfigOpType.SET))
    resources = [ConfigResource(ResourceType.TOPIC, t, incremental_configs=e) for t, e in entries.items()]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout_s)
    _wait_all({r.name: f for r, f in futures.items()}, "alter the configs of", timeout_s)

    def in_effect() -> bool:
        configs = _configs(admin, sorted(entries), timeout_s)
        return all(configs[a.topic].get(a.key) == a.new for a in actions)

    _await(in_effect, f"new configs of {sorted(entries)} did not take effect")


def _add_partitions(
    admin: AdminClient, kafka: KafkaSettings, actions: list[AddPartitions], timeout_s: float
) -> None:
    """Raise partition counts and wait until the metadata shows them."""
    new = [NewPartitions(a.topic, a.new) for a in actions]
    futures = admin.create_partitions(new, operation_timeout=timeout_s)
    _wait_all(futures, "add partitions to", timeout_s)

    def in_effect() -> bool:
        topics = _metadata(admin, kafka, 10.0).topics
        return all(a.topic in topics and len(topics[a.topic].partitions) >= a.new for a in actions)

    _await(in_effect, f"new partitions of {[a.topic for a in actions]} did not appear")


def _delete(admin: AdminClient, kafka: KafkaSettings, names: list[str], timeout_s: float) -> None:
    """Delete topics and wait until the metadata no longer lists them."""
    futures = admin.delete_topics(names, operation_timeout=timeout_s)
    _wait_all(futures, "delete", timeout_s)
    _await_metadata(admin, kafka, set(names), present=False)


def apply(kafka: KafkaSettings, plan: Plan, timeout_s: float = 60.0) -> list[str]:
    """Carry out a plan's actions (creates, config changes, partitions, deletes); the lines done."""
    creates = [a for a in plan.actions if isinstance(a, CreateTopic)]
    alters = [a for a in plan.actions if isinstance(a, AlterConfigs)]
    additions = [a for a in plan.actions if isinstance(a, AddPartitions)]
    deletes = [a.topic for a in plan.actions if isinstance(a, DeleteTopic)]
    with _admin(kafka) as admin:
        if creates:
            _create(admin, kafka, creates, timeout_s)
        if alters:
            _alter(admin, alters, timeout_s)
        if additions:
            _add_partitions(admin, kafka, additions, timeout_s)
        if deletes:
            _delete(admin, kafka, deletes, timeout_s)
    return [render_action(a) for a in plan.actions]


def delete_topics(kafka: KafkaSettings, names: Iterable[str], timeout_s: float = 30.0) -> None:
    """Delete the topics that exist among ``names``; for tests' cleanup and operators."""
    with _admin(kafka) as admin:
        existing = _topic_names(_metadata(admin, kafka, timeout_s), names)
        if existing:
            _delete(admin, kafka, existing, timeout_s)
