"""The bare-Kafka round trip: produce, an echo process copies each record to a reply topic, read replies.

No dancu-bus code is involved: the payload is bytes of the size of an encoded request, the echo
process is ``echo.py``, and this process produces and reads with confluent-kafka (a producing main
thread and a reading thread, as in the SDK), keeping at most ``window`` unanswered like the SDK.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from echo import CONSUMER, PRODUCER, next_batch
from timing import Outcome, paced

__all__ = ["BareRoundTrip"]

_ECHO = Path(__file__).resolve().parent / "echo.py"


@dataclass(frozen=True)
class BareRoundTrip:
    """Two topics of the run and what to send through them."""

    bootstrap: str
    request_topic: str
    reply_topic: str
    payload: bytes

    def run(self, n: int, rate: float | None, window: int) -> Outcome:
        """Send ``n`` payloads (at ``rate`` per second, or at once) and time each round trip."""
        echo = self._start_echo(n)
        try:
            return self._measure(n, rate, window)
        finally:
            echo.wait(60)

    def _start_echo(self, n: int) -> subprocess.Popen[str]:
        group = f"bench-echo-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, str(_ECHO), "--bootstrap", self.bootstrap, "--source", self.request_topic]
        command += ["--target", self.reply_topic, "--group", group, "--count", str(n)]
        echo = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert echo.stdout is not None
        if echo.stdout.readline().strip() != "ready":
            echo.kill()
            raise RuntimeError("the echo process did not start")
        return echo

    def _measure(self, n: int, rate: float | None, window: int) -> Outcome:
        reader = _Replies(self.bootstrap, self.reply_topic, n)
        producer = Producer({"bootstrap.servers": self.bootstrap, **PRODUCER})
        producer.list_topics(self.request_topic, timeout=30)  # connected before the clock starts
        reader.start()
        started = time.perf_counter()
        for index in paced(range(n), rate):
            while index - reader.received >= window:
                producer.poll(0.001)
            reader.sent_at[index] = time.perf_counter()
            _produce(producer, self.request_topic, f"{index:036d}".encode(), self.payload)
        producer.flush(60)
        reader.join()
        return Outcome(n, reader.last_at - started, reader.latencies_ms)


def _produce(producer: Any, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, key=key, headers=[("correlation_id", key)])
            break
        except BufferError:
            producer.poll(0.01)
    producer.poll(0)


class _Replies(threading.Thread):
    """Reads the reply topic until ``n`` replies came; records each one's latency."""

    def __init__(self, bootstrap: str, topic: str, n: int) -> None:
        super().__init__(name="bench-replies", daemon=True)
        self.sent_at = [0.0] * n
        self.latencies_ms: list[float] = []
        self.received = 0
        self.last_at = 0.0
        self._n = n
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-replies", **CONSUMER})
        partitions = self._consumer.list_topics(topic, timeout=30).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def run(self) -> None:
        """Consume in batches of up to 1,000 until every reply is in."""
        deadline = time.monotonic() + 600
        while self.received < self._n and time.monotonic() < deadline:
            for message in next_batch(self._consumer):
                key = message.key()
                if message.error() is None and key is not None:
                    self._settle(key)
        self._consumer.close()

    def _settle(self, key: bytes) -> None:
        now = time.perf_counter()
        self.latencies_ms.append((now - self.sent_at[int(key)]) * 1000)
        self.received += 1
        self.last_at = now
