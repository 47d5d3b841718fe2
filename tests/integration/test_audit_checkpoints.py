"""Signed checkpoints on the real broker: `audit verify --public-key` passes untouched, names forgeries."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.audit import audit_partition
from dancu_bus.audit.chain import START, head_of, seal
from dancu_bus.audit.checkpoints import CheckpointCodec
from dancu_bus.cli.audit import run_verify
from dancu_bus.cli.audit_archive import run_archive
from dancu_bus.cli.audit_checkpoints import run_keygen
from dancu_bus.cli.audit_report import run_report
from dancu_bus.settings import AuditIndexSettings, KafkaSettings, Settings
from tests.contexts import KYC
from tests.integration.audit_env import exchange, exchange_all, verify
from tests.integration.exchange_env import Deployment, running_deployment
from tests.integration.test_audit_chain import produce, under_prefix

pytestmark = [pytest.mark.audit, pytest.mark.timeout(300)]


@dataclass(frozen=True)
class Signed:
    """A deployment whose audit signs its heads every second, after real exchanges, and its public key."""

    deployment: Deployment
    public_keys: Path
    audit: list[TopicRecord]
    checkpoints: list[TopicRecord]


def signed_up_to(deployment: Deployment, offsets: dict[int, int], timeout_s: float = 60) -> list[TopicRecord]:
    """The checkpoint topic once each partition of ``offsets`` has a signed head at or past its offset."""
    codec = CheckpointCodec(deployment.codec.schemas)
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_to_end(deployment.settings.kafka, deployment.names.audit_checkpoints, 30)
        heads: dict[int, int] = {}
        for record in records:
            checkpoint = codec.decode(record.value)
            heads[checkpoint.partition] = max(heads.get(checkpoint.partition, -1), checkpoint.offset)
        if all(heads.get(p, -1) >= o for p, o in offsets.items()):
            return records
        assert time.monotonic() < deadline, f"signed heads {heads}, wanted {offsets}"
        time.sleep(0.5)


def last_offsets(records: Sequence[TopicRecord]) -> dict[int, int]:
    """Each partition's last record offset."""
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    return last


@pytest.fixture(scope="module")
def signed(kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    """One deployment for the module; snapshots are taken once every head is signed, before any forgery."""
    keys = tmp_path_factory.mktemp("keys")
    run_keygen(keys, io.StringIO())
    (private,) = keys.glob("*.key.pem")
    public = tmp_path_factory.mktemp("public")
    for key in keys.glob("*.pub.pem"):
        (public / key.name).write_bytes(key.read_bytes())
    audit = {"signing_key_file": private, "checkpoint_interval_s": 1.0}
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("audit"), audit) as deployment:
        exchange_all(deployment)
        records = read_to_end(deployment.settings.kafka, deployment.names.audit, 60)
        checkpoints = signed_up_to(deployment, last_offsets(records))
        yield Signed(deployment, public, records, checkpoints)


def test_verify_with_the_public_key_passes_untouched(signed: Signed) -> None:
    """Every partition's signed heads verify and link; the chain is intact too."""
    code, out = verify(signed.deployment.settings, public_key=signed.public_keys)
    assert code == 0, out
    assert ": every one verified" in out and "intact" in out
    partitions = set(last_offsets(signed.audit))  # three agencies' chains, each signed
    assert sum(": signed heads verified: " in line for line in out.splitlines()) == len(partitions)


def test_an_archive_of_the_live_topic_verifies_offline_and_names_an_edit(
    signed: Signed, tmp_path: Path
) -> None:
    """`audit archive` of every record so far verifies with the public key; an edited line fails."""
    settings = signed.deployment.settings
    out = io.StringIO()
    args = argparse.Namespace(
        before=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
        out=tmp_path / "a",
        timeout=60.0,
        topics=None,
    )
    assert run_archive(args, settings, out) == 0
    assert f"{len(signed.audit)} records of " in out.getvalue() and "retention (1827 days" in out.getvalue()
    check = argparse.Namespace(archive=tmp_path / "a", public_key=signed.public_keys)
    report = io.StringIO()
    assert run_verify(check, settings, report) == 0, report.getvalue()
    assert report.getvalue().endswith(": verified\n")
    records = tmp_path / "a" / "audit-records.jsonl"
    records.write_text(records.read_text().replace('"status":"OK"', '"status":"REJECTED"', 1))
    assert run_verify(check, settings, io.StringIO()) == 1


def test_a_record_altered_in_place_is_named_between_signed_heads(signed: Signed) -> None:
    """A changed copy of a bank record produced into its partition breaks the link to the next signed head."""
    deployment = signed.deployment
    partition = audit_partition("demo-bank", 6)
    bank = [r for r in signed.audit if r.partition == partition]
    original = bank[len(bank) // 2]
    altered = dataclasses.replace(deployment.codec.decode_audit(original.value), personal_id="001099999999")
    forged = dataclasses.replace(original, value=deployment.codec.encode_audit(altered))
    (offset,) = produce(deployment.settings, deployment.names.audit, [forged])
    ids = exchange(deployment, "demo-bank", KYC, 5, start=700)  # the writer goes on after the forgery
    signed_up_to(deployment, {partition: offset + len(ids)})
    code, out = verify(deployment.settings, public_key=signed.public_keys)
    assert code == 1
    exchange_id = (original.key or b"").decode()
    assert f"partition {partition}: checkpoint UNLINKED at offset {offset} (exchange {exchange_id})" in out, (
        out
    )


def rewritten(records: Sequence[TopicRecord], signed: Signed) -> list[TopicRecord]:
    """The partition's records with its third record's officer changed and every later hash recomputed."""
    codec = signed.deployment.codec
    head, forged = START, []
    for index, record in enumerate(records):
        audit = codec.decode_audit(record.value)
        if index == 2:
            audit = dataclasses.replace(audit, officer_id="someone else")
        audit = seal(audit, head)
        head = head_of(audit)
        forged.append(dataclasses.replace(record, value=codec.encode_audit(audit)))
    return forged


def forged_copy(signed: Signed, name: str, partition: int) -> Settings:
    """Settings whose audit topic holds one partition rewritten consistently, and its true checkpoints."""
    settings = under_prefix(signed.deployment.settings, f"{signed.deployment.names.prefix}.{name}")
    prefix = settings.kafka.topic_prefix
    admin = AdminClient({**client_config(settings.kafka)})
    for future in admin.create_topics(
        [NewTopic(f"{prefix}.audit", 6, 1), NewTopic(f"{prefix}.audit.checkpoints", 6, 1)]
    ).values():
        future.result(30)
    own = [r for r in signed.audit if r.partition == partition]
    produce(settings, f"{prefix}.audit", rewritten(own, signed))
    checkpoints = CheckpointCodec(signed.deployment.codec.schemas)
    kept = [r for r in signed.checkpoints if checkpoints.decode(r.value).partition == partition]
    produce(settings, f"{prefix}.audit.checkpoints", kept)
    return settings


def test_a_partition_rewritten_with_every_hash_recomputed_fails_its_signed_heads(signed: Signed) -> None:
    """The forged chain is intact in itself; its heads are not what was signed, so verify fails."""
    partition = audit_partition("demo-telecom", 6)
    settings = forged_copy(signed, "rewritten", partition)
    code, out = verify(settings, public_key=signed.public_keys)
    assert code == 1
    assert f"partition {partition}: intact" in out
    failed = [line for line in out.splitlines() if line.startswith(f"partition {partition}: checkpoint ")]
    assert failed and (" CHANGED at offset " in failed[0] or " MISSING at offset " in failed[0]), out


def test_the_report_states_a_partition_rewritten_with_every_hash_recomputed(
    signed: Signed, tmp_path: Path
) -> None:
    """`audit report --public-key` over the rewritten copy states that the signed heads failed."""
    partition = audit_partition("demo-telecom", 6)
    settings = forged_copy(signed, "reported", partition)
    registry = f"{settings.kafka.topic_prefix}.registry"  # the copy's registry: the deployment's records
    admin = AdminClient({**client_config(settings.kafka)})  # kept alive: its future needs it
    admin.create_topics([NewTopic(registry, 1, 1)])[registry].result(30)
    produce(
        settings,
        registry,
        read_to_end(signed.deployment.settings.kafka, signed.deployment.names.registry, 30),
    )
    index = AuditIndexSettings(path=tmp_path / "audit-index.sqlite3")
    today = datetime.now(UTC).date()
    args = argparse.Namespace(
        agency="demo-telecom",
        first=(today - timedelta(days=1)).isoformat(),
        last=(today + timedelta(days=1)).isoformat(),
        format="html,json",
        out=tmp_path / "report",
        expired_head=False,
        catch_up=True,
        timeout=60.0,
        public_key=signed.public_keys,
    )
    printed = io.StringIO()
    assert run_report(args, settings.model_copy(update={"audit_index": index}), printed) == 0
    assert "chain NOT VERIFIED" in printed.getvalue()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "VERIFICATION FAILED" in page and f"partition {partition}: intact" in page
    assert f"partition {partition}: checkpoint " in page
    chain = {
        r["measure"]: r["value"]
        for r in json.loads((tmp_path / "report.json").read_text())["sections"]["chain"]
    }
    assert chain["chain_verified"] is True and chain["checkpoints_verified"] is False
