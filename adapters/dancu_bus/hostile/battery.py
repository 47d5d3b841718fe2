"""Runs the hostile battery against a running stack: as the agency, while another agency is served.

Each probe's records are produced with the agency's own login (its codec, headers and claimed
timestamps as the probe says), then its responses are read from the agency's response topic and
its dead letters and audit records with the operator's login, matched to each record by the exchange
its arrival makes (topic, partition, offset, broker timestamp). Meanwhile a second agency sends a
steady trickle of VERIFY requests through the SDK: its latency during each probe, against its own
before the first, says whether the service stayed up for everyone else.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import watermarks
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord, Citizen, DeadLetter, Response, VerifyQuery
from dancu_bus.errors import CodecError, DancuError
from dancu_bus.exchanges import exchange_id
from dancu_bus.hostile.probes import Arrival, Outcome, Probe, Sent, judge
from dancu_bus.keys import PrivateKeys
from dancu_bus.sdk import Client, ClientConfig, Context
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

__all__ = ["Logins", "ProbeResult", "Served", "Target", "Witness", "run_battery"]

_WAIT_S = 60.0
_WITNESS_EVERY_S = 0.05
_WARM_UP_REQUESTS = 10  # the first requests of a new client also wait for its connections
_BASELINE_REQUESTS = 40
# Another agency may be slowed while a probe runs, never stopped: at most ten times its own p99
# before the battery, and never less than this.
_FLOOR_MS = 2000.0


@dataclass(frozen=True)
class Logins:
    """The agency the battery acts as, another agency (the witness), and the operator who reads the log."""

    agency: KafkaSettings
    witness: KafkaSettings
    operator: KafkaSettings
    # The operators' private dead-letter keys: with them, what dead letters sealed is checked too.
    operator_keys: PrivateKeys | None = None


@dataclass(frozen=True)
class Target:
    """The stack the battery attacks: its topic names and codec, and the agency the battery acts as."""

    names: TopicNames
    codec: Codec
    agency: str


@dataclass(frozen=True)
class Witness:
    """The other agency: its id, a purpose it may VERIFY under, and a person on record to ask about."""

    agency: str
    context: Context
    person: Citizen


@dataclass(frozen=True)
class Served:
    """How the other agency was served during a probe: requests, failures, p99 and worst latency."""

    requests: int
    failed: int
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class ProbeResult:
    """A probe, what came of each of its records, what was wrong, and how others were served meanwhile."""

    probe: Probe
    outcomes: list[Outcome]
    failures: list[str]
    others: Served
    bound_ms: float

    @property
    def stayed_up(self) -> bool:
        """Whether every request of the other agency was answered, within the bound."""
        return self.others.failed == 0 and self.others.max_ms <= self.bound_ms

    @property
    def passed(self) -> bool:
        """No failure and the service stayed up."""
        return not self.failures and self.stayed_up


def run_battery(
    logins: Logins,
    target: Target,
    witness: Witness,
    probes: Iterable[Probe],
    progress: Callable[[ProbeResult], None] = lambda _result: None,
) -> list[ProbeResult]:
    """Run every probe in turn while the witness is served; each result is also given to ``progress``."""
    codec = target.codec
    served = _Trickle(logins.witness, witness, codec)
    served.start()
    try:
        baseline = served.wait_for(_WARM_UP_REQUESTS, _BASELINE_REQUESTS)
        bound = max(10 * baseline.p99_ms, _FLOOR_MS)
        runner = _Runner(logins, target)
        results = []
        try:
            for probe in probes:
                started = time.monotonic()
                outcomes = runner.run(probe)
                result = ProbeResult(
                    probe,
                    outcomes,
                    judge(probe, outcomes, codec, logins.operator_keys),
                    served.since(started),
                    bound,
                )
                progress(result)
                results.append(result)
        finally:
            runner.close()
        return results
    finally:
        served.stop()


class _Trickle:
    """The other agency's steady VERIFY requests, one at a time, each with when it started and its latency."""

    def __init__(self, kafka: KafkaSettings, witness: Witness, codec: Codec) -> None:
        self._config = ClientConfig(witness.agency, kafka, timeout_s=30)
        self._witness = witness
        self._codec = codec
        self._timings: list[tuple[float, float | None]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-witness", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(60)

    def wait_for(self, skip: int, count: int) -> Served:
        """How ``count`` requests after the first ``skip`` went (the baseline), once they are done."""
        deadline = time.monotonic() + _WAIT_S
        while len(self._timings) < skip + count and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.1)
        return _served(self._timings[skip : skip + count])

    def since(self, started: float) -> Served:
        """How the requests started since ``started`` went, once one more has come back."""
        done = len(self._timings)
        deadline = time.monotonic() + _WAIT_S
        while len(self._timings) <= done and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        return _served([t for t in list(self._timings) if t[0] >= started])

    def _run(self) -> None:
        person = self._witness.person
        query = VerifyQuery(person.personal_id, person.full_name, person.birth_date)
        with Client(self._config, self._codec) as client:
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    client.request(client.build(query, self._witness.context))
                    latency: float | None = (time.monotonic() - started) * 1000
                except DancuError:
                    latency = None
                self._timings.append((started, latency))
                self._stopping.wait(_WITNESS_EVERY_S)


def _served(timings: Sequence[tuple[float, float | None]]) -> Served:
    latencies = sorted(latency for _, latency in timings if latency is not None)
    if not latencies:
        return Served(len(timings), len(timings), 0.0, 0.0)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Served(len(timings), len(timings) - len(latencies), p99, latencies[-1])


class _Runner:
    """Produces a probe's records as the agency and collects what came of each."""

    def __init__(self, logins: Logins, target: Target) -> None:
        self._logins = logins
        self._target = target
        self._producers: dict[str, Any] = {}

    def run(self, probe: Probe) -> list[Outcome]:
        """Send the probe's records in order; what came of each once all is there, or after the wait."""
        tails = _Tails(self._logins, self._target)
        try:
            arrivals = [self._produce(sent) for sent in probe.sent]
            return tails.collect(self._target.names.request(self._target.agency), arrivals, probe)
        finally:
            tails.close()

    def close(self) -> None:
        for producer in self._producers.values():
            producer.flush(10)

    def _produce(self, sent: Sent) -> Arrival | str:
        """Where the broker put the record, or why it refused it."""
        if sent.pause_before_s:
            time.sleep(sent.pause_before_s)
        producer = self._producer(sent.codec)
        reports: list[tuple[Any, Any]] = []
        options: dict[str, Any] = {
            "key": sent.key,
            "headers": list(sent.headers),
            "on_delivery": lambda error, message: reports.append((error, message)),
        }
        if sent.timestamp_ms is not None:
            options["timestamp"] = sent.timestamp_ms
        producer.produce(self._target.names.request(self._target.agency), sent.value, **options)
        producer.flush(30)
        if not reports:
            return "no delivery report within 30 s"
        error, message = reports[0]
        if error is not None:
            return str(error)
        return Arrival(message.partition(), message.offset(), message.timestamp()[1])

    def _producer(self, codec: str) -> Any:
        if codec not in self._producers:
            self._producers[codec] = Producer(
                {
                    **client_config(self._logins.agency),
                    "compression.type": codec,
                    "message.max.bytes": 64 * 1024 * 1024,
                    "linger.ms": 0,
                }
            )
        return self._producers[codec]


@dataclass
class _Found:
    responses: dict[str, tuple[Response, tuple[tuple[str, bytes], ...]]] = field(default_factory=dict)
    letters: dict[tuple[str, int, int], tuple[DeadLetter, bytes]] = field(default_factory=dict)
    audits: dict[str, AuditRecord] = field(default_factory=dict)


class _Tails:
    """The new records of the agency's response topic, the dead letters and the audit log, from now on."""

    def __init__(self, logins: Logins, target: Target) -> None:
        names, agency = target.names, target.agency
        self._codec = target.codec
        self._responses = _tail(
            logins.agency, names.response(agency), f"{agency}.hostile.{uuid.uuid4().hex[:8]}"
        )
        self._letters = _tail(logins.operator, names.dead_letters, f"dancu.hostile.{uuid.uuid4().hex[:8]}")
        self._audit = _tail(logins.operator, names.audit, f"dancu.hostile.{uuid.uuid4().hex[:8]}")
        self._found = _Found()

    def collect(self, topic: str, arrivals: Sequence[Arrival | str], probe: Probe) -> list[Outcome]:
        """Read until every record's expected end is here (or the wait is over), then the outcomes."""
        deadline = time.monotonic() + _WAIT_S
        while not self._complete(topic, arrivals, probe) and time.monotonic() < deadline:
            self._read()
        return [self._outcome(topic, arrival) for arrival in arrivals]

    def close(self) -> None:
        for consumer in (self._responses, self._letters, self._audit):
            consumer.close()

    def _complete(self, topic: str, arrivals: Sequence[Arrival | str], probe: Probe) -> bool:
        for arrival, expected in zip(arrivals, probe.expected, strict=True):
            if isinstance(arrival, str):
                continue
            exchange = exchange_id(topic, arrival.partition, arrival.offset, arrival.timestamp_ms)
            if expected.answered and not (
                exchange in self._found.responses and exchange in self._found.audits
            ):
                return False
            if (
                not expected.answered
                and (topic, arrival.partition, arrival.offset) not in self._found.letters
            ):
                return False
        return True

    def _outcome(self, topic: str, arrival: Arrival | str) -> Outcome:
        if isinstance(arrival, str):
            return Outcome(None, error=arrival)
        exchange = exchange_id(topic, arrival.partition, arrival.offset, arrival.timestamp_ms)
        response, headers = self._found.responses.get(exchange, (None, ()))
        letter, raw = self._found.letters.get((topic, arrival.partition, arrival.offset), (None, b""))
        audit = self._found.audits.get(exchange)
        return Outcome(arrival, response, headers, letter, audit, dead_letter_record=raw)

    def _read(self) -> None:
        for message in _poll(self._responses):
            try:
                response = self._codec.decode_response(message.value())
            except CodecError:
                continue
            self._found.responses[response.exchange_id] = (response, tuple(message.headers() or ()))
        for message in _poll(self._letters):
            letter = self._codec.decode_dead_letter(message.value())
            raw = (
                (message.key() or b"")
                + message.value()
                + b"".join(k.encode() + (v or b"") for k, v in message.headers() or ())
            )
            # The resolver's is the one that counts; the audit dead-letters only batches it cannot read.
            self._found.letters.setdefault((letter.topic, letter.partition, letter.offset), (letter, raw))
        for message in _poll(self._audit):
            if message.value() is not None:
                audit = self._codec.decode_audit(message.value())
                self._found.audits[audit.exchange_id] = audit


def _tail(kafka: KafkaSettings, topic: str, group: str) -> Any:
    consumer = Consumer(
        {
            **client_config(kafka),
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    ends = watermarks(consumer, topic, time.monotonic() + 30)
    consumer.assign([TopicPartition(topic, p, high) for p, (_, high) in ends.items()])
    return consumer


def _poll(consumer: Any) -> list[Any]:
    messages = consumer.consume(num_messages=1000, timeout=0.1)
    return [m for m in messages if m.error() is None]
