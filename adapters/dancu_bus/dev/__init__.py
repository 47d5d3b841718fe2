"""Tooling for a developer's machine: the local broker, its development CA, load for the checks.

These assume a source checkout (``deploy/local/broker.sh``, ``.cache/``) and serve development and the
checks only: no service and not the SDK imports them (an import-linter contract keeps it so).
"""

from dancu_bus.dev.broker import (
    ADMIN_USER,
    BrokerStatus,
    broker_home,
    broker_kafka,
    broker_status,
    dev_ca,
    fetch_broker,
    repo_root,
    start_broker,
    stop_broker,
)
from dancu_bus.dev.ca import DevCa, ensure_dev_ca, issue_client_certificate

__all__ = [
    "ADMIN_USER",
    "BrokerStatus",
    "DevCa",
    "broker_home",
    "broker_kafka",
    "broker_status",
    "dev_ca",
    "ensure_dev_ca",
    "fetch_broker",
    "issue_client_certificate",
    "repo_root",
    "start_broker",
    "stop_broker",
]
