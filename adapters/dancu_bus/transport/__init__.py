"""Kafka I/O for the async services: aiokafka, and librdkafka for the resolver's exactly-once path."""

from dancu_bus.transport.clients import ClusterState, KafkaClients
from dancu_bus.transport.consuming import NO_EVENTS, WorkerEvents, WorkerOptions, sleep_unless
from dancu_bus.transport.dead_letters import DeadLetters, operator_key
from dancu_bus.transport.exactly_once import (
    BatchHandler,
    TransactionalWorker,
    Transactions,
    running_transactional_worker,
)
from dancu_bus.transport.fenced import FencedHandler, FencedTopics, FencedWorker, running_fenced_worker
from dancu_bus.transport.follower import Followed, following
from dancu_bus.transport.kafka import ClusterClients, consumer, kafka_options, producer
from dancu_bus.transport.quarantine import Quarantine, supervise
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition, Unreadable
from dancu_bus.transport.tail import partition_count

__all__ = [
    "NO_EVENTS",
    "BatchHandler",
    "ClusterClients",
    "ClusterState",
    "DeadLetters",
    "FencedHandler",
    "FencedTopics",
    "FencedWorker",
    "Followed",
    "Incoming",
    "KafkaClients",
    "Outgoing",
    "Quarantine",
    "TopicPartition",
    "TransactionalWorker",
    "Transactions",
    "Unreadable",
    "WorkerEvents",
    "WorkerOptions",
    "consumer",
    "following",
    "kafka_options",
    "operator_key",
    "partition_count",
    "producer",
    "running_fenced_worker",
    "running_transactional_worker",
    "sleep_unless",
    "supervise",
]
