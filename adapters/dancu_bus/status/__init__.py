"""``dancu-bus status``: readiness, traffic, latency, lag and audit backlog, from /metrics or Prometheus.

``model`` computes (pure), ``probe`` reads each process over HTTP, ``prometheus`` asks Prometheus'
HTTP API, ``view`` draws the tables.
"""

from dancu_bus.status.model import Service, Status, Target
from dancu_bus.status.probe import Scraper
from dancu_bus.status.prometheus import status_from_prometheus, window_seconds
from dancu_bus.status.view import render

__all__ = ["Scraper", "Service", "Status", "Target", "render", "status_from_prometheus", "window_seconds"]
