"""Kafka administration through confluent-kafka's AdminClient: topics, ACLs, the registry, catalogues.

Nothing here assumes a source checkout; the development broker and CA are ``dancu_bus.dev``'s.
"""

from dancu_bus.admin.cluster import (
    Replicas,
    apply,
    broker_count,
    delete_topics,
    describe,
    plan_topics,
    replicas,
    wait_ready,
)
from dancu_bus.admin.config import client_config

__all__ = [
    "Replicas",
    "apply",
    "broker_count",
    "client_config",
    "delete_topics",
    "describe",
    "plan_topics",
    "replicas",
    "wait_ready",
]
