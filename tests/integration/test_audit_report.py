"""`dancu-bus audit report` on the real broker: 5,000 known exchanges of three agencies, counted exactly.

The mix: the bank verifies 2,000 people in VERIFY_BATCH requests (some ids malformed), looks 20 up
and asks 10 times under a purpose it never registered; the telecom verifies 1,500, a quarter of
them while it is suspended, and is asked for two usage reports, answering one; the notary, allowed
5 a second, verifies 1,470 at once and hits its quota. Each batch item is an exchange of its own in
the audit, which makes 5,000 exchanges cheap. What each exchange became is taken from the answers
the agencies received, so the test expects what really happened, and the report (the CLI reads the
registry, catches the audit index up and reads it, and verifies the audit topic's chains) must say
exactly that, in HTML, CSV and JSON alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_to_end, read_topic
from dancu_bus.cli.audit_report import run_report
from dancu_bus.codec import load_schemas
from dancu_bus.inspection import VIETNAM
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import Client, ClientConfig, Context, LookupAnswer, LookupQuery, VerifyQuery
from dancu_bus.settings import AuditIndexSettings, KafkaSettings, Settings
from tests.contexts import KYC, KYC_LOOKUP, NOTARY, SIM
from tests.inspection_samples import csv_sections, html_tables
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sdk_keys

pytestmark = [pytest.mark.integration, pytest.mark.audit, pytest.mark.timeout(300)]

EXCHANGES = 5_000
UNREGISTERED = Context("can-bo-1", "HS-9", "MARKETING", "không có căn cứ")
PROPAGATION_S = 1.0  # a registry change reaches the running resolver within this (test_registry_live)
Outcome = tuple[str, str, str | None]  # operation, status, reason


@dataclass(frozen=True)
class Mixed:
    """The deployment after the mix: what each agency's exchanges became, by exchange id."""

    deployment: Deployment
    outcomes: dict[str, dict[str, Outcome]]
    disclosed: dict[str, Counter[tuple[str, str]]]
    settings: Settings  # the deployment's, with an audit index of this module's own


def _client(deployment: Deployment, agency: str) -> Client:
    config = ClientConfig(agency, deployment.settings.kafka, timeout_s=60, answer_keys=sdk_keys(agency))
    return Client(config, deployment.codec)


def _verify(client: Client, rows: Sequence[VerifyQuery], context: Context) -> dict[str, Outcome]:
    """Each row verified in VERIFY_BATCH requests of 500; what each item's exchange became."""
    return {
        a.exchange_id: ("VERIFY_BATCH", "OK" if a.ok else "REJECTED", a.reason_code)
        for a in client.verify_many(rows, context, batch_size=500, in_flight=2)
    }


def _rows(deployment: Deployment, count: int, start: int, malformed_every: int = 0) -> list[VerifyQuery]:
    people = deployment.people
    rows = [VerifyQuery(p.personal_id, p.full_name, p.birth_date) for p in people[start : start + count]]
    for i in range(0, count, malformed_every) if malformed_every else ():
        rows[i] = VerifyQuery(f"12345{i}", "Không Hợp Lệ")
    return rows


def _bank(deployment: Deployment) -> tuple[dict[str, Outcome], Counter[tuple[str, str]]]:
    disclosed: Counter[tuple[str, str]] = Counter()
    with _client(deployment, "demo-bank") as bank:
        outcomes = _verify(bank, _rows(deployment, 2000, 0, malformed_every=40), KYC)
        people = [LookupQuery(p.personal_id) for p in deployment.people[:20]]
        for answer in bank.send_many(people, KYC_LOOKUP):
            outcomes[answer.exchange_id] = ("LOOKUP", "OK" if answer.ok else "REJECTED", answer.reason_code)
            assert isinstance(answer, LookupAnswer)
            disclosed.update((KYC_LOOKUP.purpose_code, name) for name in answer.fields)
        asked = [VerifyQuery(p.personal_id, p.full_name) for p in deployment.people[:10]]
        for answer in bank.send_many(asked, UNREGISTERED):
            outcomes[answer.exchange_id] = ("VERIFY", "OK" if answer.ok else "REJECTED", answer.reason_code)
    return outcomes, disclosed


def _telecom(deployment: Deployment) -> dict[str, Outcome]:
    admin = AgencyAdmin(deployment.settings.kafka, RegistryCodec(load_schemas(OPERATIONS)))
    with _client(deployment, "demo-telecom") as telecom:
        outcomes = _verify(telecom, _rows(deployment, 1000, 0), SIM)
        admin.suspend("demo-telecom", "thanh tra đột xuất", "QD-TT-16", "thanh-tra-c06")
        time.sleep(PROPAGATION_S)
        outcomes |= _verify(telecom, _rows(deployment, 250, 1000), SIM)
        admin.resume("demo-telecom", "QD-TT-17", "thanh-tra-c06")
        admin.request_usage_report("demo-telecom", "kiểm tra 6 tháng", "CV-TT-18", "thanh-tra-c06")
        admin.answer_usage_report("demo-telecom", "BC-TT-19", "demo-telecom")
        admin.request_usage_report("demo-telecom", "bổ sung", "CV-TT-20", "thanh-tra-c06")
        time.sleep(PROPAGATION_S)
        outcomes |= _verify(telecom, _rows(deployment, 250, 1250), SIM)
    return outcomes


def _notary(deployment: Deployment) -> dict[str, Outcome]:
    with Client(
        ClientConfig("demo-notary", deployment.settings.kafka, timeout_s=60), deployment.codec
    ) as notary:
        return _verify(notary, _rows(deployment, 1470, 0), NOTARY)


def _await_audit(deployment: Deployment, exchanges: set[str]) -> None:
    """Wait until every exchange has its audit record."""
    seen: set[str] = set()

    def done(records: Sequence[TopicRecord]) -> bool:
        seen.update(r.key.decode() for r in records[len(seen) :] if r.key is not None)
        return exchanges <= seen

    read_topic(deployment.settings.kafka, deployment.names.audit, done, 120)
    assert exchanges <= seen, f"{len(exchanges - seen)} exchanges have no audit record"


@pytest.fixture(scope="module")
def mixed(kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    """One deployment that carried the mix, once all of it is in the audit."""
    data = tmp_path_factory.mktemp("report")
    with running_deployment(kafka_settings, data) as deployment:
        with ThreadPoolExecutor(3) as agencies:  # each agency asks on its own, as they would
            banking = agencies.submit(_bank, deployment)
            telecom, notary = agencies.submit(_telecom, deployment), agencies.submit(_notary, deployment)
            bank, disclosed = banking.result()
            outcomes = {"demo-bank": bank, "demo-telecom": telecom.result(), "demo-notary": notary.result()}
        assert sum(len(o) for o in outcomes.values()) == EXCHANGES
        _await_audit(deployment, {e for o in outcomes.values() for e in o})
        index = AuditIndexSettings(path=data / "audit-index.sqlite3")
        yield Mixed(
            deployment,
            outcomes,
            {"demo-bank": disclosed},
            deployment.settings.model_copy(update={"audit_index": index}),
        )


def report(mixed: Mixed, agency: str, form: str, out: Path | None = None, catch_up: bool = True) -> str:
    """`dancu-bus audit report` for ``agency`` over yesterday to tomorrow (Vietnam time); what it printed."""
    today = datetime.now(UTC).astimezone(VIETNAM).date()
    args = argparse.Namespace(
        agency=agency,
        first=(today - timedelta(days=1)).isoformat(),
        last=(today + timedelta(days=1)).isoformat(),
        format=form,
        out=out,
        expired_head=False,
        catch_up=catch_up,
        timeout=60.0,
    )
    printed = io.StringIO()
    assert run_report(args, mixed.settings, printed) == 0
    return printed.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the reports are written."""
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def reports(mixed: Mixed, folder: Path) -> dict[str, dict[str, str]]:
    """Each agency's report made once in the three text formats (the notary's as PDF too), read back."""
    made: dict[str, dict[str, str]] = {}
    for agency in mixed.outcomes:
        forms = "html,csv,json,pdf" if agency == "demo-notary" else "html,csv,json"
        printed = report(mixed, agency, forms, folder / agency)
        assert printed.count(f"{agency}: {len(mixed.outcomes[agency])} exchanges, chain verified") == len(
            forms.split(",")
        )
        made[agency] = {
            f: (folder / f"{agency}.{f}").read_text(encoding="utf-8") for f in ("html", "csv", "json")
        }
    return made


def _summary(sections: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    return {str(row["measure"]): row["value"] for row in sections["summary"]}


@pytest.mark.parametrize("agency", ["demo-bank", "demo-telecom", "demo-notary"])
def test_the_report_counts_the_mix_exactly(
    mixed: Mixed, reports: dict[str, dict[str, str]], agency: str
) -> None:
    """Exchanges by operation and outcome, refusals by reason, quota hits, fields disclosed: the mix's."""
    outcomes = mixed.outcomes[agency].values()
    sections = json.loads(reports[agency]["json"])["sections"]
    by_operation = {(r["operation"], r["status"]): r["count"] for r in sections["volume_by_operation"]}
    assert by_operation == Counter((op, status) for op, status, _ in outcomes)
    refusals = {r["reason"]: r["count"] for r in sections["refusals_by_reason"]}
    assert refusals == Counter(reason for _, _, reason in outcomes if reason is not None)
    summary = _summary(sections)
    assert summary["exchanges"] == len(outcomes)
    assert summary["quota_hits"] == sum(1 for _, _, reason in outcomes if reason == "QUOTA_EXCEEDED")
    assert sum(r["count"] for r in sections["volume_by_day"]) == len(outcomes)
    disclosed = {(r["purpose"], r["field"]): r["count"] for r in sections["fields_by_purpose"]}
    assert disclosed == mixed.disclosed.get(agency, {})
    assert summary["chain_verified"] is True


def test_the_mix_has_what_it_is_meant_to_have(mixed: Mixed) -> None:
    """Rejections of several reasons, a suspension and quota hits really happened (the test relies on it)."""
    reasons = Counter(r for o in mixed.outcomes.values() for _, _, r in o.values())
    assert reasons["INVALID_PERSONAL_ID"] == 50 and reasons["PURPOSE_NOT_REGISTERED"] == 10
    assert reasons["SUSPENDED"] == 250 and reasons["QUOTA_EXCEEDED"] > 1000


def test_the_suspension_and_the_usage_reports_are_in_the_report(reports: dict[str, dict[str, str]]) -> None:
    """The telecom's report lists its suspension and resumption, and its usage reports asked and answered."""
    sections = json.loads(reports["demo-telecom"]["json"])["sections"]
    changes = [(c["action"], c["document_ref"], c["by"]) for c in sections["registry_changes"]]
    assert changes[-2:] == [("SUSPEND", "QD-TT-16", "thanh-tra-c06"), ("RESUME", "QD-TT-17", "thanh-tra-c06")]
    usage = [(c["action"], c["document_ref"]) for c in sections["usage_reports"]]
    assert usage == [
        ("USAGE_REPORT_REQUEST", "CV-TT-18"),
        ("USAGE_REPORT_ANSWER", "BC-TT-19"),
        ("USAGE_REPORT_REQUEST", "CV-TT-20"),
    ]
    assert _summary(sections)["usage_requests_open"] == 1


@pytest.mark.parametrize("agency", ["demo-bank", "demo-telecom", "demo-notary"])
def test_html_csv_and_json_agree(reports: dict[str, dict[str, str]], agency: str) -> None:
    """Every section has the same rows, cell for cell, in the three formats."""
    in_json = json.loads(reports[agency]["json"])["sections"]
    in_csv = csv_sections(reports[agency]["csv"])
    in_html = html_tables(reports[agency]["html"])
    for section, rows in in_json.items():
        expected = [{k: _text(v) for k, v in row.items()} for row in rows]
        if expected:  # an empty section has no rows in CSV nor a table in HTML
            assert [{k: row[k] for k in expected[0]} for row in in_csv[section]] == expected
            assert [{k: row[k] for k in expected[0]} for row in in_html[section]] == expected


def test_the_report_prints_to_pdf(reports: dict[str, dict[str, str]], folder: Path) -> None:
    """With pdf among the formats, a PDF is printed from the same HTML through headless Chromium."""
    assert "demo-notary" in reports
    assert (folder / "demo-notary.pdf").read_bytes().startswith(b"%PDF-")


def test_one_text_format_goes_to_standard_output(mixed: Mixed, reports: dict[str, dict[str, str]]) -> None:
    """Without --out (and from the index as it stands) the JSON is printed: the same report as the file's."""
    printed = json.loads(report(mixed, "demo-telecom", "json", catch_up=False))
    assert printed["sections"] == json.loads(reports["demo-telecom"]["json"])["sections"]
    assert _summary(printed["sections"])["exchanges"] == len(mixed.outcomes["demo-telecom"])


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_period_is_checked(mixed: Mixed) -> None:
    """A period that ends before it starts is refused before anything is read."""
    args = argparse.Namespace(
        agency="demo-bank", first="2026-02-02", last="2026-02-01", format="json", out=None
    )
    with pytest.raises(Exception, match="ends"):
        run_report(args, mixed.deployment.settings, io.StringIO())


def test_a_tampered_audit_topic_is_stated_in_the_report(mixed: Mixed, folder: Path) -> None:
    """After an altered copy of a record is written to the audit topic, the report says the chain failed.

    Last in the module: the deployment's chain stays broken afterwards.
    """
    deployment = mixed.deployment
    kafka, topic, codec = deployment.settings.kafka, deployment.names.audit, deployment.codec
    records = read_to_end(kafka, topic, 60)
    original = records[len(records) // 2]
    altered = dataclasses.replace(codec.decode_audit(original.value), personal_id="001099999999")
    producer = Producer({**client_config(kafka), "enable.idempotence": True})
    producer.produce(topic, codec.encode_audit(altered), key=original.key, partition=original.partition)
    assert producer.flush(30) == 0
    printed = report(mixed, altered.agency, "html,json", folder / "tampered")
    assert f"{altered.agency}: {len(mixed.outcomes[altered.agency])} exchanges, chain NOT VERIFIED" in printed
    page = (folder / "tampered.html").read_text(encoding="utf-8")
    assert 'class="verdict failed"' in page and "VERIFICATION FAILED" in page
    assert f"partition {original.partition}: CHANGED at offset" in page
    summary = _summary(json.loads((folder / "tampered.json").read_text(encoding="utf-8"))["sections"])
    assert summary["chain_verified"] is False
