"""Kafka I/O for the async services (aiokafka); nothing above this package imports aiokafka."""

from dancu_bus.transport.clients import ClusterState, KafkaClients
from dancu_bus.transport.consuming import WorkerOptions, sleep_unless
from dancu_bus.transport.dead_letters import DeadLetters, operator_key
from dancu_bus.transport.fenced import FencedHandler, FencedTopics, FencedWorker, running_fenced_worker
from dancu_bus.transport.follower import following
from dancu_bus.transport.kafka import AioKafkaClients, consumer, kafka_options, producer
from dancu_bus.transport.lanes import Lanes, LaneWorker, running_lane_worker
from dancu_bus.transport.quarantine import Quarantine, supervise
from dancu_bus.transport.records import Incoming, Outgoing, TopicPartition, Unreadable
from dancu_bus.transport.tail import partition_count

__all__ = [
    "AioKafkaClients",
    "ClusterState",
    "DeadLetters",
    "FencedHandler",
    "FencedTopics",
    "FencedWorker",
    "Incoming",
    "KafkaClients",
    "LaneWorker",
    "Lanes",
    "Outgoing",
    "Quarantine",
    "TopicPartition",
    "Unreadable",
    "WorkerOptions",
    "consumer",
    "following",
    "kafka_options",
    "operator_key",
    "partition_count",
    "producer",
    "running_fenced_worker",
    "running_lane_worker",
    "sleep_unless",
    "supervise",
]
