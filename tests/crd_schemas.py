"""Validate custom resources offline against the ``openAPIV3Schema`` of their CustomResourceDefinition.

A CRD's schema is OpenAPI v3 with Kubernetes extensions, not JSON Schema; it is read here the way the
API server reads it: ``nullable: true`` admits null, ``x-kubernetes-int-or-string`` an integer or a
string, and an object that lists ``properties`` admits no other field unless it says
``x-kubernetes-preserve-unknown-fields`` (the API server would prune such a field silently, so a
resource relying on one is wrong although it is accepted). ``metadata`` gets the API server's checks
of names and labels. CEL rules (``x-kubernetes-validations``) are not evaluated.

The CRDs of the kinds the Helm chart renders (PodMonitor, KEDA's ScaledObject and
TriggerAuthentication) are vendored in ``tests/k8s-schemas`` (README.md there says from where); the
Strimzi kinds' are read from ``../shared/strimzi`` (``tests/strimzi_crds.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "CHART_CRDS",
    "OBJECT_META",
    "crd_errors",
    "crd_validator",
    "errors_of",
    "structural",
    "validator_of",
]

SCHEMAS = Path(__file__).resolve().parent / "k8s-schemas"
# (apiVersion, kind) → the CRD file that defines it.
CHART_CRDS = {
    ("monitoring.coreos.com/v1", "PodMonitor"): SCHEMAS / "monitoring.coreos.com_podmonitors.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda.sh_scaledobjects.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): SCHEMAS / "keda.sh_triggerauthentications.yaml",
}

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


def structural(schema: Mapping[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """JSON Schema for one OpenAPI v3 node and its children, as the module docstring describes."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: structural(child, closed=closed) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = structural(value, closed=closed)
        elif key in _VALUE_VALIDATIONS:
            children = [value] if isinstance(value, Mapping) else value
            converted = [structural(child, closed=False) for child in children]
            out[key] = converted[0] if isinstance(value, Mapping) else converted
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
def validator_of(crd_file: Path, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The validator of ``kind`` at ``api_version`` from the CRD in ``crd_file``, which must serve it."""
    crd = yaml.safe_load(crd_file.read_text(encoding="utf-8"))
    group, version = api_version.split("/")
    assert (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (group, kind)
    served = {v["name"]: v for v in crd["spec"]["versions"] if v["served"]}
    assert version in served, f"{kind}: the CRD serves {sorted(served)}, not {version}"
    schema = structural(served[version]["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = OBJECT_META
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata"})
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The validator of a kind the Helm chart renders, from its vendored CRD."""
    return validator_of(CHART_CRDS[(api_version, kind)], api_version, kind)


def errors_of(validator: jsonschema.protocols.Validator, resource: Mapping[str, Any]) -> Iterator[str]:
    """Each way ``resource`` breaks the validator's schema, as ``<path>: <message>``."""
    for error in validator.iter_errors(resource):
        yield f"{'.'.join(str(p) for p in error.absolute_path) or '(resource)'}: {error.message}"


def crd_errors(resource: Mapping[str, Any]) -> Iterator[str]:
    """Each way ``resource`` breaks its kind's CRD schema, as ``<path>: <message>``."""
    key = (str(resource.get("apiVersion")), str(resource.get("kind")))
    if key not in CHART_CRDS:
        yield f"(resource): no vendored CRD for {key[1]} {key[0]}"
        return
    yield from errors_of(crd_validator(*key), resource)
