"""Who may do what on the broker: the ACLs of each platform principal and of each agency, as plain values.

The admin edge (``dancu_bus.admin.security``) turns these grants into broker ACLs; keeping them pure
lets a table of cases pin exactly what each principal gets, with no broker. No principal gets
IdempotentWrite on the cluster: since KIP-679 (Kafka 3.0) Write on a topic is enough for an
idempotent producer, and a transactional one needs Write on its transactional id instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dancu_bus.errors import ConfigError
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames

__all__ = [
    "AUDIT",
    "CORRECTIONS_AGENCY",
    "PLATFORM_IDS",
    "PLATFORM_PRINCIPALS",
    "REGISTRY",
    "RESOLVER",
    "Grant",
    "Operation",
    "Pattern",
    "PlatformIds",
    "Resource",
    "agency_grants",
    "check_agency_id",
    "platform_grants",
    "platform_ids",
    "principal",
]

RESOLVER = "dancu-resolver"
AUDIT = "dancu-audit"
REGISTRY = "dancu-registry"
PLATFORM_PRINCIPALS = (RESOLVER, AUDIT, REGISTRY)
# The database's managing unit (C06) as an agency: it decides correction tickets (CORRECT) and reads
# them. An agency entry and SCRAM user like any other, with these grants added (``agency_grants``).
CORRECTIONS_AGENCY = "c06-corrections"

_AGENCY_ID = re.compile(r"^[a-z0-9-]{2,40}$")
# Platform users (dancu-admin, dancu-resolver, ...) and groups (dancu.*) start with this: an agency
# named so could take over a platform user's password or join a platform consumer group.
_RESERVED = "dancu"


class Resource(StrEnum):
    """Kinds of broker resources an ACL names."""

    TOPIC = "TOPIC"
    GROUP = "GROUP"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"
    CLUSTER = "CLUSTER"


class Pattern(StrEnum):
    """Whether an ACL names one resource (LITERAL) or every resource starting with a name (PREFIXED)."""

    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    """Operations an ACL names (Kafka's names); dancu-bus grants only READ, WRITE and DESCRIBE."""

    ALL = "ALL"
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"
    ALTER = "ALTER"
    DESCRIBE = "DESCRIBE"
    CLUSTER_ACTION = "CLUSTER_ACTION"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"


@dataclass(frozen=True, order=True, slots=True)
class Grant:
    """One ACL: ``principal`` may (or, not ``allow``, may not) do ``operation`` on the resource(s) named."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation
    allow: bool = True
    host: str = "*"


@dataclass(frozen=True, slots=True)
class PlatformIds:
    """Consumer group and transactional id prefixes of the platform services (configurable for tests)."""

    resolver_group: str = "dancu.resolver"
    resolver_transactional_id: str = "dancu.resolver"
    audit_group: str = "dancu.audit"
    audit_transactional_id: str = "dancu.audit"
    registry_group: str = "dancu.registry"

    def all(self) -> tuple[str, ...]:
        """Every prefix, for the check that no agency's group prefix covers one."""
        return (
            self.resolver_group,
            self.resolver_transactional_id,
            self.audit_group,
            self.audit_transactional_id,
            self.registry_group,
        )


# The ids the services use unless their settings say otherwise.
PLATFORM_IDS = PlatformIds()


def platform_ids(settings: Settings) -> PlatformIds:
    """The ids the services use with these settings; each group id also starts its transactional ids."""
    resolver, audit = settings.resolver.group_id, settings.audit.group_id
    return PlatformIds(
        resolver_group=resolver,
        resolver_transactional_id=resolver,
        audit_group=audit,
        audit_transactional_id=audit,
    )


def principal(user: str) -> str:
    """The broker principal of a SCRAM user."""
    return f"User:{user}"


def _grants(user: str, resource: Resource, name: str, pattern: Pattern, *ops: Operation) -> list[Grant]:
    return [Grant(principal(user), resource, name, pattern, op) for op in ops]


def _resolver(names: TopicNames, ids: PlatformIds) -> list[Grant]:
    """Read every request topic, answer on every response topic, dead-letter, read registry and catalogues."""
    p, topic, prefixed, literal = names.prefix, Resource.TOPIC, Pattern.PREFIXED, Pattern.LITERAL
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    txn = Resource.TRANSACTIONAL_ID
    return [
        *_grants(RESOLVER, topic, f"{p}.req.", prefixed, read, describe),
        *_grants(RESOLVER, topic, f"{p}.res.", prefixed, write, describe),
        *_grants(RESOLVER, topic, names.dead_letters, literal, write),
        *_grants(RESOLVER, topic, f"{p}.registry", literal, read),
        *_grants(RESOLVER, topic, f"{p}.catalogue.", prefixed, read),
        # Correction tickets: written with the answers that open and decide them, followed as a view.
        *_grants(RESOLVER, topic, names.corrections, literal, read, write, describe),
        # Prefixed, so per-process groups (e.g. a registry view's) can live under the resolver's.
        *_grants(RESOLVER, Resource.GROUP, ids.resolver_group, prefixed, read),
        # Responses, dead letters and offsets go in one transaction (DESIGN.md §5).
        *_grants(RESOLVER, txn, ids.resolver_transactional_id, prefixed, write, describe),
    ]


def _audit(names: TopicNames, ids: PlatformIds) -> list[Grant]:
    """Read every exchange, write (and re-read) the audit log, dead-letter, read the registry."""
    p, topic, prefixed, literal = names.prefix, Resource.TOPIC, Pattern.PREFIXED, Pattern.LITERAL
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    txn = Resource.TRANSACTIONAL_ID
    return [
        *_grants(AUDIT, topic, f"{p}.req.", prefixed, read),
        *_grants(AUDIT, topic, f"{p}.res.", prefixed, read),
        # Read too: after a restart the hash chain resumes from the last record of each partition.
        *_grants(AUDIT, topic, names.audit, literal, write, read),
        # Its own state: the halves of exchanges still waiting, read back when it takes a partition over.
        *_grants(AUDIT, topic, names.audit_pending, literal, write, read),
        *_grants(AUDIT, topic, f"{p}.registry", literal, read),
        *_grants(AUDIT, topic, names.dead_letters, literal, write),
        *_grants(AUDIT, Resource.GROUP, ids.audit_group, prefixed, read),
        # The worker loop it shares with the resolver may commit in a transaction.
        *_grants(AUDIT, txn, ids.audit_transactional_id, prefixed, write, describe),
    ]


def _registry(names: TopicNames, ids: PlatformIds) -> list[Grant]:
    """Write and read the registry and the catalogues."""
    p, topic = names.prefix, Resource.TOPIC
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    return [
        *_grants(REGISTRY, topic, f"{p}.registry", Pattern.LITERAL, write, read, describe),
        *_grants(REGISTRY, topic, f"{p}.catalogue.", Pattern.PREFIXED, write, read, describe),
        *_grants(REGISTRY, Resource.GROUP, ids.registry_group, Pattern.PREFIXED, read),
    ]


def platform_grants(names: TopicNames, ids: PlatformIds = PLATFORM_IDS) -> dict[str, frozenset[Grant]]:
    """The ACLs of each platform user (resolver, audit, registry): exactly what its job needs."""
    return {
        RESOLVER: frozenset(_resolver(names, ids)),
        AUDIT: frozenset(_audit(names, ids)),
        REGISTRY: frozenset(_registry(names, ids)),
    }


def check_agency_id(agency_id: str, ids: PlatformIds = PLATFORM_IDS) -> None:
    """Refuse, with ConfigError, an id that is no slug or would reach a platform user or group."""
    if not _AGENCY_ID.match(agency_id):
        raise ConfigError(f"agency id {agency_id!r} is not a slug [a-z0-9-]{{2,40}}")
    if agency_id.startswith(_RESERVED):
        raise ConfigError(f"agency id {agency_id!r} is reserved: {_RESERVED}* names platform users")
    covered = [name for name in ids.all() if name.startswith(f"{agency_id}.")]
    if covered:
        raise ConfigError(f"agency id {agency_id!r} would own the platform's groups {covered}")


def agency_grants(names: TopicNames, agency_id: str) -> frozenset[Grant]:
    """An agency's ACLs: write its request topic, read its response topic, groups ``<agency>.*``."""
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    # Topics LITERAL, never PREFIXED: a prefix ``<prefix>.req.bank`` would also give agency ``bank``
    # the topics of agency ``bank-2``. Groups are prefixed by ``<agency>.`` with the dot, which no
    # other slug shares.
    # The corrections agency also reads the tickets it decides (``dancu-bus corrections list``).
    tickets = Resource.TOPIC, names.corrections, Pattern.LITERAL
    return frozenset(
        [
            *_grants(agency_id, Resource.TOPIC, names.request(agency_id), Pattern.LITERAL, write, describe),
            *_grants(agency_id, Resource.TOPIC, names.response(agency_id), Pattern.LITERAL, read, describe),
            *_grants(agency_id, Resource.GROUP, f"{agency_id}.", Pattern.PREFIXED, read),
            *(_grants(agency_id, *tickets, read, describe) if agency_id == CORRECTIONS_AGENCY else []),
        ]
    )
