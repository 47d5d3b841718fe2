"""The baseline's echo service, run as its own process: copy each record of one topic to another.

It stands where the resolver stands, with no dancu-bus code: consume in batches, produce each value
unchanged under its key, stop after ``--count`` records. It prints ``ready`` once it reads.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

# The same batching as the SDK's producer and the resolver's consumer, so the baseline is comparable.
PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}
CONSUMER = {"enable.auto.commit": False, "fetch.wait.max.ms": 10, "enable.partition.eof": False}


def main() -> int:
    """Echo ``--count`` records from ``--source`` to ``--target``."""
    args = _arguments()
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group, **CONSUMER})
    producer = Producer({"bootstrap.servers": args.bootstrap, **PRODUCER})
    partitions = consumer.list_topics(args.source, timeout=30).topics[args.source].partitions
    consumer.assign([TopicPartition(args.source, p, OFFSET_BEGINNING) for p in partitions])
    print("ready", flush=True)
    echoed = 0
    while echoed < args.count:
        echoed += _echo(next_batch(consumer), producer, args.target)
    producer.flush(60)
    consumer.close()
    return 0


def next_batch(consumer: Any) -> list[Any]:
    """What has arrived (up to 1,000), else the next record within 100 ms.

    ``consume`` returns early only once it has ``num_messages``: asking for 1,000 alone would hold
    each record back for the whole timeout whenever fewer are coming.
    """
    here: list[Any] = consumer.consume(num_messages=1000, timeout=0)
    return here or consumer.consume(num_messages=1, timeout=0.1)


def _echo(messages: list[Any], producer: Any, target: str) -> int:
    good = [m for m in messages if m.error() is None]
    for message in good:
        while True:
            try:
                producer.produce(target, message.value(), key=message.key(), headers=message.headers())
                break
            except BufferError:
                producer.poll(0.01)  # the local queue is full: serve delivery reports until there is room
    producer.poll(0)
    return len(good)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--bootstrap", "--source", "--target", "--group"):
        parser.add_argument(name, required=True)
    parser.add_argument("--count", type=int, required=True)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
