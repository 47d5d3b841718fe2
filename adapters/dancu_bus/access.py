"""Who may do what on the broker: topics.yaml's readers, writers and principals, translated into grants.

topics.yaml is the one source of access rights. A topic's reader may Read it and its writer Write it; a
principal's ``groups`` are prefixes of the consumer groups it may join (Read), its ``describe_groups``
prefixes of the groups whose committed offsets it may read without joining them (Describe: the
resolver watches the audit group's lag), and its ``transactional_ids`` prefixes of the transactional
ids it may use (Write). No other Describe grant is made: Kafka's authorizer lets Read, Write, Delete and
Alter imply Describe (``StandardAuthorizerData``). No
principal gets IdempotentWrite on the cluster: since KIP-679 (Kafka 3.0) Write on a topic is enough for
an idempotent producer, and a transactional one needs Write on its transactional id instead.

The translation is pure, so a table of cases pins exactly what each principal gets, with no broker; the
admin edge (``dancu_bus.admin.security``) turns the grants into broker ACLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Protocol

from dancu_bus.errors import ConfigError
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames

__all__ = [
    "AGENCY_PRINCIPAL",
    "AGENCY_SLOT",
    "AUDIT",
    "CORRECTIONS_AGENCY",
    "ID_SLOTS",
    "PLATFORM_IDS",
    "PLATFORM_PRINCIPALS",
    "REGISTRY",
    "RESOLVER",
    "Declaration",
    "DeclaredPrincipal",
    "DeclaredTopic",
    "Grant",
    "Operation",
    "Pattern",
    "PlatformIds",
    "Resource",
    "agency_grants",
    "bears_on",
    "check_agency_id",
    "platform_grants",
    "platform_ids",
    "principal",
    "slots_in",
]

# The database's managing unit (C06) as a connected agency: it decides correction tickets (CORRECT, granted
# to it alone) and reads them; an agency entry and account like any other, named in topics.yaml.
CORRECTIONS_AGENCY = "c06-corrections"
RESOLVER = "dancu-resolver"
AUDIT = "dancu-audit"
REGISTRY = "dancu-registry"
PLATFORM_PRINCIPALS = (RESOLVER, AUDIT, REGISTRY)

# In topics.yaml, each connected agency: in topic names, in its principal, in its group prefixes.
AGENCY_SLOT = "{agency}"
AGENCY_PRINCIPAL = f"User:{AGENCY_SLOT}"
_SLOT = re.compile(r"\{([a-z_]*)\}")
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
    """Operations an ACL names (Kafka's names); topics.yaml grants only READ and WRITE."""

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
    """Consumer group and transactional id prefixes of the platform services (configurable for tests).

    Each field is a slot topics.yaml may name (``{resolver_group}``) in a principal's groups or
    transactional ids; the values are the services' settings.
    """

    resolver_group: str = "dancu.resolver"
    resolver_transactional_id: str = "dancu.resolver"
    audit_group: str = "dancu.audit"
    audit_transactional_id: str = "dancu.audit"
    registry_group: str = "dancu.registry"

    def all(self) -> tuple[str, ...]:
        """Every prefix, for the check that no agency's group prefix covers one."""
        return tuple(asdict(self).values())


# The ids the services use unless their settings say otherwise.
PLATFORM_IDS = PlatformIds()
# The slots topics.yaml may use in groups and transactional ids.
ID_SLOTS = ("agency", *(f.name for f in fields(PlatformIds)))


class DeclaredTopic(Protocol):
    """What the translation reads of one topic of topics.yaml."""

    @property
    def name(self) -> str:
        """Its name, which may hold ``{agency}`` (at the end)."""

    @property
    def readers(self) -> tuple[str, ...]:
        """Principals that may read it."""

    @property
    def writers(self) -> tuple[str, ...]:
        """Principals that may write it."""


class DeclaredPrincipal(Protocol):
    """What the translation reads of one principal of topics.yaml."""

    @property
    def name(self) -> str:
        """``User:<name>``, or ``User:{agency}`` for every agency."""

    @property
    def groups(self) -> tuple[str, ...]:
        """Prefixes of the consumer groups it may join, with slots."""

    @property
    def describe_groups(self) -> tuple[str, ...]:
        """Prefixes of the consumer groups whose committed offsets it may read, with slots."""

    @property
    def transactional_ids(self) -> tuple[str, ...]:
        """Prefixes of the transactional ids it may use, with slots."""

    @property
    def provisioned(self) -> bool:
        """Whether it has a user on the broker; one without gets no grant."""


class Declaration(Protocol):
    """What the translation reads of topics.yaml (``dancu_bus.topics.TopicsFile`` is one)."""

    @property
    def prefix(self) -> str:
        """The prefix its topic names start with."""

    @property
    def topics(self) -> Sequence[DeclaredTopic]:
        """Every topic."""

    @property
    def principals(self) -> Sequence[DeclaredPrincipal]:
        """Every principal its topics name."""


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


def slots_in(template: str) -> list[str]:
    """The slot names a template holds (``{agency}`` gives ``agency``)."""
    return _SLOT.findall(template)


def _fill(template: str, values: Mapping[str, str]) -> str:
    """The template with every slot replaced; ConfigError on a slot with no value."""
    unknown = sorted(set(slots_in(template)) - set(values))
    if unknown:
        raise ConfigError(f"{template!r} names unknown slots {unknown}; known: {sorted(values)}")
    return _SLOT.sub(lambda slot: values[slot.group(1)], template)


def _topic(declared: Declaration, names: TopicNames, topic: DeclaredTopic) -> str:
    """The topic's name (or template) under the deployment's prefix."""
    return names.prefix + topic.name[len(declared.prefix) :]


def _uses(topic: DeclaredTopic) -> Iterator[tuple[str, Operation]]:
    """Each (principal, operation) the topic grants: Read to readers, Write to writers."""
    yield from ((reader, Operation.READ) for reader in topic.readers)
    yield from ((writer, Operation.WRITE) for writer in topic.writers)


def _on_topic(who: str, name: str, operation: Operation, agency: str | None) -> Grant:
    """The grant of ``operation`` on one declared topic (or template) to ``who``."""
    if agency is not None:
        # LITERAL, never PREFIXED: a prefix ``<prefix>.req.bank`` would also give agency ``bank`` the
        # topics of agency ``bank-2``.
        return Grant(who, Resource.TOPIC, _fill(name, {"agency": agency}), Pattern.LITERAL, operation)
    if AGENCY_SLOT in name:
        # A platform user on an agency template: every agency's topic, present and future.
        return Grant(who, Resource.TOPIC, name.removesuffix(AGENCY_SLOT), Pattern.PREFIXED, operation)
    return Grant(who, Resource.TOPIC, name, Pattern.LITERAL, operation)


def _topic_grants(declared: Declaration, names: TopicNames, who: str, agency: str | None) -> list[Grant]:
    """What topics.yaml lets ``who`` do on topics; with ``agency``, what it lets ``User:{agency}`` do,
    and what it lets that one agency do by name (the corrections agency reads the tickets)."""
    roles = {AGENCY_PRINCIPAL, who} if agency is not None else {who}
    return [
        _on_topic(who, _topic(declared, names, topic), operation, agency)
        for topic in declared.topics
        for holder, operation in _uses(topic)
        if holder in roles
    ]


def _id_grants(role: DeclaredPrincipal, who: str, values: Mapping[str, str]) -> list[Grant]:
    """Read on the role's group prefixes, Describe on those it watches, Write on its transactional ids."""
    groups = [
        Grant(who, Resource.GROUP, _fill(g, values), Pattern.PREFIXED, Operation.READ) for g in role.groups
    ] + [
        Grant(who, Resource.GROUP, _fill(g, values), Pattern.PREFIXED, Operation.DESCRIBE)
        for g in role.describe_groups
    ]
    transactional = [
        Grant(who, Resource.TRANSACTIONAL_ID, _fill(t, values), Pattern.PREFIXED, Operation.WRITE)
        for t in role.transactional_ids
    ]
    return groups + transactional


def _role(declared: Declaration, name: str) -> DeclaredPrincipal:
    """The principal topics.yaml declares under ``name``; ConfigError when there is none."""
    for role in declared.principals:
        if role.name == name:
            return role
    raise ConfigError(f"topics.yaml declares no principal {name}")


def _platform_roles(declared: Declaration) -> list[DeclaredPrincipal]:
    """The provisioned platform principals; ConfigError unless they are exactly the platform's users."""
    roles = [r for r in declared.principals if r.provisioned and r.name != AGENCY_PRINCIPAL]
    declared_users = sorted(r.name for r in roles)
    if declared_users != sorted(principal(u) for u in PLATFORM_PRINCIPALS):
        raise ConfigError(
            f"topics.yaml provisions the platform principals {declared_users}, but dancu-bus runs as"
            f" {[principal(u) for u in PLATFORM_PRINCIPALS]}: mark others `provisioned: false`"
        )
    return roles


def platform_grants(
    declared: Declaration, names: TopicNames, ids: PlatformIds = PLATFORM_IDS
) -> dict[str, frozenset[Grant]]:
    """Each platform user's grants (resolver, audit, registry), as topics.yaml declares them."""
    values = asdict(ids)
    wanted = {}
    for role in _platform_roles(declared):
        who = role.name
        user = who.removeprefix("User:")
        wanted[user] = frozenset(_topic_grants(declared, names, who, None) + _id_grants(role, who, values))
    return {user: wanted[user] for user in PLATFORM_PRINCIPALS}


def agency_grants(declared: Declaration, names: TopicNames, agency_id: str) -> frozenset[Grant]:
    """An agency's grants: what topics.yaml gives ``User:{agency}``, filled with this agency's id."""
    who = principal(agency_id)
    role = _role(declared, AGENCY_PRINCIPAL)
    ids = _id_grants(role, who, {**asdict(PLATFORM_IDS), "agency": agency_id})
    return frozenset(_topic_grants(declared, names, who, agency_id) + ids)


def _reaches(grant: Grant, scope: str) -> bool:
    """Whether the grant names a resource starting with ``scope``, or a prefix or wildcard covering it."""
    if grant.name == "*" or grant.name.startswith(scope):
        return True
    return grant.pattern is Pattern.PREFIXED and scope.startswith(grant.name)


def bears_on(grant: Grant, names: TopicNames, ids: PlatformIds) -> bool:
    """Whether a platform user's grant concerns this deployment: its topics, its ids, or the cluster.

    The platform users may serve deployments under other prefixes on the same cluster; their grants
    there are none of this deployment's business.
    """
    if grant.resource is Resource.CLUSTER:
        return True
    scopes = (f"{names.prefix}.",) if grant.resource is Resource.TOPIC else ids.all()
    return any(_reaches(grant, scope) for scope in scopes)


def check_agency_id(agency_id: str, ids: PlatformIds = PLATFORM_IDS) -> None:
    """Refuse, with ConfigError, an id that is no slug or would reach a platform user or group."""
    if not _AGENCY_ID.match(agency_id):
        raise ConfigError(f"agency id {agency_id!r} is not a slug [a-z0-9-]{{2,40}}")
    if agency_id.startswith(_RESERVED):
        raise ConfigError(f"agency id {agency_id!r} is reserved: {_RESERVED}* names platform users")
    # topics.yaml makes every group prefix of an agency start with ``{agency}.`` (dot included).
    covered = [name for name in ids.all() if name.startswith(f"{agency_id}.")]
    if covered:
        raise ConfigError(f"agency id {agency_id!r} would own the platform's groups {covered}")
