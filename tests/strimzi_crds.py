"""Validate Kubernetes resources of Strimzi's kinds offline, against the CRDs vendored in
``tests/k8s-schemas/strimzi``; and read a KafkaUser's ACLs back as the User Operator creates them.

The CRDs' ``openAPIV3Schema`` is read as the API server reads it (``tests.crd_schemas``: nullable,
int-or-string, closed field lists, metadata's name and label checks; no CEL rules). The CRDs are
vendored in the repository; without them the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dancu_bus.access import Grant, Operation, Pattern, Resource, principal
from tests.crd_schemas import errors_of, structural, validator_of

__all__ = [
    "STRIMZI_CRDS",
    "crd_errors",
    "operator_grants",
    "strimzi_crds_dir",
    "structural",
    "validate_strimzi",
]

REPO = Path(__file__).resolve().parents[1]
STRIMZI_CRDS = REPO / "tests" / "k8s-schemas" / "strimzi"  # a copy of ../shared/strimzi's
_CRD_FILES = {"KafkaTopic": "043-Crd-kafkatopic.yaml", "KafkaUser": "044-Crd-kafkauser.yaml"}


def strimzi_crds_dir() -> Path:
    """The vendored CRDs' folder; skip without it, or fail under ``CI=true``."""
    if all((STRIMZI_CRDS / name).is_file() for name in _CRD_FILES.values()):
        return STRIMZI_CRDS
    reason = f"the Strimzi CRDs are missing: no {', '.join(_CRD_FILES.values())} in {STRIMZI_CRDS}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the Strimzi resources must be validated)", pytrace=False)
    pytest.skip(reason)


def _validator(kind: str, version: str) -> jsonschema.protocols.Validator:
    """The validator of ``kind`` at ``version`` (which the CRD must serve), from its CRD file."""
    return validator_of(strimzi_crds_dir() / _CRD_FILES[kind], f"kafka.strimzi.io/{version}", kind)


def crd_errors(resource: Mapping[str, Any], version: str = "v1") -> Iterator[str]:
    """Each way the resource breaks its kind's CRD schema at ``version``: ``<path>: <message>``."""
    kind = resource.get("kind")
    if kind not in _CRD_FILES:
        yield f"kind: {kind!r} is none of {sorted(_CRD_FILES)}"
        return
    yield from errors_of(_validator(str(kind), version), resource)


def validate_strimzi(resource: Mapping[str, Any], version: str = "v1") -> None:
    """Fail the test, naming every problem, unless the resource validates against its CRD."""
    errors = list(crd_errors(resource, version))
    name = resource.get("metadata", {}).get("name")
    assert not errors, f"{resource.get('kind')} {name}: " + "; ".join(errors)


# Strimzi's names for our enums, written out here independently of the renderer's tables.
_RESOURCES = {"topic": Resource.TOPIC, "group": Resource.GROUP, "transactionalId": Resource.TRANSACTIONAL_ID}
_PATTERNS = {"literal": Pattern.LITERAL, "prefix": Pattern.PREFIXED}
_OPERATIONS = {"Read": Operation.READ, "Write": Operation.WRITE, "Describe": Operation.DESCRIBE}


def operator_grants(user: Mapping[str, Any]) -> frozenset[Grant]:
    """The Kafka ACLs Strimzi's User Operator creates for a KafkaUser: one per rule and operation.

    Only the resource types and operations topics.yaml grants are known here; another fails the test.
    """
    who = principal(user["metadata"]["name"])
    return frozenset(
        Grant(
            who,
            _RESOURCES[rule["resource"]["type"]],
            rule["resource"]["name"],
            _PATTERNS[rule["resource"].get("patternType", "literal")],
            _OPERATIONS[operation],
            allow=rule.get("type", "allow") == "allow",
            host=rule.get("host", "*"),
        )
        for rule in user["spec"]["authorization"]["acls"]
        for operation in rule["operations"]
    )
