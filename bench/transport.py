"""Benchmark: what the Kafka clients themselves cost the resolver, without any dancu-bus code.

    .venv/bin/python bench/transport.py --messages 200000

N records of the size of a VERIFY request are produced to a topic (confluent-kafka, not timed); then
an aiokafka consumer reads them and writes each to an output topic as the resolver does (one record
batch per partition, 500 records per fetch): first plainly (the baseline of this run), then with one
transaction per batch holding the records and the consumed offsets (as one resolver lane does), then
with lanes transactions at once (as the resolver's lanes); then the same with confluent-kafka
(librdkafka): plainly, and with one transactional producer whose transactions carry the consumed
offsets with the consumer's group metadata (KIP-447: the broker fences a member the group gave up
on by its generation, so no lanes are needed; issue 14 weighs it against the lanes). It prints a table
of messages per second and CPU per message of this process, and as its last line one JSON object.

What it shows: the difference between the transport's cost and dancu-bus's end-to-end cost
(``exchange.py``) is dancu-bus's own work per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as ConfluentPartition
from confluent_kafka.admin import AdminClient, NewTopic

_PARTITIONS = 6  # as the request and response topics in topics.yaml
_SIZE = 230  # bytes of an encoded VERIFY request (exchange.py's baseline measures the same)


@dataclass(frozen=True)
class Run:
    """One way of echoing the N records."""

    name: str
    per_s: float
    cpu_us: float


def main() -> int:
    """Run the three echoes; print the table and the JSON summary."""
    args = _arguments()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    bootstrap, count = args.bootstrap, args.messages

    # Each echo run on a fresh source topic of its own (``source`` → ``source.out``).
    def aiokafka(name: str, lanes: int) -> Callable[[str], Run]:
        return lambda source: asyncio.run(_echo(name, bootstrap, source, count, lanes))

    def librdkafka(name: str, transactional: bool) -> Callable[[str], Run]:
        return lambda source: _rdkafka_echo(name, bootstrap, source, count, transactional)

    echoes = [
        aiokafka("plain (no transactions)", 0),
        aiokafka("one transaction per batch", 1),
        aiokafka("8 lanes", 8),
        librdkafka("librdkafka plain", False),
        librdkafka("librdkafka KIP-447, one producer", True),
    ]
    runs = []
    for echo in echoes:
        source = f"bench{uuid.uuid4().hex[:8]}.transport"
        topics = [source, f"{source}.out"]
        for future in admin.create_topics([NewTopic(t, _PARTITIONS, 1) for t in topics]).values():
            future.result(30)
        try:
            _fill(bootstrap, source, count)
            runs.append(echo(source))
        finally:
            for future in admin.delete_topics(topics).values():
                future.result(30)
    _print(runs, args.messages)
    return 0


def _fill(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    payload = b"x" * _SIZE
    for i in range(count):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)


async def _echo(name: str, bootstrap: str, source: str, count: int, lanes: int) -> Run:
    """Consume ``count`` records of ``source`` and write each to ``<source>.out``; time it."""
    reader = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=source,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    writers = [_writer(bootstrap, f"{source}.{lane}" if lanes else None) for lane in range(max(lanes, 1))]
    await reader.start()
    for writer in writers:
        await writer.start()
    try:
        done, started, cpu = 0, 0.0, 0.0
        pending: list[asyncio.Task[None]] = []
        while done < count:
            fetched = await reader.getmany(timeout_ms=200, max_records=500)
            if not fetched:
                continue
            if not started:
                started, cpu = time.perf_counter(), time.process_time()
            by_writer: dict[int, dict[Any, list[Any]]] = {}
            for tp, messages in fetched.items():
                by_writer.setdefault(tp.partition % len(writers), {})[tp] = messages
            # Each writer's transactions follow one another; different writers' overlap, as lanes do.
            await asyncio.gather(*pending)
            pending = [
                asyncio.create_task(_write(writers[w], f"{source}.out", part, source, lanes > 0))
                for w, part in by_writer.items()
            ]
            done += sum(len(m) for m in fetched.values())
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
        return Run(name, count / elapsed, (time.process_time() - cpu) / count * 1e6)
    finally:
        await reader.stop()
        for writer in writers:
            await writer.stop()


def _writer(bootstrap: str, transactional_id: str | None) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        retry_backoff_ms=10,
        transactional_id=transactional_id,
    )


async def _write(
    writer: AIOKafkaProducer, topic: str, fetched: dict[Any, list[Any]], group: str, transactional: bool
) -> None:
    if not transactional:
        await asyncio.gather(*await _send(writer, topic, fetched))
        return
    async with writer.transaction():
        deliveries = await _send(writer, topic, fetched)
        offsets = {TopicPartition(tp.topic, tp.partition): m[-1].offset + 1 for tp, m in fetched.items()}
        await writer.send_offsets_to_transaction(offsets, group)
        await asyncio.gather(*deliveries)


async def _send(writer: AIOKafkaProducer, topic: str, fetched: dict[Any, list[Any]]) -> list[Any]:
    """One record batch per partition, closed so it goes at once (as ``transport/writers.py``)."""
    deliveries = []
    for tp, messages in fetched.items():
        batch = writer.create_batch()
        for message in messages:
            if batch.append(timestamp=None, key=message.key, value=message.value, headers=[]) is None:
                batch.close()
                deliveries.append(await writer.send_batch(batch, topic, partition=tp.partition))
                batch = writer.create_batch()
                batch.append(timestamp=None, key=message.key, value=message.value, headers=[])
        batch.close()
        deliveries.append(await writer.send_batch(batch, topic, partition=tp.partition))
    return deliveries


def _rdkafka_echo(name: str, bootstrap: str, source: str, count: int, transactional: bool) -> Run:
    """The same echo on librdkafka; with ``transactional``, one transaction per fetched batch holding
    the records and the offsets, committed with the consumer's group metadata (KIP-447)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": source,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    options: dict[str, Any] = {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    if transactional:
        # librdkafka waits retry.backoff.ms (100 ms) before asking again after CONCURRENT_TRANSACTIONS.
        options |= {"transactional.id": f"{source}.rdkafka", "retry.backoff.ms": 2}
    producer = Producer(options)
    if transactional:
        producer.init_transactions(30)
    consumer.subscribe([source])
    try:
        done, started, cpu = 0, 0.0, 0.0
        while done < count:
            messages = [m for m in consumer.consume(500, 0.2) if m.error() is None]
            if not messages:
                continue
            if not started:
                started, cpu = time.perf_counter(), time.process_time()
            _rdkafka_write(producer, consumer, f"{source}.out", messages, transactional)
            done += len(messages)
        producer.flush(30)
        elapsed = time.perf_counter() - started
        return Run(name, count / elapsed, (time.process_time() - cpu) / count * 1e6)
    finally:
        consumer.close()


def _rdkafka_write(
    producer: Any, consumer: Any, topic: str, messages: list[Any], transactional: bool
) -> None:
    if transactional:
        producer.begin_transaction()
    for message in messages:
        while True:
            try:
                producer.produce(topic, message.value(), key=message.key(), partition=message.partition())
                break
            except BufferError:
                producer.poll(0.005)
    if not transactional:
        producer.poll(0)
        return
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        last[message.topic(), message.partition()] = message.offset() + 1
    offsets = [ConfluentPartition(t, p, o) for (t, p), o in last.items()]
    producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)


def _print(runs: Sequence[Run], count: int) -> None:
    base = runs[0].per_s
    print(f"\nconsume → produce, {count:,} records of {_SIZE} bytes, {_PARTITIONS} partitions")
    print(f"  {'':30}{'messages/s':>12}{'ratio':>8}{'CPU µs/message':>17}")
    for run in runs:
        print(f"  {run.name:30}{run.per_s:>12,.0f}{run.per_s / base:>8.2f}{run.cpu_us:>17.1f}")
    summary = {
        "n": count,
        **{_key(r.name): {"per_s": round(r.per_s), "cpu_us": round(r.cpu_us, 1)} for r in runs},
    }
    print(json.dumps(summary))


def _key(name: str) -> str:
    keys = {
        "plain (no transactions)": "plain",
        "one transaction per batch": "one_lane",
        "8 lanes": "eight_lanes",
        "librdkafka plain": "rdkafka_plain",
    }
    return keys.get(name, "rdkafka_kip447")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(main())
