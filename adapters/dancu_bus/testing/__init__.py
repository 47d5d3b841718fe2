"""A test tier without a broker: the services and the SDK on an in-memory Kafka, or the same on a real one.

    async with InMemoryBus(settings, directory=directory, store=store, codec=codec) as bus:
        with bus.client("demo-bank", answer_keys=keys) as bank:
            answer = bank.verify(query, context)
        records = bus.audit_records()

The resolver and the audit consumer run unchanged: they get their clients (aiokafka's, and the
resolver's librdkafka-shaped group consumer and transactional producer) from a
``transport.KafkaClients`` and the SDK its librdkafka ones from a ``sdk.connector.Connector``, and
here both are the in-memory broker's (``InMemoryBroker``: partitions, offsets, LogAppendTime,
consumer groups and their assignors, transactions with fencing and read_committed). ``KafkaBus`` has
the same interface on a real cluster, so one behaviour suite runs on both. Out of scope: ACLs, quotas,
retention and compaction, record size limits, and ``Client.collect`` (it builds its own consumer).
"""

from dancu_bus.testing._aio import MemoryClients
from dancu_bus.testing._broker import InMemoryBroker
from dancu_bus.testing._bus import Bus, InMemoryBus, KafkaBus
from dancu_bus.testing._confluent import MemoryConnector

__all__ = ["Bus", "InMemoryBroker", "InMemoryBus", "KafkaBus", "MemoryClients", "MemoryConnector"]
