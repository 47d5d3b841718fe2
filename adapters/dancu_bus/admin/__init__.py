"""The admin edge: topics and the local development broker, through confluent-kafka's AdminClient."""

from dancu_bus.admin.cluster import apply, broker_count, delete_topics, describe, plan_topics, wait_ready
from dancu_bus.admin.config import client_config
from dancu_bus.admin.devbroker import (
    BrokerStatus,
    broker_kafka,
    broker_status,
    fetch_broker,
    repo_root,
    start_broker,
    stop_broker,
)

__all__ = [
    "BrokerStatus",
    "apply",
    "broker_count",
    "broker_kafka",
    "broker_status",
    "client_config",
    "delete_topics",
    "describe",
    "fetch_broker",
    "plan_topics",
    "repo_root",
    "start_broker",
    "stop_broker",
    "wait_ready",
]
