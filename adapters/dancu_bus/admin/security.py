"""SCRAM-SHA-512 users and ACLs on a secured cluster: the platform's principals and each agency's.

Every function here needs a super user's client settings (``admin_kafka``, e.g. ``dancu-admin`` of the
secured development broker). Each waits until the broker it talks to shows the change, so a client
started right after it sees the new credentials and ACLs.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

# The documented import path; the package re-exports these without an __all__.
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from dancu_bus.access import (
    PLATFORM_IDS,
    PLATFORM_PRINCIPALS,
    Declaration,
    Grant,
    Operation,
    Pattern,
    PlatformIds,
    Resource,
    agency_grants,
    check_agency_id,
    platform_grants,
    principal,
)
from dancu_bus.admin.cluster import _admin, _await, _wait
from dancu_bus.errors import ConfigError
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import AclPlan, packaged_topics, plan_acls, render_acl

__all__ = [
    "apply_acls",
    "describe_acls",
    "describe_agency_acls",
    "ensure_platform_principals",
    "issue_agency_credentials",
    "plan_deployment_acls",
    "revoke_agency_credentials",
    "scram_users",
    "withdraw_platform_grants",
]

_log = logging.getLogger(__name__)
# Kafka accepts 4096 to 16384 iterations for SCRAM-SHA-512; more costs every login, not only attackers.
_ITERATIONS = 8192
# 32 random bytes: 256 bits, 43 URL-safe characters, beyond any guessing.
_SECRET_BYTES = 32
_TIMEOUT_S = 30.0
# librdkafka calls Kafka's CLUSTER resource type BROKER (both are code 4).
_RESOURCE_TYPES = {
    Resource.TOPIC: ResourceType.TOPIC,
    Resource.GROUP: ResourceType.GROUP,
    Resource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
    Resource.CLUSTER: ResourceType.BROKER,
}
_RESOURCES = {kind: resource for resource, kind in _RESOURCE_TYPES.items()}


def _binding(grant: Grant) -> AclBinding:
    """The broker's form of a grant."""
    return AclBinding(
        _RESOURCE_TYPES[grant.resource],
        grant.name,
        ResourcePatternType[grant.pattern.value],
        grant.principal,
        grant.host,
        AclOperation[grant.operation.value],
        AclPermissionType.ALLOW if grant.allow else AclPermissionType.DENY,
    )


def _exactly(grant: Grant) -> AclBindingFilter:
    """A filter that matches this one ACL and no other."""
    b = _binding(grant)
    return AclBindingFilter(
        b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type
    )


def _grant(binding: AclBinding) -> Grant:
    """A grant from the broker's form."""
    return Grant(
        binding.principal,
        _RESOURCES[ResourceType(binding.restype)],
        binding.name,
        Pattern(ResourcePatternType(binding.resource_pattern_type).name),
        Operation(AclOperation(binding.operation).name),
        allow=binding.permission_type == AclPermissionType.ALLOW,
        host=binding.host,
    )


def _of_principal(who: str) -> AclBindingFilter:
    """A filter that matches every ACL of one principal."""
    # None matches any name and any host, though the stubs want a str.
    anything: Any = None
    kind, pattern = ResourceType.ANY, ResourcePatternType.ANY
    return AclBindingFilter(kind, anything, pattern, who, anything, AclOperation.ANY, AclPermissionType.ANY)


def _describe(admin: AdminClient, who: str, timeout_s: float) -> frozenset[Grant]:
    """Every ACL of ``who`` the broker holds."""
    future = admin.describe_acls(_of_principal(who), request_timeout=timeout_s)
    return frozenset(_grant(b) for b in _wait(future, f"cannot describe the ACLs of {who}", timeout_s))


def _create(admin: AdminClient, grants: Iterable[Grant], timeout_s: float) -> None:
    """Create ACLs; creating one that exists is a no-op on the broker."""
    bindings = [_binding(g) for g in sorted(grants)]
    if not bindings:
        return
    futures = admin.create_acls(bindings, request_timeout=timeout_s)
    for binding, future in futures.items():
        _wait(future, f"cannot create the ACL {binding}", timeout_s)


def _delete(admin: AdminClient, filters: list[AclBindingFilter], timeout_s: float) -> None:
    """Delete the ACLs the filters match."""
    for acl_filter, future in admin.delete_acls(filters, request_timeout=timeout_s).items():
        _wait(future, f"cannot delete the ACLs matching {acl_filter}", timeout_s)


def _users(admin: AdminClient, timeout_s: float) -> frozenset[str]:
    """Users that have SCRAM credentials."""
    future = admin.describe_user_scram_credentials(request_timeout=timeout_s)
    # Without a list of users the call answers with one future of a dict.
    described = _wait(future, "cannot list the SCRAM users", timeout_s)  # type: ignore[arg-type]
    return frozenset(described)


def _set_passwords(admin: AdminClient, passwords: Mapping[str, SecretStr], timeout_s: float) -> None:
    """Create or replace the SCRAM-SHA-512 credentials of each user, with a fresh salt."""
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _ITERATIONS)
    upserts = [
        UserScramCredentialUpsertion(user, info, pw.get_secret_value().encode())
        for user, pw in passwords.items()
    ]
    futures = admin.alter_user_scram_credentials(list(upserts), request_timeout=timeout_s)
    for user, future in futures.items():
        _wait(future, f"cannot set the SCRAM credentials of {user}", timeout_s)
    _await(
        lambda: set(passwords) <= _users(admin, timeout_s),
        f"users {sorted(passwords)} did not appear",
        timeout_s,
    )


def _add(admin: AdminClient, who: str, grants: frozenset[Grant], timeout_s: float) -> None:
    """Give ``who`` the grants it lacks, keeping the others; wait until the broker shows them."""
    _create(admin, grants - _describe(admin, who, timeout_s), timeout_s)
    _await(lambda: grants <= _describe(admin, who, timeout_s), f"ACLs of {who} did not appear", timeout_s)


def _align(admin: AdminClient, who: str, grants: frozenset[Grant], timeout_s: float) -> None:
    """Leave ``who`` exactly the grants given: add the missing ones, delete any other."""
    stray = _describe(admin, who, timeout_s) - grants
    _add(admin, who, grants, timeout_s)
    if stray:
        _delete(admin, [_exactly(g) for g in sorted(stray)], timeout_s)
    _await(lambda: _describe(admin, who, timeout_s) == grants, f"ACLs of {who} did not settle", timeout_s)


def _declared(declared: Declaration | None) -> Declaration:
    """The declaration given, or the repository's topics.yaml (the one ``topics apply`` uses)."""
    return declared if declared is not None else packaged_topics()


def describe_acls(
    admin_kafka: KafkaSettings, user: str, *, timeout_s: float = _TIMEOUT_S
) -> frozenset[Grant]:
    """Every ACL of the user ``user`` the broker holds, allowing or denying."""
    with _admin(admin_kafka) as admin:
        return _describe(admin, principal(user), timeout_s)


def describe_agency_acls(
    admin_kafka: KafkaSettings, agency_id: str, *, timeout_s: float = _TIMEOUT_S
) -> frozenset[Grant]:
    """Every ACL of the agency's user; after issuing, exactly ``access.agency_grants``."""
    return describe_acls(admin_kafka, agency_id, timeout_s=timeout_s)


def scram_users(admin_kafka: KafkaSettings, *, timeout_s: float = _TIMEOUT_S) -> frozenset[str]:
    """Users with SCRAM credentials; a revoked agency stays listed, with a secret nobody holds."""
    with _admin(admin_kafka) as admin:
        return _users(admin, timeout_s)


def ensure_platform_principals(
    admin_kafka: KafkaSettings,
    names: TopicNames,
    passwords: Mapping[str, SecretStr],
    ids: PlatformIds = PLATFORM_IDS,
    *,
    declared: Declaration | None = None,
    timeout_s: float = _TIMEOUT_S,
) -> None:
    """SCRAM users ``dancu-resolver``, ``dancu-audit``, ``dancu-registry`` and their ACLs; idempotent."""
    missing = [user for user in PLATFORM_PRINCIPALS if not _given(passwords.get(user))]
    unknown = sorted(set(passwords) - set(PLATFORM_PRINCIPALS))
    if missing or unknown:
        raise ConfigError(f"platform passwords: missing for {missing}, unknown users {unknown}")
    wanted = platform_grants(_declared(declared), names, ids)
    with _admin(admin_kafka) as admin:
        _set_passwords(admin, passwords, timeout_s)
        for user, grants in wanted.items():
            # Only adds: the same users may serve deployments under other prefixes on this cluster.
            _add(admin, principal(user), grants, timeout_s)
    _log.info("platform principals %s ready under %s", ", ".join(PLATFORM_PRINCIPALS), names.prefix)


def withdraw_platform_grants(
    admin_kafka: KafkaSettings,
    names: TopicNames,
    ids: PlatformIds = PLATFORM_IDS,
    *,
    declared: Declaration | None = None,
    timeout_s: float = _TIMEOUT_S,
) -> None:
    """Delete the platform users' ACLs of one deployment (prefix and ids); the users themselves stay."""
    # Group and transactional-id grants go too: deployments that share these ids lose them as well.
    wanted = platform_grants(_declared(declared), names, ids)
    grants = [grant for grants in wanted.values() for grant in grants]
    with _admin(admin_kafka) as admin:
        _delete(admin, [_exactly(g) for g in sorted(grants)], timeout_s)


def issue_agency_credentials(
    admin_kafka: KafkaSettings,
    names: TopicNames,
    agency_id: str,
    ids: PlatformIds = PLATFORM_IDS,
    *,
    declared: Declaration | None = None,
    timeout_s: float = _TIMEOUT_S,
) -> SecretStr:
    """Create (or rotate) the agency's SCRAM-SHA-512 user and give it exactly its ACLs; the new secret."""
    check_agency_id(agency_id, ids)
    grants = agency_grants(_declared(declared), names, agency_id)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    with _admin(admin_kafka) as admin:
        _set_passwords(admin, {agency_id: SecretStr(secret)}, timeout_s)
        _align(admin, principal(agency_id), grants, timeout_s)
    _log.info("issued credentials and ACLs to agency %s under %s", agency_id, names.prefix)
    return SecretStr(secret)


def revoke_agency_credentials(
    admin_kafka: KafkaSettings, names: TopicNames, agency_id: str, *, timeout_s: float = _TIMEOUT_S
) -> None:
    """End the agency's access: a secret nobody holds, and no ACL of ``User:<agency_id>``; idempotent."""
    check_agency_id(agency_id)
    who = principal(agency_id)
    with _admin(admin_kafka) as admin:
        if agency_id in _users(admin, timeout_s):
            # Replaced, never deleted: on Kafka 4.1 (KRaft) deleting a SCRAM credential can make the
            # broker lose every SCRAM credential, the super user's too, at its next restart.
            _set_passwords(admin, {agency_id: SecretStr(secrets.token_urlsafe(_SECRET_BYTES))}, timeout_s)
        # Every ACL of the principal, under any prefix: a terminated agency keeps no right anywhere.
        # Deleting the ACLs also cuts off sessions that logged in before the secret was replaced.
        _delete(admin, [_of_principal(who)], timeout_s)
        _await(lambda: not _describe(admin, who, timeout_s), f"ACLs of {who} are still in force", timeout_s)
    _log.info("revoked the credentials and ACLs of agency %s (%s)", agency_id, names.prefix)


def plan_deployment_acls(
    admin_kafka: KafkaSettings,
    declared: Declaration,
    agency_ids: Iterable[str],
    ids: PlatformIds = PLATFORM_IDS,
    *,
    timeout_s: float = _TIMEOUT_S,
) -> AclPlan:
    """What the broker lacks of topics.yaml's grants and holds beyond them, under ``admin_kafka``'s prefix.

    Compared: the platform users and each agency of ``agency_ids`` that holds any ACL (an agency
    without one has not reached step 10, or was terminated: ``agency issue`` gives its rights).
    """
    names = TopicNames(admin_kafka.topic_prefix)
    who = [principal(user) for user in PLATFORM_PRINCIPALS] + [principal(a) for a in sorted(set(agency_ids))]
    with _admin(admin_kafka) as admin:
        held = {each: _describe(admin, each, timeout_s) for each in who}
    agencies = [a for a in agency_ids if held[principal(a)]]
    return plan_acls(declared, names, ids, held, agencies)


def apply_acls(
    admin_kafka: KafkaSettings, planned: AclPlan, *, prune: bool = False, timeout_s: float = _TIMEOUT_S
) -> list[str]:
    """Create the missing grants and, with ``prune``, delete the stray ones; the lines done."""
    removed = planned.stray if prune else ()
    with _admin(admin_kafka) as admin:
        _create(admin, planned.missing, timeout_s)
        if removed:
            _delete(admin, [_exactly(g) for g in removed], timeout_s)
        for each in sorted({g.principal for g in (*planned.missing, *removed)}):
            added = frozenset(g for g in planned.missing if g.principal == each)
            gone = frozenset(g for g in removed if g.principal == each)
            _await_settled(admin, each, added, gone, timeout_s)
    return [render_acl("+", g) for g in planned.missing] + [render_acl("-", g) for g in removed]


def _await_settled(
    admin: AdminClient, who: str, added: frozenset[Grant], gone: frozenset[Grant], timeout_s: float
) -> None:
    """Wait until the broker shows every grant of ``who`` added and none of those deleted."""

    def settled() -> bool:
        held = _describe(admin, who, timeout_s)
        return added <= held and not gone & held

    _await(settled, f"ACLs of {who} did not settle", timeout_s)


def _given(password: SecretStr | None) -> bool:
    return password is not None and bool(password.get_secret_value())
