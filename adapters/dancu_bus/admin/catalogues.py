"""Publishes the catalogues to their compacted topics, idempotently (confluent-kafka).

Each topic is read to its end first; only entries that are new or whose bytes differ are produced, so
loading the same data twice adds nothing. Keys the data no longer has stay on the topic: a code is
never deleted, it is closed with an ``effective_to`` date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_to_end
from dancu_bus.catalogues import Catalogue, CatalogueEntry, encode_entry
from dancu_bus.codec import Codec
from dancu_bus.errors import BrokerError
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

__all__ = ["CatalogueLoad", "catalogue_topic", "load_catalogues", "topic_contents"]


@dataclass(frozen=True, slots=True)
class CatalogueLoad:
    """What loading did to one catalogue topic."""

    catalogue: Catalogue
    topic: str
    entries: int
    produced: int
    only_on_topic: int

    @property
    def unchanged(self) -> int:
        """Entries already on the topic with exactly these bytes."""
        return self.entries - self.produced


def catalogue_topic(kafka: KafkaSettings, catalogue: Catalogue) -> str:
    """``<prefix>.catalogue.<name>``."""
    return TopicNames(kafka.topic_prefix).catalogue(catalogue.value)


def topic_contents(kafka: KafkaSettings, catalogue: Catalogue, timeout_s: float = 60.0) -> dict[str, bytes]:
    """The latest value of each key on a catalogue topic (tombstoned keys left out)."""
    topic = catalogue_topic(kafka, catalogue)
    try:
        records = read_to_end(kafka, topic, timeout_s)
    except BrokerError as exc:
        raise BrokerError(
            f"{exc} (does the topic exist? run `dancu-bus topics apply`)", retriable=False
        ) from exc
    latest: dict[str, bytes | None] = {}
    for record in records:
        latest[(record.key or b"").decode("utf-8", "replace")] = record.value
    return {key: value for key, value in latest.items() if value is not None}


def load_catalogues(
    kafka: KafkaSettings, codec: Codec, entries: Iterable[CatalogueEntry], timeout_s: float = 60.0
) -> list[CatalogueLoad]:
    """Bring every catalogue topic up to ``entries``; what was done, one line per catalogue."""
    wanted: dict[Catalogue, dict[str, bytes]] = {c: {} for c in Catalogue}
    for entry in entries:
        wanted[entry.catalogue][entry.key] = encode_entry(codec, entry)
    producer = Producer({**client_config(kafka), "enable.idempotence": True, "acks": "all", "linger.ms": 20})
    failures: list[str] = []
    loads = [_load(kafka, producer, failures, c, wanted[c], timeout_s) for c in Catalogue]
    if producer.flush(timeout_s) or failures:
        raise BrokerError(f"catalogue entries were not all written: {failures[:5] or 'timed out'}")
    return loads


def _load(
    kafka: KafkaSettings,
    producer: Any,
    failures: list[str],
    catalogue: Catalogue,
    wanted: Mapping[str, bytes],
    timeout_s: float,
) -> CatalogueLoad:
    """Produce the entries of one catalogue that its topic lacks or holds with other bytes."""
    topic = catalogue_topic(kafka, catalogue)
    present = topic_contents(kafka, catalogue, timeout_s)
    changed = [(key, value) for key, value in wanted.items() if present.get(key) != value]

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(f"{topic}: {err}")

    for key, value in changed:
        _produce(producer, topic, key.encode(), value, delivered)
    return CatalogueLoad(catalogue, topic, len(wanted), len(changed), len(present.keys() - wanted.keys()))


def _produce(producer: Any, topic: str, key: bytes, value: bytes, delivered: Any) -> None:
    """Produce one record, serving delivery reports while the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key=key, on_delivery=delivered)
        except BufferError:
            producer.poll(0.05)
            continue
        except KafkaException as exc:
            raise BrokerError(f"cannot write to {topic}: {exc}") from exc
        producer.poll(0)
        return
