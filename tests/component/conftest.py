"""Component tests' fixtures: the ``bus`` (in memory, and on Kafka) and its population."""

from tests.bus_fixture import bus, people, population, secure_kafka  # noqa: F401
