"""Metric labels that come from an agency's text: every label value must be of a closed set. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from prometheus_client.parser import text_string_to_metric_families

from dancu_bus.contracts import Operation, ResponseStatus, Verdict
from dancu_bus.metrics import NO_REASON, OTHER
from dancu_bus.operations import FOUND, NOT_FOUND
from dancu_bus.reasons import Reason

__all__ = ["closed_sets", "foreign_labels"]


def closed_sets(agencies: Collection[str]) -> dict[str, frozenset[str]]:
    """The values each agency-facing label may take: registered agencies, operations, statuses, reasons."""
    return {
        "agency": frozenset(agencies) | {OTHER},
        "operation": frozenset(Operation) | {OTHER},
        "status": frozenset(ResponseStatus) | {"UNANSWERED"},
        "reason": frozenset(Reason) | {OTHER, NO_REASON},
        "verdict": frozenset(Verdict) | {FOUND, NOT_FOUND},
    }


def foreign_labels(metrics_text: str, allowed: Mapping[str, Collection[str]]) -> list[str]:
    """Each ``metric{label="value"}`` whose value is outside its label's closed set."""
    found = []
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label in allowed and value not in allowed[label]:
                    found.append(f"{sample.name}{{{label}={value[:40]!r}}}")
    return sorted(set(found))
