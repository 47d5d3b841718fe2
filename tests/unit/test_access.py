"""Who may do what on the broker: topics.yaml's roles translated into each principal's grants."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from dancu_bus.access import (
    AUDIT,
    REGISTRY,
    RESOLVER,
    Grant,
    Operation,
    Pattern,
    PlatformIds,
    Resource,
    agency_grants,
    bears_on,
    check_agency_id,
    platform_grants,
    platform_ids,
)
from dancu_bus.errors import ConfigError
from dancu_bus.settings import AuditSettings, ResolverSettings, Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import TopicsFile, load_topics, parse_topics

NAMES = TopicNames("ndxp.dancu")
DECLARED = load_topics(Path(__file__).resolve().parents[2] / "topics.yaml")
T, G, X, C = Resource.TOPIC, Resource.GROUP, Resource.TRANSACTIONAL_ID, Resource.CLUSTER
LIT, PRE = Pattern.LITERAL, Pattern.PREFIXED
R, W, D = Operation.READ, Operation.WRITE, Operation.DESCRIBE
# Kafka's authorizer: an ALLOW of Read, Write, Delete or Alter also allows Describe.
IMPLIES_DESCRIBE = frozenset({R, W, Operation.DELETE, Operation.ALTER, D})


def _allows(grants: frozenset[Grant], resource: Resource, name: str, operation: Operation) -> bool:
    """Whether any grant lets its holder do ``operation`` on the resource ``name``, as Kafka decides."""
    return any(
        g.resource is resource
        and (g.operation is operation or (operation is D and g.operation in IMPLIES_DESCRIBE))
        and (g.name == name if g.pattern is LIT else name.startswith(g.name))
        for g in grants
    )


def test_an_agency_gets_exactly_its_own_lane() -> None:
    """Write its request topic, Read its response topic, Read groups ``<agency>.``; nothing more."""
    grants = agency_grants(DECLARED, NAMES, "bank")
    assert {(g.resource, g.name, g.pattern, g.operation) for g in grants} == {
        (T, "ndxp.dancu.req.bank", LIT, W),
        (T, "ndxp.dancu.res.bank", LIT, R),
        (G, "bank.", PRE, R),
    }
    assert {g.principal for g in grants} == {"User:bank"}
    assert all(g.allow and g.host == "*" for g in grants)


def test_an_agency_may_describe_its_own_topics() -> None:
    """Describe, which the producer and consumer need for metadata, comes with Write and Read."""
    grants = agency_grants(DECLARED, NAMES, "bank")
    assert _allows(grants, T, "ndxp.dancu.req.bank", D) and _allows(grants, T, "ndxp.dancu.res.bank", D)


@pytest.mark.parametrize(
    ("resource", "name", "operation"),
    [
        (T, "ndxp.dancu.req.bank-2", W),  # an id that extends "bank": literal names keep them apart
        (T, "ndxp.dancu.res.bank-2", R),
        (T, "ndxp.dancu.res.bank-2", D),
        (T, "ndxp.dancu.req.bank", R),
        (T, "ndxp.dancu.res.bank", W),
        (T, "ndxp.dancu.audit", R),
        (T, "ndxp.dancu.registry", R),
        (T, "ndxp.dancu.registry", W),
        (T, "ndxp.dancu.dlq", W),
        (G, "bank-2.sdk.1", R),
        (G, "dancu.resolver", R),
        (X, "bank.tx", W),
    ],
)
def test_an_agency_gets_nothing_else(resource: Resource, name: str, operation: Operation) -> None:
    """No grant of agency ``bank`` reaches another agency, a platform topic, group or transaction."""
    assert not _allows(agency_grants(DECLARED, NAMES, "bank"), resource, name, operation)


PLATFORM_CASES = [
    (RESOLVER, T, "ndxp.dancu.req.bank", R, True),
    (RESOLVER, T, "ndxp.dancu.req.bank", D, True),
    (RESOLVER, T, "ndxp.dancu.res.bank", W, True),
    (RESOLVER, T, "ndxp.dancu.res.bank", D, True),
    (RESOLVER, T, "ndxp.dancu.dlq", W, True),
    (RESOLVER, T, "ndxp.dancu.registry", R, True),
    (RESOLVER, T, "ndxp.dancu.catalogue.gender", R, True),
    (RESOLVER, G, "dancu.resolver", R, True),
    (RESOLVER, X, "dancu.resolver-0", W, True),
    (RESOLVER, X, "dancu.resolver-0", D, True),
    # No exchange without a log: the audit group's committed offsets, and reads past them on the
    # response topics (to tell a transaction marker from lag), never joining that group.
    (RESOLVER, G, "dancu.audit", D, True),
    (RESOLVER, T, "ndxp.dancu.res.bank", R, True),
    (RESOLVER, T, "ndxp.dancu.req.bank", W, False),
    (RESOLVER, T, "ndxp.dancu.registry", W, False),
    (RESOLVER, T, "ndxp.dancu.audit", R, False),
    (RESOLVER, T, "ndxp.dancu.catalogue.undeclared", R, False),  # only the catalogues topics.yaml has
    (RESOLVER, G, "dancu.audit", R, False),
    (AUDIT, T, "ndxp.dancu.req.bank", R, True),
    (AUDIT, T, "ndxp.dancu.res.bank", R, True),
    (AUDIT, T, "ndxp.dancu.audit", W, True),
    (AUDIT, T, "ndxp.dancu.audit", R, True),
    (AUDIT, T, "ndxp.dancu.audit.pending", W, True),
    (AUDIT, T, "ndxp.dancu.audit.pending", R, True),
    (AUDIT, T, "ndxp.dancu.registry", R, True),
    (AUDIT, T, "ndxp.dancu.dlq", W, True),
    (AUDIT, G, "dancu.audit", R, True),
    (AUDIT, X, "dancu.audit.0", W, True),
    (AUDIT, T, "ndxp.dancu.res.bank", W, False),
    (AUDIT, T, "ndxp.dancu.req.bank", W, False),
    (AUDIT, T, "ndxp.dancu.catalogue.gender", R, False),
    (AUDIT, G, "dancu.resolver", R, False),
    (REGISTRY, T, "ndxp.dancu.registry", W, True),
    (REGISTRY, T, "ndxp.dancu.registry", R, True),
    (REGISTRY, T, "ndxp.dancu.registry", D, True),
    (REGISTRY, T, "ndxp.dancu.catalogue.gender", W, True),
    (REGISTRY, T, "ndxp.dancu.catalogue.gender", R, True),
    (REGISTRY, G, "dancu.registry", R, True),
    (REGISTRY, T, "ndxp.dancu.req.bank", R, False),
    (REGISTRY, T, "ndxp.dancu.audit", R, False),
    (REGISTRY, X, "dancu.registry", W, False),
]


@pytest.mark.parametrize(("user", "resource", "name", "operation", "allowed"), PLATFORM_CASES)
def test_platform_users_get_what_their_job_needs(
    user: str, resource: Resource, name: str, operation: Operation, allowed: bool
) -> None:
    """Resolver, audit and registry may do their jobs and nothing the table marks as refused."""
    assert _allows(platform_grants(DECLARED, NAMES)[user], resource, name, operation) is allowed


def test_platform_ids_are_configurable() -> None:
    """Groups and transactional ids follow the ids given, so tests can run side by side."""
    ids = PlatformIds(resolver_group="t1.resolver", resolver_transactional_id="t1.resolver-tx")
    grants = platform_grants(DECLARED, NAMES, ids)[RESOLVER]
    assert _allows(grants, G, "t1.resolver", R) and not _allows(grants, G, "dancu.resolver", R)
    assert _allows(grants, X, "t1.resolver-tx-0", W)


def test_platform_ids_follow_the_services_settings() -> None:
    """The services' group ids from the settings are their groups and transactional id prefixes."""
    settings = Settings(
        resolver=ResolverSettings(group_id="t2.resolver"), audit=AuditSettings(group_id="t2.audit")
    )
    ids = platform_ids(settings)
    assert (ids.resolver_group, ids.resolver_transactional_id) == ("t2.resolver", "t2.resolver")
    assert (ids.audit_group, ids.audit_transactional_id) == ("t2.audit", "t2.audit")


def test_nobody_gets_cluster_rights_or_more_than_read_and_write() -> None:
    """No principal gets a cluster ACL; every grant is Read or Write (Describe comes with them), but the
    resolver's Describe of the audit group, whose lag it watches."""
    every = [
        *agency_grants(DECLARED, NAMES, "bank"),
        *(g for gs in platform_grants(DECLARED, NAMES).values() for g in gs),
    ]
    described = [g for g in every if g.operation is D]
    assert all(g.resource is not C and g.operation in (R, W, D) for g in every)
    assert [(g.principal, g.resource, g.name, g.pattern) for g in described] == [
        ("User:dancu-resolver", G, "dancu.audit", PRE)
    ]


def test_unprovisioned_principals_get_no_grant() -> None:
    """Inspectors, reports, sms, portal and operators are declared readers, but have no user yet."""
    users = set(platform_grants(DECLARED, NAMES))
    assert users == {RESOLVER, AUDIT, REGISTRY}


# --- the translation, on a small declaration --------------------------------------------------------

ROLES_RAW: dict[str, Any] = {
    "prefix": "p.x",
    "topics": [
        {
            "name": "p.x.req.{agency}",
            "partitions": 1,
            "key": "k",
            "value_schema": "vn.dancu.Request",
            "writers": ["User:{agency}"],
            "readers": ["User:dancu-resolver", "User:dancu-audit"],
        },
        {
            "name": "p.x.res.{agency}",
            "partitions": 1,
            "key": "k",
            "value_schema": "vn.dancu.Response",
            "writers": ["User:dancu-resolver"],
            "readers": ["User:{agency}"],
        },
        {
            "name": "p.x.log",
            "partitions": 1,
            "key": "k",
            "value_schema": "vn.dancu.AuditRecord",
            "writers": ["User:dancu-audit"],
            "readers": ["User:dancu-audit", "User:dancu-inspector"],
        },
        {
            "name": "p.x.registry",
            "partitions": 1,
            "key": "k",
            "value_schema": "vn.dancu.Agency",
            "writers": ["User:dancu-registry"],
            "readers": ["User:dancu-resolver"],
        },
    ],
    "principals": [
        {
            "name": "User:dancu-resolver",
            "groups": ["{resolver_group}"],
            "describe_groups": ["{audit_group}"],
            "transactional_ids": ["{resolver_transactional_id}"],
        },
        {"name": "User:dancu-audit", "groups": ["{audit_group}", "{audit_group}-replay"]},
        {"name": "User:dancu-registry"},
        {"name": "User:{agency}", "groups": ["{agency}."], "transactional_ids": ["{agency}.tx"]},
        {"name": "User:dancu-inspector", "provisioned": False},
    ],
}
SMALL = parse_topics(ROLES_RAW)
IDS = PlatformIds(resolver_group="g.res", resolver_transactional_id="x.res", audit_group="g.aud")

ROLE_TABLE = [
    (
        RESOLVER,
        {
            (T, "q.y.req.", PRE, R),
            (T, "q.y.res.", PRE, W),
            (T, "q.y.registry", LIT, R),
            (G, "g.res", PRE, R),
            (G, "g.aud", PRE, D),
            (X, "x.res", PRE, W),
        },
    ),
    (
        AUDIT,
        {
            (T, "q.y.req.", PRE, R),
            (T, "q.y.log", LIT, R),
            (T, "q.y.log", LIT, W),
            (G, "g.aud", PRE, R),
            (G, "g.aud-replay", PRE, R),
        },
    ),
    (REGISTRY, {(T, "q.y.registry", LIT, W)}),
    (
        "bank",
        {
            (T, "q.y.req.bank", LIT, W),
            (T, "q.y.res.bank", LIT, R),
            (G, "bank.", PRE, R),
            (X, "bank.tx", PRE, W),
        },
    ),
]


@pytest.mark.parametrize(("user", "expected"), ROLE_TABLE, ids=[row[0] for row in ROLE_TABLE])
def test_roles_translate_into_exactly_these_bindings(user: str, expected: set[tuple[Any, ...]]) -> None:
    """Readers Read, writers Write, groups Read, watched groups Describe and transactional ids Write, under
    the deployment's prefix.

    A platform user on an agency template gets the prefix before ``{agency}``; the agency gets its own
    topics by literal name; slots take the ids given.
    """
    names = TopicNames("q.y")
    grants = agency_grants(SMALL, names, user) if user == "bank" else platform_grants(SMALL, names, IDS)[user]
    assert {(g.resource, g.name, g.pattern, g.operation) for g in grants} == expected
    assert {g.principal for g in grants} == {f"User:{user}"}


def _changed(path: list[Any], value: object) -> dict[str, Any]:
    """ROLES_RAW with the entry at ``path`` (keys and list indices) set to ``value``."""
    raw = copy.deepcopy(ROLES_RAW)
    node: Any = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


MALFORMED = [
    (
        "unknown reader",
        _changed(["topics", 2, "readers"], ["User:dancu-audit", "User:dancu-auditor"]),
        "topic p.x.log: reader User:dancu-auditor is not declared under principals",
    ),
    (
        "unknown writer",
        _changed(["topics", 3, "writers"], ["User:dancu-admin"]),
        "writer User:dancu-admin is not declared under principals",
    ),
    (
        "unknown slot",
        _changed(["principals", 1, "groups"], ["{auditor_group}"]),
        "principals[1] (User:dancu-audit): '{auditor_group}' names unknown slots ['auditor_group']",
    ),
    (
        "agency group without the dot",
        _changed(["principals", 3, "groups"], ["{agency}"]),
        "an agency's prefixes must start with {agency}.",
    ),
    (
        "agency slot in a platform group",
        _changed(["principals", 0, "groups"], ["{agency}.x"]),
        "only User:{agency} may use {agency}",
    ),
    (
        "agency on a fixed topic",
        _changed(["topics", 2, "readers"], ["User:{agency}"]),
        "User:{agency} may read or write only a topic whose name holds {agency}",
    ),
    (
        "agency slot inside a name",
        _changed(["topics", 0, "name"], "p.x.{agency}.req"),
        "{agency} may appear once, at the end of the name",
    ),
    (
        "unknown slot in a watched group",
        _changed(["principals", 0, "describe_groups"], ["{auditor_group}"]),
        "'{auditor_group}' names unknown slots ['auditor_group']",
    ),
    (
        "unprovisioned watching a group",
        _changed(["principals", 4, "describe_groups"], ["{audit_group}"]),
        "User:dancu-inspector is not provisioned, so it gets no groups",
    ),
    (
        "unprovisioned with groups",
        _changed(["principals", 4, "groups"], ["dancu.inspect"]),
        "User:dancu-inspector is not provisioned, so it gets no groups",
    ),
    (
        "principal twice",
        _changed(["principals", 4], {"name": "User:dancu-audit"}),
        "principals declared more than once: ['User:dancu-audit']",
    ),
    (
        "agency unprovisioned",
        _changed(["principals", 3], {"name": "User:{agency}", "provisioned": False}),
        "every agency gets its user at step 10",
    ),
    (
        "unknown slot in a principal",
        _changed(["principals", 4, "name"], "User:{agent}"),
        "is not User:<name>",
    ),
    (
        "unknown field",
        _changed(["principals", 2, "colour"], "red"),
        "principals[2] (User:dancu-registry).colour",
    ),
    ("no principals", _changed(["principals"], []), "principals: Tuple should have at least 1 item"),
]


@pytest.mark.parametrize(("raw", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_a_malformed_declaration_is_a_clear_error(raw: dict[str, Any], message: str) -> None:
    """A topics.yaml whose roles are unknown or would reach too far is refused, naming what is wrong."""
    with pytest.raises(ConfigError, match=r"topics\.yaml is invalid") as caught:
        parse_topics(raw)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("index", "change"),
    [(0, {"provisioned": False}), (4, {"provisioned": True})],
    ids=["a platform user unprovisioned", "another user provisioned"],
)
def test_provisioned_principals_must_be_the_platforms_users(index: int, change: dict[str, Any]) -> None:
    """The platform runs as resolver, audit and registry: topics.yaml provisioning others is refused."""
    raw = copy.deepcopy(ROLES_RAW)
    raw["principals"][index] = {"name": raw["principals"][index]["name"], **change}
    declared: TopicsFile = parse_topics(raw)
    with pytest.raises(ConfigError, match="provisions the platform principals"):
        platform_grants(declared, NAMES)


# --- which grants of a platform user concern a deployment -------------------------------------------

SCOPE_CASES = [
    (Grant("User:u", T, "ndxp.dancu.req.", PRE, R), True),
    (Grant("User:u", T, "ndxp.dancu.audit", LIT, R), True),
    (Grant("User:u", T, "ndxp.", PRE, R), True),  # a wider prefix covers this deployment's topics
    (Grant("User:u", T, "*", LIT, R), True),
    (Grant("User:u", T, "ndxp.dancu2.req.", PRE, R), False),  # another deployment's prefix
    (Grant("User:u", T, "sec1.dancu.req.", PRE, R), False),
    (Grant("User:u", G, "dancu.resolver", PRE, R), True),
    (Grant("User:u", G, "dancu.resolver.view", LIT, R), True),
    (Grant("User:u", G, "t9.resolver", PRE, R), False),
    (Grant("User:u", X, "dancu.audit", PRE, D), True),
    (Grant("User:u", C, "kafka-cluster", LIT, Operation.IDEMPOTENT_WRITE), True),
]


@pytest.mark.parametrize(("grant", "bears"), SCOPE_CASES)
def test_which_platform_grants_bear_on_a_deployment(grant: Grant, bears: bool) -> None:
    """Topics under the prefix, the deployment's ids, what covers them, and the cluster concern it."""
    assert bears_on(grant, NAMES, PlatformIds()) is bears


@pytest.mark.parametrize(
    "agency_id",
    ["b", "Bank", "bank.vn", "bank_1", "x" * 41, "dancu-admin", "dancu-resolver", "dancu"],
)
def test_reserved_or_malformed_agency_ids_are_refused(agency_id: str) -> None:
    """An id that is no slug, or starts with ``dancu`` (platform users and groups), is refused."""
    with pytest.raises(ConfigError):
        check_agency_id(agency_id)


def test_an_agency_id_whose_groups_would_cover_a_platform_group_is_refused() -> None:
    """With platform groups under ``test.``, agency ``test`` (groups ``test.*``) is refused."""
    with pytest.raises(ConfigError, match="would own"):
        check_agency_id("test", PlatformIds(resolver_group="test.resolver"))


@pytest.mark.parametrize("agency_id", ["vcb", "bank-2", "so-tu-phap-hn", "000-00-00-g01"])
def test_ordinary_agency_ids_are_accepted(agency_id: str) -> None:
    """Ordinary slugs pass."""
    check_agency_id(agency_id)


@pytest.mark.parametrize(
    ("adapter", "reads", "writes", "neither"),
    [
        ("sms", NAMES.sms_mo, NAMES.sms_mt, (NAMES.portal_req, NAMES.portal_res)),
        ("portal", NAMES.portal_req, NAMES.portal_res, (NAMES.sms_mo, NAMES.sms_mt)),
    ],
)
def test_a_channel_adapter_is_an_agency_that_also_owns_its_channel(
    adapter: str, reads: str, writes: str, neither: tuple[str, str]
) -> None:
    """``agency issue sms`` (portal): its own lane as any agency, Read on the incoming channel topic,
    Write on the replies, the registry and catalogues read; nothing of the other channel, and no other
    agency gets either channel."""
    grants = agency_grants(DECLARED, NAMES, adapter)
    assert _allows(grants, T, NAMES.request(adapter), W) and _allows(grants, T, NAMES.response(adapter), R)
    assert _allows(grants, T, reads, R) and not _allows(grants, T, reads, W)
    assert _allows(grants, T, writes, W) and not _allows(grants, T, writes, R)
    assert _allows(grants, T, NAMES.registry, R) and _allows(grants, T, NAMES.catalogue("gender"), R)
    for topic in neither:
        assert not _allows(grants, T, topic, R) and not _allows(grants, T, topic, W)
    bank = agency_grants(DECLARED, NAMES, "bank")
    for topic in (reads, writes, *neither):
        assert not _allows(bank, T, topic, R) and not _allows(bank, T, topic, W)
