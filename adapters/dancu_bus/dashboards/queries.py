"""The PromQL of a dashboard, read from its JSON: what tests evaluate against a real Prometheus.

It reads the committed files, not the builders, so it needs no grafana-foundation-sdk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["TEMPLATE_VALUES", "PanelExpression", "expressions", "instantiate", "load", "panels"]

TEMPLATE_VALUES: Mapping[str, str] = {
    "__rate_interval": "1m",
    "agency": ".*",
}
"""A value for each variable the dashboards' expressions use, as Grafana would fill it in (``agency``:
the "All" option). ``$datasource`` is not among them: it picks the Prometheus, it is not in PromQL."""

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class PanelExpression(NamedTuple):
    """One query of one panel: where it is shown, and its PromQL with Grafana's variables in it."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str


def load(directory: Path) -> dict[str, dict[str, Any]]:
    """The dashboards committed in ``directory``, by file name without ``.json``."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def expressions(dashboard: Mapping[str, Any]) -> list[PanelExpression]:
    """Every panel query of a dashboard's JSON, panels of collapsed rows included, in layout order."""
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append(PanelExpression(dashboard["uid"], panel["title"], target["refId"], target["expr"]))
    return found


def instantiate(expr: str, values: Mapping[str, str] = TEMPLATE_VALUES) -> str:
    """``expr`` with each ``$name`` or ``${name}`` replaced by its value; one without a value is an error."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}: add one to TEMPLATE_VALUES")
        return values[name]

    return _VARIABLE.sub(value, expr)


def panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The panels of a dashboard's JSON that show data: a row's own panels (a collapsed row holds them)
    in place of the row."""
    return _flatten(dashboard.get("panels", []))


def _flatten(given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for panel in given:
        if panel.get("type") == "row":
            flat.extend(_flatten(panel.get("panels", [])))
        else:
            flat.append(panel)
    return flat
