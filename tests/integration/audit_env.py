"""Helpers of the audit integration tests: exchanges awaited in the audit, `audit verify`, a 2nd consumer."""

from __future__ import annotations

import argparse
import asyncio
import io
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dancu_bus.admin.reader import TopicRecord, read_to_end, read_topic
from dancu_bus.audit import run_audit
from dancu_bus.cli.audit import run_verify
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord, Request, Response
from dancu_bus.demo import read_audit
from dancu_bus.sdk import Client, ClientConfig, Context, LookupQuery, VerifyQuery
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.topic_names import TopicNames
from tests.contexts import KYC, SIM
from tests.contexts import PUBLIC_SERVICE as PROVINCE
from tests.integration.exchange_env import Deployment, free_port
from tests.keys import sdk_keys


def exchange(deployment: Deployment, agency: str, context: Context, count: int, start: int) -> list[str]:
    """Send ``count`` requests as ``agency`` and wait for their answers; their request ids."""
    people = [p.personal_id for p in deployment.people]
    query = LookupQuery if context is PROVINCE else VerifyQuery
    with Client(
        ClientConfig(agency, deployment.settings.kafka, timeout_s=60, answer_keys=sdk_keys(agency)),
        deployment.codec,
    ) as client:
        requests = [client.build(query(people[(start + i) % len(people)]), context) for i in range(count)]
        assert len(list(client.send_requests(requests))) == count
    return [r.request_id for r in requests]


Audited = tuple[Request, Response, AuditRecord]


def audited_exchanges(kafka: KafkaSettings, agency: str, codec: Codec) -> dict[str, Audited]:
    """Every answered request ``agency`` sent, with its answer and its audit record, by request id.

    Fails when an answered request has no audit record within a minute.
    """
    names = TopicNames(kafka.topic_prefix)
    requests = {
        request.request_id: request
        for record in read_to_end(kafka, names.request(agency), 30)
        if record.value is not None and (request := codec.decode_request(record.value))
    }
    responses = {
        response.request_id: response
        for record in read_to_end(kafka, names.response(agency), 30)
        if record.value is not None
        and (response := codec.decode_response(record.value)).request_id in requests
    }
    audits: dict[str, AuditRecord] = {}

    def all_audited(records: Sequence[TopicRecord]) -> bool:
        for record in records:
            if record.value is not None and (audit := codec.decode_audit(record.value)).agency == agency:
                audits[audit.request_id] = audit
        return responses.keys() <= audits.keys()

    read_topic(kafka, names.audit, all_audited, 60)
    missing = responses.keys() - audits.keys()
    assert not missing, (
        f"{len(missing)} of {len(responses)} answered requests of {agency} have no audit record"
    )
    return {rid: (requests[rid], response, audits[rid]) for rid, response in responses.items()}


def exchange_all(deployment: Deployment, start: int = 0) -> list[str]:
    """Exchanges of three agencies (so several audit partitions), once all of them are in the audit."""
    ids = exchange(deployment, "demo-bank", KYC, 150, start)
    ids += exchange(deployment, "demo-telecom", SIM, 60, start)
    ids += exchange(deployment, "demo-province", PROVINCE, 40, start)
    assert len(read_audit(deployment.settings.kafka, deployment.codec, ids, timeout_s=120)) == len(ids)
    return ids


def verify(
    settings: Settings,
    expired_head: bool = False,
    settle_s: float | None = None,
    public_key: Path | None = None,
) -> tuple[int, str]:
    """Run `dancu-bus audit verify` (with ``public_key``: `--public-key`); its exit code and output."""
    out = io.StringIO()
    args = argparse.Namespace(
        expired_head=expired_head, timeout=120.0, chain_only=False, settle=settle_s, public_key=public_key
    )
    code = run_verify(args, settings, out)
    return code, out.getvalue()


@contextmanager
def second_audit_consumer(settings: Settings, codec: Codec) -> Iterator[int]:
    """Another audit consumer of the same group, in its own thread, until exit; yields its metrics port."""
    port = free_port()
    own = settings.model_copy(update={"audit": settings.audit.model_copy(update={"metrics_port": port})})
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(run_audit(own, codec, stop),))
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()


def wait_until_ready(port: int, timeout_s: float = 60) -> None:
    """Wait until the service on ``port`` says it owns partitions."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as ready:
                if ready.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening or not ready yet
        time.sleep(0.5)
    raise AssertionError(f"the service on port {port} was not ready within {timeout_s:g} s")


def records_written(port: int) -> float:
    """How many audit records the service on ``port`` wrote, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as metrics:
        lines = metrics.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("dancu_audit_records_total{")
    )
