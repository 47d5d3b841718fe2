"""dancu-bus: a Kafka exchange bus for the National Population Database.

Connected agencies publish Avro requests to their own topic, a resolver answers from the
population store, and an independent audit consumer records every exchange. Agencies embed
the SDK (``dancu_bus.sdk``); operators run the ``dancu-bus`` command.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
