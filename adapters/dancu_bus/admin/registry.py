"""Reads and writes the registry topic for the ``dancu-bus agency`` commands (confluent-kafka)."""

from __future__ import annotations

from confluent_kafka import KafkaException, Producer

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_to_end
from dancu_bus.agencies import Agency
from dancu_bus.errors import BrokerError
from dancu_bus.registry import PLATFORM_KEY, Platform, RegistryCodec, RegistryView
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

__all__ = ["RegistryClient"]


class RegistryClient:
    """The registry as the CLI sees it: read it whole, write one record at a time."""

    def __init__(self, kafka: KafkaSettings, codec: RegistryCodec) -> None:
        self._kafka = kafka
        self._codec = codec
        self._topic = TopicNames(kafka.topic_prefix).registry

    def read(self, timeout_s: float = 30.0) -> RegistryView:
        """The registry as it is now."""
        view = RegistryView(self._codec)
        for record in read_to_end(self._kafka, self._topic, timeout_s):
            view.apply(record.key, record.value)
        return view

    def write_agency(self, agency: Agency) -> None:
        """Publish an agency's new record; running services see it within about a second."""
        self._write(agency.id, self._codec.encode_agency(agency))

    def write_platform(self, platform: Platform) -> None:
        """Publish the platform record (maintenance windows)."""
        self._write(PLATFORM_KEY, self._codec.encode_platform(platform))

    def _write(self, key: str, value: bytes) -> None:
        producer = Producer({**client_config(self._kafka), "enable.idempotence": True, "acks": "all"})
        failures: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        try:
            producer.produce(self._topic, value, key=key.encode(), on_delivery=delivered)
        except KafkaException as exc:
            raise BrokerError(f"cannot write {key} to {self._topic}: {exc}") from exc
        if producer.flush(30) or failures:
            raise BrokerError(f"{key} was not written to {self._topic}: {failures or 'timed out'}")
