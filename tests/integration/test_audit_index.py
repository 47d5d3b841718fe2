"""`dancu-bus audit index|query` on the real broker: a live index and one rebuilt from the topic agree."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from pydantic import SecretStr

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_to_end
from dancu_bus.audit import audit_partition
from dancu_bus.audit.indexer import IndexOptions, IndexProgress, run_index
from dancu_bus.cli.audit_index import run_index_command, run_query
from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import CodecError, DancuError
from dancu_bus.sdk import Client, ClientConfig, VerifyQuery
from dancu_bus.settings import AuditIndexSettings, KafkaSettings, Settings
from dancu_bus.store.audit_index import AuditQuery, open_audit_index
from tests.contexts import KYC, SIM
from tests.contexts import PUBLIC_SERVICE as PROVINCE
from tests.integration.audit_env import exchange
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sdk_keys

pytestmark = [pytest.mark.audit, pytest.mark.timeout(240)]

# Exchanges per agency: bank and telecom VERIFY by id alone (REJECTED NOTHING_TO_VERIFY), the province LOOKUP.
MIX = {"demo-bank": 40, "demo-telecom": 20, "demo-province": 12}
REFUSED = 6  # more bank requests, without a purpose: REJECTED PURPOSE_MISSING


@dataclass(frozen=True)
class Indexed:
    """A deployment after a known mix of exchanges, the audit's records of them, and a live index."""

    deployment: Deployment
    live: Settings
    progress: IndexProgress
    audited: list[AuditRecord]
    data: Path


def with_index(settings: Settings, path: Path) -> Settings:
    """The same settings with the audit index in the SQLite file ``path``."""
    return settings.model_copy(update={"audit_index": AuditIndexSettings(path=path)})


def refused(deployment: Deployment, count: int) -> list[str]:
    """Bank requests without a purpose, once answered; their request ids."""
    config = ClientConfig(
        "demo-bank", deployment.settings.kafka, timeout_s=60, answer_keys=sdk_keys("demo-bank")
    )
    with Client(config, deployment.codec) as bank:
        requests = [
            dataclasses.replace(bank.build(VerifyQuery(p.personal_id), KYC), purpose_code="")
            for p in deployment.people[:count]
        ]
        assert len(list(bank.send_requests(requests))) == count
    return [r.request_id for r in requests]


def produce_garbage(deployment: Deployment) -> None:
    """A record on the audit topic that is no audit record: every indexer skips and counts it."""
    producer = Producer(client_config(deployment.settings.kafka))
    topic, partition = deployment.names.audit, audit_partition("demo-bank", 6)
    producer.produce(topic, b"\xc3\x01 no audit record", key=b"garbage", partition=partition)
    assert producer.flush(30) == 0


@contextmanager
def following(settings: Settings, deployment: Deployment) -> Iterator[list[IndexProgress]]:
    """`audit index` following the topic in a thread of its own; its progress once stopped."""
    loop, stop, done = asyncio.new_event_loop(), asyncio.Event(), []

    def run() -> None:
        done.append(loop.run_until_complete(run_index(settings, deployment.codec, IndexOptions(), stop)))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield done
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()


def audit_records(deployment: Deployment, request_ids: set[str], timeout_s: float = 120) -> list[AuditRecord]:
    """The audit topic's records, once it holds one of every request id (what does not decode left out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = []
        for record in read_to_end(deployment.settings.kafka, deployment.names.audit, 60):
            try:
                records.append(deployment.codec.decode_audit(record.value))
            except CodecError:
                continue  # the foreign record the test wrote
        if {r.request_id for r in records} >= request_ids or time.monotonic() > deadline:
            assert len(records) == len(request_ids)
            return records
        time.sleep(0.5)


async def _count(settings: Settings, q: AuditQuery) -> int:
    async with open_audit_index(settings) as index:
        return await index.count(q)


def wait_for_count(settings: Settings, expected: int, timeout_s: float = 60) -> None:
    """Wait until the index holds ``expected`` records."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if asyncio.run(_count(settings, AuditQuery())) == expected:
                return
        except DancuError:
            pass  # the indexer has not created the index yet
        time.sleep(0.3)
    raise AssertionError(f"the live index did not reach {expected} records within {timeout_s:g} s")


@pytest.fixture(scope="module")
def indexed(kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """Exchanges of three agencies, refusals and one foreign record, indexed live as they happen."""
    data = tmp_path_factory.mktemp("audit-index")
    with running_deployment(kafka_settings, data) as deployment:
        live = with_index(deployment.settings, data / "live.sqlite3")
        with following(live, deployment) as progress:
            ids = exchange(deployment, "demo-bank", KYC, MIX["demo-bank"], 0)
            ids += exchange(deployment, "demo-telecom", SIM, MIX["demo-telecom"], 0)
            ids += exchange(deployment, "demo-province", PROVINCE, MIX["demo-province"], 0)
            ids += refused(deployment, REFUSED)
            produce_garbage(deployment)
            audited = audit_records(deployment, set(ids))
            wait_for_count(live, len(ids))
        (finished,) = progress
        yield Indexed(deployment, live, finished, audited, data)


async def _answers(settings: Settings) -> dict[str, tuple[int, list[AuditRecord]]]:
    """The count and the records of several inspectors' queries."""
    async with open_audit_index(settings) as index:
        every = [r async for r in index.records(AuditQuery())]
        middle = every[len(every) // 2].received_at
        queries = {
            "all": AuditQuery(),
            "bank": AuditQuery(agency="demo-bank"),
            "refused": AuditQuery(status="REJECTED", reason="PURPOSE_MISSING"),
            "lookups": AuditQuery(operation="LOOKUP"),
            "person": AuditQuery(personal_id=every[0].personal_id),
            "purpose": AuditQuery(purpose="SIM-OWNER"),
            "first half": AuditQuery(end=middle),
            "bank, second half": AuditQuery(agency="demo-bank", start=middle),
        }
        return {
            name: (await index.count(q), [r async for r in index.records(q)]) for name, q in queries.items()
        }


def test_the_live_index_holds_every_exchange_as_the_topic_does(indexed: Indexed) -> None:
    """The followed index holds each audit record whole, the mix's counts exactly, the foreign one skipped."""
    answers = asyncio.run(_answers(indexed.live))
    by_id = {r.exchange_id: r for r in answers["all"][1]}
    assert by_id == {r.exchange_id: r for r in indexed.audited}
    agencies = Counter(r.agency for r in answers["all"][1])
    assert agencies == {**MIX, "demo-bank": MIX["demo-bank"] + REFUSED}
    outcomes = Counter((r.status, r.reason_code) for r in answers["all"][1])
    assert outcomes == {
        ("REJECTED", "NOTHING_TO_VERIFY"): MIX["demo-bank"] + MIX["demo-telecom"],
        ("REJECTED", "PURPOSE_MISSING"): REFUSED,
        ("OK", None): MIX["demo-province"],
    }
    assert answers["refused"][0] == REFUSED and answers["lookups"][0] == MIX["demo-province"]
    assert indexed.progress.skipped == 1


def test_rebuilding_from_the_topic_gives_the_same_answers(indexed: Indexed) -> None:
    """`audit index --rebuild --once` into another index answers every query as the live index does."""
    rebuilt = with_index(indexed.deployment.settings, indexed.data / "rebuilt.sqlite3")
    out = io.StringIO()
    args = argparse.Namespace(rebuild=True, once=True, topics=None, timeout=120.0)
    assert run_index_command(args, rebuilt, out) == 0
    total = len(indexed.audited)
    assert f"{total} records indexed" in out.getvalue() and "1 skipped" in out.getvalue(), out.getvalue()
    assert asyncio.run(_answers(rebuilt)) == asyncio.run(_answers(indexed.live))


def test_an_index_rebuilt_in_postgresql_gives_the_same_answers(indexed: Indexed, postgres_dsn: str) -> None:
    """The PostgreSQL backend, filled from the topic, answers as the live SQLite index does."""
    settings = indexed.deployment.settings.model_copy(
        update={"audit_index": AuditIndexSettings(backend="postgres", dsn=SecretStr(postgres_dsn))}
    )
    args = argparse.Namespace(rebuild=False, once=True, topics=None, timeout=120.0)
    out = io.StringIO()
    assert run_index_command(args, settings, out) == 0
    assert "in PostgreSQL" in out.getvalue() and postgres_dsn not in out.getvalue()
    assert asyncio.run(_answers(settings)) == asyncio.run(_answers(indexed.live))


def test_a_second_pass_resumes_where_the_index_stopped(indexed: Indexed) -> None:
    """`audit index --once` on the live index reads nothing again: its offsets were stored with its rows."""
    out = io.StringIO()
    args = argparse.Namespace(rebuild=False, once=True, topics=None, timeout=120.0)
    assert run_index_command(args, indexed.live, out) == 0
    assert "0 records indexed" in out.getvalue() and f"holds {len(indexed.audited)} records" in out.getvalue()


def test_the_index_expires_what_the_topics_retention_would(indexed: Indexed, tmp_path: Path) -> None:
    """With a topics file keeping the audit one second, a new index expires every record it read."""
    declared = yaml.safe_load(Path("topics.yaml").read_text(encoding="utf-8"))
    for topic in declared["topics"]:
        if topic["name"] == f"{declared['prefix']}.audit":
            topic["configs"]["retention.ms"] = int(timedelta(seconds=1) / timedelta(milliseconds=1))
    short = tmp_path / "topics.yaml"
    short.write_text(yaml.safe_dump(declared), encoding="utf-8")
    out = io.StringIO()
    settings = with_index(indexed.deployment.settings, tmp_path / "short.sqlite3")
    args = argparse.Namespace(rebuild=False, once=True, topics=short, timeout=120.0)
    assert run_index_command(args, settings, out) == 0
    assert f"{len(indexed.audited)} expired (older than 1 s)" in out.getvalue(), out.getvalue()
    assert "holds 0 records" in out.getvalue()


def query(
    settings: Settings, form: str, limit: int = 100, cursor: str | None = None, **given: str
) -> tuple[str, str]:
    """`audit query` with these options; its stdout and stderr."""
    names = ("agency", "start", "end", "personal_id", "purpose", "operation", "outcome", "reason")
    args = argparse.Namespace(**{n: given.get(n) for n in names}, format=form, limit=limit, cursor=cursor)
    out, err = io.StringIO(), io.StringIO()
    assert run_query(args, settings, out, err) == 0
    return out.getvalue(), err.getvalue()


def test_table_csv_and_json_show_the_same_records(indexed: Indexed) -> None:
    """The three formats of one query list the same exchanges, in the index's order."""
    expected = [
        r
        for r in sorted(indexed.audited, key=lambda r: (r.received_at, r.exchange_id))
        if r.agency == "demo-telecom"
    ]
    ids = [r.exchange_id for r in expected]
    table, _ = query(indexed.live, "table", agency="demo-telecom")
    as_csv, _ = query(indexed.live, "csv", agency="demo-telecom")
    as_json, _ = query(indexed.live, "json", agency="demo-telecom")
    assert [line.split()[-1] for line in table.splitlines()[1:-1]] == ids
    assert f"{len(ids)} records, last page" in table
    assert [row["exchange_id"] for row in csv.DictReader(io.StringIO(as_csv))] == ids
    assert [json.loads(line)["exchange_id"] for line in as_json.splitlines()] == ids


def test_pages_follow_the_printed_cursor(indexed: Indexed) -> None:
    """Pages of 7 joined by the cursor printed on stderr give the whole answer, each record once."""
    pages, cursor = [], None
    while True:
        out, err = query(indexed.live, "json", limit=7, cursor=cursor, outcome="REJECTED", operation="VERIFY")
        pages.append([json.loads(line)["exchange_id"] for line in out.splitlines()])
        if not err:
            break
        cursor = err.strip().removeprefix("next page: --cursor ")
    every, _ = query(indexed.live, "json", limit=1000, outcome="REJECTED", operation="VERIFY")
    assert [i for page in pages for i in page] == [
        json.loads(line)["exchange_id"] for line in every.splitlines()
    ]
    assert len(pages) == -(-(MIX["demo-bank"] + MIX["demo-telecom"] + REFUSED) // 7)
