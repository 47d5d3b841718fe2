"""Who may do what on the broker: each principal's grants, as plain values."""

from __future__ import annotations

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
    check_agency_id,
    platform_grants,
    platform_ids,
)
from dancu_bus.errors import ConfigError
from dancu_bus.settings import AuditSettings, ResolverSettings, Settings
from dancu_bus.topic_names import TopicNames

NAMES = TopicNames("ndxp.dancu")
T, G, X = Resource.TOPIC, Resource.GROUP, Resource.TRANSACTIONAL_ID
LIT, PRE = Pattern.LITERAL, Pattern.PREFIXED
R, W, D = Operation.READ, Operation.WRITE, Operation.DESCRIBE


def _allows(grants: frozenset[Grant], resource: Resource, name: str, operation: Operation) -> bool:
    """Whether any grant lets its holder do ``operation`` on the resource called ``name``."""
    return any(
        g.resource is resource
        and g.operation is operation
        and (g.name == name if g.pattern is LIT else name.startswith(g.name))
        for g in grants
    )


def test_an_agency_gets_exactly_its_own_lane() -> None:
    """Write+Describe its request topic, Read+Describe its response topic, Read groups ``<agency>.``."""
    grants = agency_grants(NAMES, "bank")
    assert {(g.resource, g.name, g.pattern, g.operation) for g in grants} == {
        (T, "ndxp.dancu.req.bank", LIT, W),
        (T, "ndxp.dancu.req.bank", LIT, D),
        (T, "ndxp.dancu.res.bank", LIT, R),
        (T, "ndxp.dancu.res.bank", LIT, D),
        (G, "bank.", PRE, R),
    }
    assert {g.principal for g in grants} == {"User:bank"}
    assert all(g.allow and g.host == "*" for g in grants)


@pytest.mark.parametrize(
    ("resource", "name", "operation"),
    [
        (T, "ndxp.dancu.req.bank-2", W),  # an id that extends "bank": literal names keep them apart
        (T, "ndxp.dancu.res.bank-2", R),
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
    assert not _allows(agency_grants(NAMES, "bank"), resource, name, operation)


PLATFORM_CASES = [
    (RESOLVER, T, "ndxp.dancu.req.bank", R, True),
    (RESOLVER, T, "ndxp.dancu.res.bank", W, True),
    (RESOLVER, T, "ndxp.dancu.dlq", W, True),
    (RESOLVER, T, "ndxp.dancu.registry", R, True),
    (RESOLVER, T, "ndxp.dancu.catalogue.gender", R, True),
    (RESOLVER, G, "dancu.resolver", R, True),
    (RESOLVER, X, "dancu.resolver-0", W, True),
    (RESOLVER, T, "ndxp.dancu.req.bank", W, False),
    (RESOLVER, T, "ndxp.dancu.registry", W, False),
    (RESOLVER, T, "ndxp.dancu.audit", R, False),
    (RESOLVER, G, "dancu.audit", R, False),
    (AUDIT, T, "ndxp.dancu.req.bank", R, True),
    (AUDIT, T, "ndxp.dancu.res.bank", R, True),
    (AUDIT, T, "ndxp.dancu.audit", W, True),
    (AUDIT, T, "ndxp.dancu.audit", R, True),
    (AUDIT, T, "ndxp.dancu.registry", R, True),
    (AUDIT, T, "ndxp.dancu.dlq", W, True),
    (AUDIT, G, "dancu.audit", R, True),
    (AUDIT, T, "ndxp.dancu.res.bank", W, False),
    (AUDIT, T, "ndxp.dancu.req.bank", W, False),
    (AUDIT, G, "dancu.resolver", R, False),
    (REGISTRY, T, "ndxp.dancu.registry", W, True),
    (REGISTRY, T, "ndxp.dancu.catalogue.gender", W, True),
    (REGISTRY, T, "ndxp.dancu.req.bank", R, False),
    (REGISTRY, T, "ndxp.dancu.audit", R, False),
]


@pytest.mark.parametrize(("user", "resource", "name", "operation", "allowed"), PLATFORM_CASES)
def test_platform_users_get_what_their_job_needs(
    user: str, resource: Resource, name: str, operation: Operation, allowed: bool
) -> None:
    """Resolver, audit and registry may do their jobs and nothing the table marks as refused."""
    assert _allows(platform_grants(NAMES)[user], resource, name, operation) is allowed


def test_platform_ids_are_configurable() -> None:
    """Groups and transactional ids follow the ids given, so tests can run side by side."""
    ids = PlatformIds(resolver_group="t1.resolver", resolver_transactional_id="t1.resolver-tx")
    grants = platform_grants(NAMES, ids)[RESOLVER]
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


def test_nobody_gets_cluster_rights_or_all_operations() -> None:
    """No principal gets a cluster ACL or the ALL operation; IdempotentWrite is not needed since KIP-679."""
    every = [*agency_grants(NAMES, "bank"), *(g for gs in platform_grants(NAMES).values() for g in gs)]
    assert all(g.resource is not Resource.CLUSTER and g.operation is not Operation.ALL for g in every)


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
