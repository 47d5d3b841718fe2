"""Strimzi's ``KafkaTopic`` and ``KafkaUser`` resources of a deployment (pure: declarations in, dicts out).

On Kubernetes, Strimzi's Topic and User Operators create the topics, SCRAM users and ACLs that
``topics apply``, ``principals ensure`` and ``agency issue`` create on a cluster of our own. The
resources are built from the same code: the topics from ``expand`` (as ``topics apply`` plans them), each
user's ACLs from ``access.platform_grants`` and ``access.agency_grants`` (as ``principals ensure`` and
``agency issue`` grant them), so the two ways of deploying cannot drift apart.

No password is rendered: the User Operator generates each SCRAM-SHA-512 password into a Secret named
after the user. No quota either: ``agency issue`` sets no broker quota (an agency's quota is the
registry's request budget, enforced by the resolver), and a KafkaUser holding one would differ from
the cluster ``agency issue`` makes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any, TypeAlias

import yaml

from dancu_bus.access import (
    PLATFORM_IDS,
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
from dancu_bus.errors import ConfigError
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics.model import TopicsFile, TopicSpec, expand

__all__ = [
    "API_VERSION",
    "CLUSTER_LABEL",
    "Manifest",
    "StrimziDeployment",
    "StrimziTarget",
    "kafka_topic",
    "kafka_user",
    "resource_name",
    "strimzi_acls",
    "strimzi_resources",
    "strimzi_yaml",
]

API_VERSION = "kafka.strimzi.io/v1"
# The operators act only on resources labelled with the name of their Kafka cluster.
CLUSTER_LABEL = "strimzi.io/cluster"
PART_OF = {"app.kubernetes.io/part-of": "dancu-bus"}

Manifest: TypeAlias = dict[str, Any]
DEFAULT_NAMES = TopicNames()

# Kubernetes names (apimachinery's IsDNS1123Subdomain / IsDNS1123Label).
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
DNS_LABEL = re.compile(_DNS_LABEL)
_SUBDOMAIN_MAX, _LABEL_MAX = 253, 63
# A derived name ends in ``-`` and this many hex digits of the topic name's SHA-256.
_HASH_DIGITS = 10

_RESOURCE_TYPES = {
    Resource.TOPIC: "topic",
    Resource.GROUP: "group",
    Resource.TRANSACTIONAL_ID: "transactionalId",
    Resource.CLUSTER: "cluster",
}
_PATTERN_TYPES = {Pattern.LITERAL: "literal", Pattern.PREFIXED: "prefix"}
_OPERATIONS = {
    Operation.ALL: "All",
    Operation.READ: "Read",
    Operation.WRITE: "Write",
    Operation.CREATE: "Create",
    Operation.DELETE: "Delete",
    Operation.ALTER: "Alter",
    Operation.DESCRIBE: "Describe",
    Operation.CLUSTER_ACTION: "ClusterAction",
    Operation.DESCRIBE_CONFIGS: "DescribeConfigs",
    Operation.ALTER_CONFIGS: "AlterConfigs",
    Operation.IDEMPOTENT_WRITE: "IdempotentWrite",
}
# Kafka's name of the one CLUSTER resource; Strimzi's cluster rule names none.
_KAFKA_CLUSTER = "kafka-cluster"


def _dns_label(value: str, what: str) -> str:
    """``value`` if it is a DNS-1123 label (as clusters and namespaces are named), else ConfigError."""
    if len(value) > _LABEL_MAX or not DNS_LABEL.fullmatch(value):
        raise ConfigError(
            f"{what} {value!r} is not a Kubernetes name ([a-z0-9-], at most 63, no - at the ends)"
        )
    return value


@dataclass(frozen=True, slots=True)
class StrimziTarget:
    """Where the resources go: the Strimzi ``Kafka`` cluster they belong to, and optionally a namespace."""

    cluster: str
    namespace: str | None = None

    def __post_init__(self) -> None:
        _dns_label(self.cluster, "Strimzi cluster name")
        if self.namespace is not None:
            _dns_label(self.namespace, "namespace")


@dataclass(frozen=True, slots=True)
class StrimziDeployment:
    """What ``topics apply`` and ``agency issue`` would be given: prefix, service ids, agencies.

    ``agencies`` get their topics (as ``topics apply`` creates them for the agencies file);
    ``accounts``, a subset, their SCRAM users and ACLs (the agencies ``agency issue`` has given an
    account that is not terminated).
    """

    names: TopicNames = DEFAULT_NAMES
    ids: PlatformIds = PLATFORM_IDS
    agencies: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    replication_factor: int | None = None


def resource_name(topic: str) -> str:
    """The KafkaTopic's ``metadata.name``: the topic's own name when Kubernetes allows it, else one derived.

    Derived: lowercase, every run of other characters a ``-``, each dot-separated part trimmed of
    ``-``, then ``-`` and 10 hex digits of the name's SHA-256 (``Foo_Bar`` and ``foo-bar`` differ).
    """
    if len(topic) <= _SUBDOMAIN_MAX and DNS_SUBDOMAIN.fullmatch(topic):
        return topic
    digest = hashlib.sha256(topic.encode()).hexdigest()[:_HASH_DIGITS]
    parts = (re.sub(r"[^a-z0-9-]+", "-", part).strip("-") for part in topic.lower().split("."))
    base = ".".join(p for p in parts if p)[: _SUBDOMAIN_MAX - _HASH_DIGITS - 1].rstrip(".-")
    return f"{base}-{digest}" if base else f"topic-{digest}"


def _metadata(name: str, target: StrimziTarget) -> dict[str, Any]:
    """Name, namespace (when given) and the labels the Strimzi operators select by."""
    metadata: dict[str, Any] = {"name": name}
    if target.namespace is not None:
        metadata["namespace"] = target.namespace
    metadata["labels"] = {CLUSTER_LABEL: target.cluster, **PART_OF}
    return metadata


def kafka_topic(spec: TopicSpec, target: StrimziTarget) -> Manifest:
    """The KafkaTopic of one concrete topic: partitions, replicas and every config ``topics apply`` sets."""
    name = resource_name(spec.name)
    # Strimzi takes the topic's name from metadata.name unless spec.topicName says otherwise.
    renamed = {} if name == spec.name else {"topicName": spec.name}
    body = {"partitions": spec.partitions, "replicas": spec.replication_factor, "config": dict(spec.configs)}
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaTopic",
        "metadata": _metadata(name, target),
        "spec": {**renamed, **body},
    }


def _rule_key(grant: Grant) -> tuple[str, str, str, bool, str]:
    """What one Strimzi ACL rule shares: resource, pattern, allow or deny, host; operations vary."""
    return (grant.resource.value, grant.name, grant.pattern.value, grant.allow, grant.host)


def _resource(grant: Grant) -> dict[str, str]:
    """The rule's ``resource``: Strimzi's type, and for all but the cluster its name and pattern type."""
    kind = _RESOURCE_TYPES[grant.resource]
    if grant.resource is not Resource.CLUSTER:
        return {"type": kind, "name": grant.name, "patternType": _PATTERN_TYPES[grant.pattern]}
    if (grant.name, grant.pattern) != (_KAFKA_CLUSTER, Pattern.LITERAL):
        raise ConfigError(f"a cluster grant names the literal {_KAFKA_CLUSTER}, not {grant}")
    return {"type": kind}


def strimzi_acls(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    """Strimzi's ``simple`` authorization rules of the grants: a rule per resource, listing its operations."""
    rules = []
    for _, same in groupby(sorted(grants, key=_rule_key), key=_rule_key):
        group = list(same)
        first = group[0]
        rules.append(
            {
                "type": "allow" if first.allow else "deny",
                "resource": _resource(first),
                "operations": sorted({_OPERATIONS[g.operation] for g in group}),
                "host": first.host,
            }
        )
    return rules


def kafka_user(user: str, grants: Iterable[Grant], target: StrimziTarget) -> Manifest:
    """The KafkaUser ``user``: SCRAM-SHA-512 (its password Strimzi's to generate) and exactly ``grants``."""
    if len(user) > _SUBDOMAIN_MAX or not DNS_SUBDOMAIN.fullmatch(user):
        # The resource's name is the SASL user name, so it cannot be derived as a topic's can.
        raise ConfigError(f"user {user!r} cannot be a KafkaUser: its name is not a Kubernetes name")
    given = list(grants)
    strangers = sorted({g.principal for g in given} - {principal(user)})
    if strangers:
        raise ConfigError(f"grants of {strangers} cannot go into the KafkaUser {user}")
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": _metadata(user, target),
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": strimzi_acls(given)},
        },
    }


def _users(declared: TopicsFile, deployment: StrimziDeployment) -> Mapping[str, frozenset[Grant]]:
    """Each user's grants: the platform's (as ``principals ensure``), each account's (as ``agency issue``)."""
    unknown = sorted(set(deployment.accounts) - set(deployment.agencies))
    if unknown:
        raise ConfigError(f"agencies {unknown} have accounts but are not among the agencies given")
    users = dict(platform_grants(declared, deployment.names, deployment.ids))
    for agency in sorted(set(deployment.accounts)):
        check_agency_id(agency, deployment.ids)
        users[agency] = agency_grants(declared, deployment.names, agency)
    return users


def _check_distinct(resources: list[Manifest]) -> None:
    """Refuse two resources of one kind under one name (a derived name meeting another topic's own)."""
    seen = [(r["kind"], r["metadata"]["name"]) for r in resources]
    repeated = sorted({each for each in seen if seen.count(each) > 1})
    if repeated:
        raise ConfigError(f"resources would share a name: {repeated}; rename one of the topics")


def strimzi_resources(
    declared: TopicsFile, deployment: StrimziDeployment, target: StrimziTarget
) -> list[Manifest]:
    """Every KafkaTopic (in declaration order, per agency too), then every KafkaUser (platform, agencies)."""
    specs = expand(
        declared,
        deployment.agencies,
        replication_factor=deployment.replication_factor,
        prefix=deployment.names.prefix,
    )
    topics = [kafka_topic(spec, target) for spec in specs]
    users = [kafka_user(user, grants, target) for user, grants in _users(declared, deployment).items()]
    _check_distinct(topics + users)
    return topics + users


def strimzi_yaml(resources: Iterable[Manifest]) -> str:
    """The resources as one multi-document YAML stream, each document opened by ``---``."""
    return yaml.safe_dump_all(
        list(resources), explicit_start=True, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
