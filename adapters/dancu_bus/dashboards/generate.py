"""Builds every dashboard and writes it as the JSON committed in deploy/grafana (needs the dev extra)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from dancu_bus.dashboards.agency import agency
from dancu_bus.dashboards.audit import audit
from dancu_bus.dashboards.channels import channels
from dancu_bus.dashboards.overview import overview
from dancu_bus.dashboards.resolver import resolver

__all__ = ["DASHBOARDS", "differences", "render", "rendered", "write"]

DASHBOARDS: Mapping[str, Callable[[], model.Dashboard]] = {
    "overview": overview,
    "agency": agency,
    "resolver": resolver,
    "audit": audit,
    "channels": channels,
}
"""Each dashboard by the name of its file in deploy/grafana (``<name>.json``)."""


def render(dashboard: model.Dashboard) -> str:
    """A dashboard's JSON as committed: sorted keys, two-space indent, a final newline (diffs stay small)."""
    return json.dumps(dashboard, cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """Every dashboard's file name and JSON text."""
    return {f"{name}.json": render(build()) for name, build in DASHBOARDS.items()}


def write(directory: Path) -> list[Path]:
    """Write every dashboard into ``directory``; the files that changed."""
    changed = []
    for name, text in rendered().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def differences(directory: Path) -> list[str]:
    """The files of ``directory`` that differ from what the code builds: missing, changed, or left over
    (a ``.json`` no dashboard writes any more)."""
    expected = rendered()
    present = {path.name for path in directory.glob("*.json")}
    stale: list[str] = []
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            stale.append(f"{name} (missing)")
        elif path.read_text() != text:
            stale.append(f"{name} (differs)")
    stale.extend(f"{name} (no dashboard writes it)" for name in sorted(present - expected.keys()))
    return stale
