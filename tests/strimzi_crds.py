"""Validate Kubernetes resources of Strimzi's kinds offline, against the CRDs in ``../shared/strimzi``; and
read a KafkaUser's ACLs back as the User Operator creates them.

The CRDs' ``openAPIV3Schema`` is OpenAPI v3 with Kubernetes extensions, not JSON Schema; it is turned
into JSON Schema (draft 7) here the way the API server reads it:

- ``nullable: true`` admits null;
- ``x-kubernetes-int-or-string`` admits an integer or a string;
- an object with ``properties`` admits no other field unless it says
  ``x-kubernetes-preserve-unknown-fields`` (or has ``additionalProperties``): the API server would
  silently prune such a field, so a resource relying on one is wrong although it is accepted;
- ``metadata``, which a CRD leaves as a bare object, gets the checks the API server makes of every
  object's metadata: a DNS-1123 name, a DNS-1123 label as namespace, legal label keys and values.

``x-kubernetes-validations`` (CEL rules) are not evaluated. The CRDs are located relative to the
repository root; without them the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dancu_bus.access import Grant, Operation, Pattern, Resource, principal

__all__ = [
    "STRIMZI_CRDS",
    "crd_errors",
    "operator_grants",
    "strimzi_crds_dir",
    "structural",
    "validate_strimzi",
]

REPO = Path(__file__).resolve().parents[1]
STRIMZI_CRDS = REPO.parent / "shared" / "strimzi"
_CRD_FILES = {"KafkaTopic": "043-Crd-kafkatopic.yaml", "KafkaUser": "044-Crd-kafkauser.yaml"}

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
# ObjectMeta as the API server checks it (apimachinery's validation of names and labels).
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": rf"^{_DNS_LABEL}$"},
        "labels": {
            "type": "object",
            "propertyNames": {
                "maxLength": 317,
                "pattern": rf"^({_DNS_LABEL}(\.{_DNS_LABEL})*/)?(?=.{{1,63}}$){_LABEL_NAME}$",
            },
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": rf"^({_LABEL_NAME})?$"},
        },
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
# Subschemas that constrain a value rather than declare its structure: no field list is closed there.
_VALUE_VALIDATIONS = ("oneOf", "anyOf", "allOf", "not")


def strimzi_crds_dir() -> Path:
    """``../shared/strimzi`` beside the repository; skip without it, or fail under ``CI=true``."""
    if all((STRIMZI_CRDS / name).is_file() for name in _CRD_FILES.values()):
        return STRIMZI_CRDS
    reason = f"the Strimzi CRDs are missing: no {', '.join(_CRD_FILES.values())} in {STRIMZI_CRDS}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the Strimzi resources must be validated)", pytrace=False)
    pytest.skip(reason)


def structural(schema: Mapping[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """JSON Schema for one OpenAPI v3 node (and its children), as described in the module docstring."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: structural(child, closed=closed) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = structural(value, closed=closed)
        elif key in _VALUE_VALIDATIONS:
            out[key] = (
                structural(value, closed=False)
                if isinstance(value, Mapping)
                else [structural(v, closed=False) for v in value]
            )
        elif not key.startswith("x-kubernetes-") and key != "nullable":
            out[key] = value
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if schema.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    open_fields = schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
    if closed and "properties" in schema and not open_fields:
        out["additionalProperties"] = False
    return out


@cache
def _validator(kind: str, version: str) -> jsonschema.protocols.Validator:
    """The validator of ``kind`` at ``version`` (which the CRD must serve), from its CRD file."""
    crd = yaml.safe_load((strimzi_crds_dir() / _CRD_FILES[kind]).read_text(encoding="utf-8"))
    assert crd["spec"]["names"]["kind"] == kind
    served = {v["name"]: v for v in crd["spec"]["versions"] if v["served"]}
    assert version in served, f"{kind}: the CRD serves {sorted(served)}, not {version}"
    schema = structural(served[version]["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = OBJECT_META
    schema["properties"]["apiVersion"] = {"const": f"{crd['spec']['group']}/{version}"}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata"})
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def crd_errors(resource: Mapping[str, Any], version: str = "v1") -> Iterator[str]:
    """Each way the resource breaks its kind's CRD schema at ``version``: ``<path>: <message>``."""
    kind = resource.get("kind")
    if kind not in _CRD_FILES:
        yield f"kind: {kind!r} is none of {sorted(_CRD_FILES)}"
        return
    for error in _validator(str(kind), version).iter_errors(resource):
        yield f"{'.'.join(str(p) for p in error.absolute_path) or '(resource)'}: {error.message}"


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
