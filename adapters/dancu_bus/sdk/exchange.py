"""The SDK's Kafka core: produce requests, read the agency's response topic, settle futures by request id.

Every client reads all partitions of its agency's response topic from the end, without committing,
and keeps only the responses to its own requests: several application servers of one agency can
run clients at once and each gets exactly its own answers.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, TopicPartition
from opentelemetry import context as otel_context

from dancu_bus import tracing
from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import watermarks
from dancu_bus.catalogues import packaged_view
from dancu_bus.codec import Codec
from dancu_bus.contracts import Request, Response
from dancu_bus.errors import (
    BrokerError,
    CodecError,
    DuplicateRequest,
    InvalidCode,
    SealedAnswerError,
    Undelivered,
)
from dancu_bus.operations import registry_of
from dancu_bus.reasons import Reason
from dancu_bus.sdk.connector import LIBRDKAFKA, Connector
from dancu_bus.sdk.responses import ResponseReader
from dancu_bus.settings import KafkaSettings, client_environment
from dancu_bus.topic_names import TopicNames

__all__ = ["ClientConfig", "Exchange"]

log = logging.getLogger(__name__)
_CLOSE_FLUSH_S = 30.0
_OPEN_S = 15.0
# librdkafka's own log lines go to Python logging (the application's handlers), not to stderr.
_librdkafka = logging.getLogger("dancu_bus.sdk.librdkafka")


def _kafka() -> KafkaSettings:
    return client_environment()[0]


def _lifetime_s() -> float:
    return client_environment()[1].lifetime_s


def _max_in_flight() -> int:
    return client_environment()[1].max_in_flight


def _answer_keys() -> Path | None:
    return client_environment()[1].answer_keys


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What an agency's client needs: its id, the cluster, and how long requests live and are waited for.

    What is not given comes from the environment, as for every dancu-bus process: ``DANCU_KAFKA__*``
    (bootstrap servers, security protocol, the agency's SCRAM login) and ``DANCU_SDK__*``.
    """

    agency: str
    kafka: KafkaSettings = field(default_factory=_kafka)
    # How long the caller waits for an answer: by default the request's lifetime and 10 s more, so a
    # request is answered (EXPIRED at worst) before its caller gives up on it.
    timeout_s: float | None = None
    # Each request's expires_at: long enough to outlive a failover (a resolver's session timeout and
    # the rebalance after it, a broker restarting), so that no request expires while the bus recovers.
    lifetime_s: float = field(default_factory=_lifetime_s)
    max_in_flight: int = field(default_factory=_max_in_flight)
    # The agency's private answer keys (a JWK Set file): sealed answers (LOOKUP, SEARCH) open with them.
    answer_keys: Path | None = field(default_factory=_answer_keys)
    # Refuse requests with codes the catalogues lack before producing them; off only to test the resolver.
    check_codes: bool = True
    # Who makes the Kafka clients: librdkafka, or an in-memory broker in tests (``dancu_bus.testing``).
    connector: Connector = field(default=LIBRDKAFKA, compare=False, repr=False)

    @property
    def names(self) -> TopicNames:
        """Topic names under the cluster's prefix."""
        return TopicNames(self.kafka.topic_prefix)

    @property
    def wait_s(self) -> float:
        """How long a caller waits for an answer before RequestTimeout."""
        if self.timeout_s is not None:
            return self.timeout_s
        configured = client_environment()[1].timeout_s
        return configured if configured is not None else self.lifetime_s + 10


class Exchange:
    """Sends requests and settles one future per request when its response arrives."""

    def __init__(self, config: ClientConfig, codec: Codec) -> None:
        self._config = config
        self._codec = codec
        self._operations = registry_of(codec)
        self.responses = ResponseReader(codec, config.answer_keys)
        self._pending: dict[str, Future[Response]] = {}
        self._stopping = threading.Event()
        self._producer: Any = None
        self._consumer: Any = None
        self._reader: threading.Thread | None = None
        self._closing: dict[str, str] | None = None  # while closing: what was not delivered, and why

    def open(self) -> None:
        """Connect, position on the end of the response topic, start reading. Blocks until positioned.

        BrokerError, in one line that names the cause, when the cluster cannot be used as configured.
        """
        connector = self._config.connector
        problem = connector.diagnose(self._config.kafka, min(self._config.wait_s, _OPEN_S))
        if problem is not None:
            raise BrokerError(f"agency {self._config.agency}: {problem}", retriable=False)
        base = {**client_config(self._config.kafka), "logger": _librdkafka}
        self._consumer = connector.consumer(
            {
                **base,
                "group.id": f"{self._config.agency}.sdk.{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self._assign_from_end()
        self._producer = connector.producer(
            {
                **base,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                # Only failures call back into Python: a callback per delivered request cost as much
                # as producing it.
                "delivery.report.only.error": True,
                # A request not delivered within its lifetime is reported failed, by id, not kept.
                "message.timeout.ms": int(self._config.lifetime_s * 1000),
            }
        )
        self._reader = threading.Thread(
            target=self._read, name=f"dancu-sdk-{self._config.agency}", daemon=True
        )
        self._reader.start()

    def close(self) -> None:
        """Deliver what is queued, stop reading, disconnect; Undelivered names each request left behind.

        What the broker has not taken after ``_CLOSE_FLUSH_S`` is withdrawn and reported by id: the
        caller may collect or send it again later, never believe it sent.
        """
        self._stopping.set()
        if self._reader is not None:
            self._reader.join(timeout=5)
        undelivered: dict[str, str] = {}
        if self._producer is not None:
            self._closing = undelivered
            if self._producer.flush(min(self._config.wait_s, _CLOSE_FLUSH_S)):
                self._producer.purge(in_queue=True, in_flight=True)
                self._producer.flush(0)  # serves the purged requests' delivery reports
        if self._consumer is not None:
            self._consumer.close()
        if undelivered:
            raise Undelivered(undelivered)

    def submit(self, request: Request) -> Future[Response]:
        """Send a request; the future holds its response. InvalidCode, before producing, for a bad code."""
        operation = self._operations.of(request.operation)  # UnknownOperation: nothing is produced
        if self._config.check_codes and request.body is not None:
            problem = operation.code_problem(request.body, packaged_view())
            if problem is not None:
                raise InvalidCode(problem.field, problem.detail, problem.scheme)
        future: Future[Response] = Future()
        # No lock: one dict store or pop is atomic under the GIL, and each id has one writer and one reader.
        if self._pending.setdefault(request.request_id, future) is not future:
            raise DuplicateRequest(request.request_id, "a request with this id is in flight from this client")
        self._produce(request, self._codec.encode_request(request))
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for a request's response (after a timeout)."""
        self._pending.pop(request_id, None)

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def _delivered(self, err: Any, message: Any) -> None:
        """Fail the request a delivery report says was not delivered (only failures are reported)."""
        if err is None:
            return
        request_id = message.key().decode()
        if self._closing is not None:
            self._closing[request_id] = str(err)
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_exception(Undelivered({request_id: str(err)}))

    def _produce(self, request: Request, value: bytes) -> None:
        topic = self._config.names.request(self._config.agency)
        key = request.request_id.encode()
        # The caller's OpenTelemetry context (its current span, or ``sdk.traced``): W3C trace context.
        headers = [("correlation_id", key), *tracing.inject(otel_context.get_current())]
        while True:
            try:
                self._producer.produce(topic, value, key=key, on_delivery=self._delivered, headers=headers)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(0.05)
        # No poll here: the reader thread polls between reads, and a poll per request handed the GIL
        # to that thread once per request.

    def _assign_from_end(self) -> None:
        topic = self._config.names.response(self._config.agency)
        marks = watermarks(self._consumer, topic, time.monotonic() + self._config.wait_s)
        self._consumer.assign([TopicPartition(topic, p, high) for p, (_, high) in marks.items()])

    def _read(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0)
            for message in self._next_responses():
                self._settle(message)

    def _next_responses(self) -> list[Any]:
        """The responses already here (up to 1,000), else the next one to arrive within 50 ms.

        ``consume`` returns early only once it has ``num_messages``: waiting for 1,000 held each
        response back for up to the whole timeout whenever fewer than 1,000 were coming.
        """
        here: list[Any] = self._consumer.consume(num_messages=1000, timeout=0)
        return here or self._consumer.consume(num_messages=1, timeout=0.05)

    def _settle(self, message: Any) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("response topic: %s", error)
            return
        try:
            response = self.responses.read(message.value(), message.headers() or ())
        except CodecError as exc:
            log.warning("undecodable response at offset %d: %s", message.offset(), exc)
            return
        except SealedAnswerError as exc:
            # The answer came, but cannot be opened with the keys given: its caller is told why.
            waiting = self._pending.pop(exc.request_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_exception(exc)
            return
        future = self._pending.pop(response.request_id, None)
        if future is None or future.done():
            return
        if response.reason_code == Reason.DUPLICATE_REQUEST:
            # The refusal of a resent id is not the answer: that is the earlier exchange's, named here.
            future.set_exception(DuplicateRequest(response.request_id, response.message_en or ""))
        else:
            future.set_result(response)
