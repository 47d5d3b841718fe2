"""Grafana dashboards of dancu-bus, built in typed Python and committed as JSON in deploy/grafana.

``python -m dancu_bus.dashboards deploy/grafana`` regenerates them (grafana-foundation-sdk, a dev
extra: ``dancu_bus.dashboards.generate`` and the per-dashboard modules import it). No service imports
this package. What this ``__init__`` exports reads the committed JSON and needs no SDK: the lead's
Prometheus tests evaluate every panel's expression with it.
"""

from dancu_bus.dashboards.queries import (
    TEMPLATE_VALUES,
    PanelExpression,
    expressions,
    instantiate,
    load,
    panels,
)

__all__ = ["TEMPLATE_VALUES", "PanelExpression", "expressions", "instantiate", "load", "panels"]
