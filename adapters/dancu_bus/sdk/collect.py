"""Collecting answers already on the bus: what an application restarted after a crash asked before.

An application that keeps the ids of the requests it sent (a journal, a column of its job table)
gets their answers back after a crash without asking twice: ``collect`` reads the agency's response
topic from shortly before the first of them was sent, keeps the answers to those ids (the original
answer, never a DUPLICATE_REQUEST refusal of a resend), and waits, up to the caller's bound, for the
ones not yet answered. What is still missing then was never on the bus: it is safe to send again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import watermarks
from dancu_bus.contracts import Response
from dancu_bus.errors import BrokerError, CodecError
from dancu_bus.reasons import Reason
from dancu_bus.sdk.responses import ResponseReader
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

__all__ = ["Collected", "collect_responses"]

# Responses carry the resolver's clock: start a little before the first request was sent.
_BEFORE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Collected:
    """The answers found for the ids asked about, and the ids no answer came for."""

    responses: dict[str, Response]
    missing: list[str]


def collect_responses(
    kafka: KafkaSettings,
    agency: str,
    responses: ResponseReader,
    request_ids: Collection[str],
    since: datetime,
    wait_s: float,
) -> Collected:
    """Answers to ``request_ids`` on the agency's response topic since ``since``; waits up to ``wait_s``.

    SealedAnswerError when an answer is found that the reader's keys cannot open.
    """
    wanted = set(request_ids)
    found: dict[str, Response] = {}
    topic = TopicNames(kafka.topic_prefix).response(agency)
    consumer = Consumer(
        {
            **client_config(kafka),
            "group.id": f"{agency}.sdk.collect.{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        _assign_since(consumer, topic, since - _BEFORE)
        deadline = time.monotonic() + wait_s
        while wanted - found.keys() and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                _keep(message, wanted, found, responses)
    finally:
        consumer.close()
    return Collected(found, sorted(wanted - found.keys()))


def _assign_since(consumer: Any, topic: str, since: datetime) -> None:
    marks = watermarks(consumer, topic, time.monotonic() + 30)
    moment = int(since.timestamp() * 1000)
    wanted = [TopicPartition(topic, partition, moment) for partition in marks]
    try:
        positions = consumer.offsets_for_times(wanted, timeout=30)
    except KafkaException as exc:
        raise BrokerError(f"cannot find where {topic} stood at {since.isoformat()}: {exc}") from exc
    # A partition with nothing since then gives -1: start at its end, where new answers will come.
    consumer.assign(
        [
            TopicPartition(topic, p.partition, p.offset if p.offset >= 0 else marks[p.partition][1])
            for p in positions
        ]
    )


def _keep(message: Any, wanted: set[str], found: dict[str, Response], responses: ResponseReader) -> None:
    if message.error() is not None:
        return
    try:
        response = responses.read(message.value(), message.headers() or ())
    except CodecError:
        return
    if response.request_id not in wanted or response.request_id in found:
        return
    # A resend's refusal names the exchange that has the answer: keep looking for that one.
    if response.reason_code != Reason.DUPLICATE_REQUEST:
        found[response.request_id] = response
