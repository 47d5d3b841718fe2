"""Benchmark: CPU time per record of each stage of a request's way, in one process, with no Kafka.

    .venv/bin/python bench/stages.py [--workload verify|lookup] [--citizens 1000000]

The SDK's stages (build, encode the request, decode the response) and the resolver's (decode,
admit, store, answer, encode), each over the same 20,000 requests about people of the cached
population (``exchange.py`` seeds it), then the resolver's whole handler in batches of 500, then
the audit consumer's handler over the same exchanges (requests and answers paired, chained, encoded)
and the bytes of each record. It shows where the CPU of a round trip goes without the broker, the
network or another process in the way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from deployment import BENCH_KEYS, bench_agencies
from population import Population, read_sample
from prometheus_client import CollectorRegistry
from workloads import WORKLOADS

from dancu_bus.agencies import FileAgencyDirectory
from dancu_bus.audit import AuditHandler, AuditLimits
from dancu_bus.catalogues import CatalogueView, packaged_view
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen, Provenance, Request, Response
from dancu_bus.keys import PrivateKeys
from dancu_bus.metrics import AuditMetrics, ResolverMetrics
from dancu_bus.operations import LOOKUP, Asking, platform_codec
from dancu_bus.resolver import Admission, Admitted, Rejection, reject, respond
from dancu_bus.resolver.handler import ResolverHandler
from dancu_bus.sdk.requests import build_request
from dancu_bus.sealing import open_sealed, seal
from dancu_bus.store import SqliteStore
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import Incoming

T = TypeVar("T")
_N = 20_000
_BATCH = 500


def main() -> int:
    """Time each stage and print CPU µs per record."""
    args = _arguments()
    workload = WORKLOADS[args.workload]
    population = Population(args.citizens)
    codec = platform_codec()
    queries = list(workload.queries(read_sample(population), _N))
    requests = _stage(
        "SDK: build request",
        lambda: [build_request(workload.agency, workload.context, q, 600) for q in queries],
    )
    values = _stage("SDK: encode request", lambda: [codec.encode_request(r) for r in requests])
    decoded = _stage("resolver: decode request", lambda: [codec.decode_request(v) for v in values])
    directory, now, view = _directory(), datetime.now(UTC), packaged_view()
    decisions = _stage(
        "resolver: admit",
        lambda: [Admission(directory).check(r, workload.agency, now, view) for r in decoded],
    )
    citizens = asyncio.run(_store(population, requests))
    responses = _stage(
        "resolver: answer",
        lambda: asyncio.run(_answers(decoded, decisions, citizens, view, now, workload.agency)),
    )
    encoded = _stage("resolver: encode response", lambda: [codec.encode_response(r) for r in responses])
    _stage("SDK: decode response", lambda: [codec.decode_response(e) for e in encoded])
    if workload.operation == "LOOKUP":  # answers that disclose personal data are sealed to the agency's key
        key = BENCH_KEYS[workload.agency]
        sealed = _stage(
            "resolver: seal answer (JWE)", lambda: [seal(r, key.public, codec, LOOKUP) for r in responses]
        )
        on_wire = _stage("resolver: encode sealed", lambda: [codec.encode_response(r) for r in sealed])
        keys = PrivateKeys.from_file(key.private_file)
        received = [codec.decode_response(e) for e in on_wire]
        _stage("SDK: open sealed answer", lambda: [open_sealed(r, keys, codec, LOOKUP) for r in received])
        print(f"  {'bytes per answer: clear':<28}{sum(map(len, encoded)) / _N:8.0f}")
        print(f"  {'bytes per answer: sealed':<28}{sum(map(len, on_wire)) / _N:8.0f}")
    asyncio.run(_handler(population, codec, directory, workload.agency, values))
    return 0


def _stage(label: str, work: Callable[[], T]) -> T:
    started = time.process_time()
    result = work()
    print(f"  {label:<28}{(time.process_time() - started) / _N * 1e6:8.1f} µs/record")
    return result


def _pid(request: Request) -> str:
    assert request.body is not None and request.body.personal_id is not None
    return request.body.personal_id


async def _answers(
    requests: list[Request],
    decisions: list[Admitted | Rejection],
    citizens: dict[str, Any],
    view: CatalogueView,
    now: datetime,
    agency: str,
) -> list[Response]:
    """Each decision answered through its operation, as the resolver's handler does."""
    answered = []
    for request, decision in zip(requests, decisions, strict=True):
        where = {"exchange_id": request.request_id, "agency": agency}
        if isinstance(decision, Rejection):
            answered.append(reject(request, decision, now, **where))
            continue
        asking = Asking(decision.purpose, view, citizens, _NO_SEARCH)
        result = await decision.operation.answer(decision.query, asking)
        answered.append(respond(request, result, now, **where))
    return answered


class _NoSearch:
    """The workloads name their people: nothing searches."""

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        raise AssertionError("the batch's citizens are read beforehand")

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        raise AssertionError("no workload searches")

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        raise AssertionError("no workload corrects")


_NO_SEARCH = _NoSearch()


async def _store(population: Population, requests: list[Request]) -> dict[str, Any]:
    """Fetch the batches' citizens as the resolver does, one query per batch."""
    found: dict[str, Any] = {}
    async with SqliteStore(population.sqlite_path, create=True) as store:
        started = time.process_time()
        for first in range(0, _N, _BATCH):
            found.update(await store.get_many(sorted({_pid(r) for r in requests[first : first + _BATCH]})))
        print(
            f"  {'resolver: store (SQLite)':<28}{(time.process_time() - started) / _N * 1e6:8.1f} µs/record"
        )
    return found


async def _handler(
    population: Population, codec: Codec, directory: Any, agency: str, values: list[bytes]
) -> None:
    names = TopicNames("bench.dancu")
    records = [Incoming(names.request(agency), 0, i, 0, None, v, ()) for i, v in enumerate(values)]
    answers: list[Incoming] = []
    async with SqliteStore(population.sqlite_path, create=True) as store:
        handler = ResolverHandler(codec, directory, store, names, ResolverMetrics(CollectorRegistry()))
        started = time.process_time()
        for first in range(0, _N, _BATCH):
            written = await handler.handle(records[first : first + _BATCH])
            answers += [
                Incoming(o.topic, 0, len(answers) + i, 0, o.key, o.value, ())
                for i, o in enumerate(w for w in written if w.topic == names.response(agency))
            ]
        print(f"  {'resolver: whole handler':<28}{(time.process_time() - started) / _N * 1e6:8.1f} µs/record")
    await _audit(codec, names, agency, records, answers)


async def _audit(
    codec: Codec, names: TopicNames, agency: str, requests: list[Incoming], answers: list[Incoming]
) -> None:
    """The audit consumer's handler over the same exchanges: pairing, chaining and encoding their records.

    One agency's exchanges all chain in one audit partition, so this is what one partition's writer
    (one audit consumer) can keep up with per core.
    """
    witness = AuditHandler(codec, names, AuditMetrics(CollectorRegistry()), AuditLimits(), 6)
    partition = witness.output_partition(names.request(agency))
    witness.resume(partition, None)
    witness.restore(partition, [])
    written = 0
    size = 0
    started = time.process_time()
    for first in range(0, _N, _BATCH):
        batch = [*requests[first : first + _BATCH], *answers[first : first + _BATCH]]
        for out in await witness.handle(batch):
            if out.topic == names.audit:
                written += 1
                size += len(out.value or b"")
    spent = time.process_time() - started
    print(
        f"  {'audit: whole handler':<28}{spent / max(written, 1) * 1e6:8.1f} µs/exchange",
        f"({written:,} records)",
    )
    print(f"  {'bytes per request':<28}{sum(len(r.value or b'') for r in requests) / len(requests):8.0f}")
    print(
        f"  {'bytes per response':<28}{sum(len(r.value or b'') for r in answers) / max(len(answers), 1):8.0f}"
    )
    print(f"  {'bytes per audit record':<28}{size / max(written, 1):8.0f}")


def _directory() -> FileAgencyDirectory:
    return FileAgencyDirectory({a.id: a for a in bench_agencies()})


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=("verify", "lookup"), default="verify")
    parser.add_argument("--citizens", type=int, default=1_000_000)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
