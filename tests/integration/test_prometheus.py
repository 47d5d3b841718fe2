"""A real Prometheus scraping a real resolver, audit consumer and channel adapters: the metrics, rules and
dashboards hold.

One stack per module: topics under a fresh prefix on the test broker, a seeded SQLite store, the resolver,
the audit consumer and the SMS and portal adapters as child processes (``faults.Stage``), Prometheus
with the project's scrape config and rules aimed at them. A known mix of requests goes through
(answered, refused, not found, and one record that is no request at all; an SMS asking for help and a
portal request refused, which neither adapter needs the resolver for); then every recording rule and
every dashboard panel's expression is evaluated against that Prometheus, and every metric they name
must be on the processes' /metrics.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from dancu_bus.admin.config import client_config
from dancu_bus.audit.indexer import IndexOptions, run_index
from dancu_bus.dashboards import expressions, instantiate, load
from dancu_bus.faults.stage import AGENCIES, Stage, prepare_stage
from dancu_bus.operations import OPERATIONS
from dancu_bus.portal import PORTAL_REQUEST, AccountType, HistoryAsk, PortalRequest, Service, request_record
from dancu_bus.sdk import Context, VerifyQuery
from dancu_bus.sdk.requests import build_request
from dancu_bus.settings import AuditIndexSettings, KafkaSettings, Settings
from dancu_bus.sms import Mo, SmsWire
from dancu_bus.status.prometheus import status_from_prometheus
from tests.metric_names import dancu_names_in
from tests.prometheus_fixture import DEPLOY, Prometheus, prometheus_factory, scrape_config  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
ANSWERED, REFUSED, NOT_FOUND = 20, 3, 2
# The mix goes twice, a few scrapes apart: a counter's series starts at its first value, so only what
# comes after a first scrape is a rate (and the ratios of the rules divide by rates).
WAVES = 2
SENT = WAVES * (ANSWERED + REFUSED + NOT_FOUND)


@dataclass
class Stack:
    stage: Stage
    prometheus: Prometheus
    ports: dict[str, int]


@pytest.fixture(scope="module")
def stage(kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """The resolver and the audit consumer running on the test broker, under a prefix of their own
    (``DANCU_TEST_KEEP_STAGE=1`` keeps its folder, with the services' logs, for a look afterwards)."""
    running = prepare_stage(Settings(), kafka_settings, tmp_path_factory.mktemp("prometheus"))
    prefix = running.kafka.topic_prefix
    index = running.workdir / "audit-index.sqlite3"
    running.environment |= {
        "DANCU_LAG_INTERVAL_S": "1",
        "DANCU_SMS__GROUP_ID": f"sms.{prefix}",
        "DANCU_PORTAL__GROUP_ID": f"portal.{prefix}",
        "DANCU_AUDIT_INDEX__PATH": str(index),
    }
    try:
        running.start("resolver")
        running.start("audit")
        # The portal reads the audit index: made (empty) before it starts.
        indexing = running.settings.model_copy(update={"audit_index": AuditIndexSettings(path=index)})
        asyncio.run(run_index(indexing, running.codec, IndexOptions(once=True, timeout_s=30)))
        running.start("sms")
        running.start("portal")
        yield running
    finally:
        running.tear_down(keep_workdir=os.environ.get("DANCU_TEST_KEEP_STAGE") == "1")


@pytest.fixture(scope="module")
def stack(stage: Stage, prometheus_factory: Callable[[Mapping[str, Any]], Prometheus]) -> Stack:  # noqa: F811
    ports = {s.name: s.port for s in stage.services}
    targets = {f"dancu-{name}": [f"127.0.0.1:{port}"] for name, port in ports.items()}
    prometheus = prometheus_factory(scrape_config(targets))
    prometheus.wait_for('count(up{job=~"dancu-.*"} == 1)', lambda v: v == len(targets))
    for wave in range(WAVES):
        _send_the_mix(stage)
        prometheus.wait_for("sum(dancu_resolver_requests_total)", _equal((wave + 1) * SENT // WAVES))
        prometheus.wait_for("sum(dancu_sms_messages_total)", _equal(wave + 1))
        prometheus.wait_for("sum(dancu_portal_answers_total)", _equal(wave + 1))
    prometheus.wait_for("sum(dancu_audit_records_total)", lambda v: v == SENT)
    # Three samples of the last series to appear (the audit's, the lag's), so that every rate has points.
    for series in (
        "dancu_resolver_requests_total",
        "dancu_audit_records_total",
        "dancu_consumergroup_group_lag",
    ):
        prometheus.wait_for(f"min(count_over_time({series}[1m]))", lambda v: (v or 0) >= 3)
    return Stack(stage, prometheus, ports)


def _equal(expected: float) -> Callable[[float | None], bool]:
    return lambda value: value == expected


def _send_the_mix(stage: Stage) -> None:
    """Answered VERIFYs, refused ones (a purpose not registered), NOT_FOUNDs and one undecodable record."""
    records = stage.requests(ANSWERED)
    agency, context = next(iter(AGENCIES.items()))
    stranger = Context(context.officer_id, context.case_no, "NO-SUCH-PURPOSE", context.legal_basis)
    person = stage.people[0]
    for n in range(REFUSED + NOT_FOUND):
        if n < REFUSED:
            query, asking = VerifyQuery(person.personal_id, person.full_name, person.birth_date), stranger
        else:
            unknown = person.personal_id[:6] + f"{999_990 + n:06d}"
            query, asking = VerifyQuery(unknown, person.full_name, person.birth_date), context
        request = build_request(agency, asking, query, 3600, OPERATIONS)
        records.append(
            (stage.names.request(agency), request.request_id.encode(), stage.codec.encode_request(request))
        )
    records.append((stage.names.request(agency), b"not-a-request", b"\x00 not avro"))  # a dead letter
    records += _channel_records(stage)
    producer = Producer(client_config(stage.kafka))
    for topic, key, value in records:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def _channel_records(stage: Stage) -> list[tuple[str, bytes, bytes]]:
    """An SMS asking for help, a portal history asked at level 1 (refused), one portal record of garbage."""
    now = datetime.now(UTC)
    sender = "84900000009"
    mo = Mo(f"gw-{uuid.uuid4().hex[:12]}", sender, "8088", "DC HELP", now)
    person = stage.people[0].personal_id
    ask = HistoryAsk(now - timedelta(days=1), now, None, 10)
    history = PortalRequest(
        str(uuid.uuid4()),
        "s-prometheus",
        AccountType.VNEID,
        1,
        person,
        Service.ACCESS_HISTORY,
        person,
        ask,
        now,
    )
    portal = stage.codec.schemas.encode(PORTAL_REQUEST, request_record(history))
    return [
        (stage.names.sms_mo, sender.encode(), SmsWire(stage.codec.schemas).encode_mo(mo)),
        (stage.names.portal_req, b"s-prometheus", portal),
        (stage.names.portal_req, b"s-garbage", b"\x00 not avro"),  # the portal's dead letter
    ]


def _metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return text


def _exposed_families(stack: Stack) -> set[str]:
    """Every family a running process declares on /metrics (its HELP line, samples or not)."""
    families = set()
    for port in stack.ports.values():
        families |= {_family(n) for n in re.findall(r"^# HELP (\w+) ", _metrics_text(port), re.MULTILINE)}
    return families


def _recording_rules() -> list[tuple[str, str]]:
    rules = []
    for path in sorted((DEPLOY / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += [(rule["record"], rule["expr"]) for rule in group["rules"] if "record" in rule]
    return rules


def _alert_expressions() -> list[tuple[str, str]]:
    alerts = []
    for path in sorted((DEPLOY / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            alerts += [(rule["alert"], rule["expr"]) for rule in group["rules"] if "alert" in rule]
    return alerts


def _panel_expressions() -> list[tuple[str, str]]:
    """(dashboard: panel, expression) of every query of every committed dashboard, its variables filled
    in as Grafana would (``dancu_bus.dashboards.TEMPLATE_VALUES``)."""
    boards = load(ROOT / "deploy" / "grafana").values()
    return [
        (f"{e.dashboard}: {e.panel}", instantiate(e.expr)) for board in boards for e in expressions(board)
    ]


def _family(series: str) -> str:
    """A series' family, without the suffixes the exposition adds (HELP names a counter with ``_total``)."""
    return re.sub(r"_(bucket|sum|count|total|created)$", "", series)


def _families_named(expression: str) -> set[str]:
    """The families of the project's series an expression reads."""
    return {_family(name) for name in dancu_names_in(expression)}


def test_prometheus_counts_every_request_the_resolver_answered(stack: Stack) -> None:
    assert stack.prometheus.value("sum(dancu_resolver_requests_total)") == SENT
    refused = 'sum(dancu_resolver_requests_total{status="REJECTED",reason="PURPOSE_NOT_REGISTERED"})'
    assert stack.prometheus.value(refused) == WAVES * REFUSED
    assert (stack.prometheus.value('sum(dancu_resolver_answers_total{verdict="NOT_FOUND"})') or 0) >= 1
    assert stack.prometheus.value("sum(dancu_resolver_dead_letters_total)") == WAVES
    # Timed once committed: the admitted ones (a refused purpose is refused before admission).
    timed = WAVES * (ANSWERED + NOT_FOUND)
    assert stack.prometheus.value("sum(dancu_resolver_end_to_end_seconds_count)") == timed
    assert stack.prometheus.value('min(dancu_ready{job=~"dancu-.*"})') == 1


def test_the_rules_load_and_every_recording_rule_returns_a_series(stack: Stack) -> None:
    loaded = stack.prometheus.rules()
    broken = [(r["name"], r.get("lastError")) for r in loaded if r.get("health") == "err"]
    assert not broken, broken
    rules = _recording_rules()
    assert rules, "no recording rules in deploy/prometheus/rules"
    empty = [record for record, expression in rules if not stack.prometheus.query(expression)]
    assert not empty, f"recording rules with no series against a live stack: {empty}"
    for _alert, expression in _alert_expressions():
        stack.prometheus.query(expression)  # evaluates without error (firing or not)


def test_every_dashboard_expression_evaluates_and_returns_a_series(stack: Stack) -> None:
    panels = _panel_expressions()
    assert len(panels) >= 20, f"only {len(panels)} panel queries in deploy/grafana"
    empty = [where for where, expression in panels if not stack.prometheus.query(expression)]
    assert not empty, f"panels with no series against a live stack: {empty}"


def test_every_metric_a_rule_or_dashboard_names_is_on_the_processes_metrics(stack: Stack) -> None:
    exposed = _exposed_families(stack)
    expressions = [e for _, e in _recording_rules() + _alert_expressions() + _panel_expressions()]
    named = set().union(*(_families_named(e) for e in expressions))
    missing = sorted(named - exposed)
    assert not missing, f"named in rules or dashboards, missing from /metrics: {missing}"


def test_the_lag_and_the_audit_backlog_are_measured(stack: Stack) -> None:
    prometheus = stack.prometheus
    group = stack.stage.settings.resolver.group_id
    assert prometheus.value(f'sum(dancu_consumergroup_group_lag{{group="{group}"}})') is not None
    # Everything was answered and audited: nothing waits for the log once the lag has been read again.
    prometheus.wait_for("max(dancu_audit_backlog_exchanges)", lambda v: v == 0)
    assert prometheus.value("max(dancu_audit_backlog_oldest_seconds)") == 0
    views = {r["metric"]["view"] for r in prometheus.query("dancu_view_caught_up_timestamp_seconds")}
    assert "registry" in views


def test_status_reads_the_same_stack_from_prometheus_and_from_the_processes(stack: Stack) -> None:
    stack.prometheus.wait_for("max(dancu_audit_backlog_exchanges)", lambda v: v == 0)
    from_prometheus = status_from_prometheus(stack.prometheus.url, window="1m")
    assert from_prometheus.ok, from_prometheus.as_json()
    assert {str(p.service) for p in from_prometheus.processes} == {"resolver", "audit"}
    assert from_prometheus.audit_backlog.exchanges == 0
    groups = {stack.stage.settings.resolver.group_id, stack.stage.settings.audit.group_id}
    assert groups <= set(from_prometheus.lag)
    resolver, audit = (f"127.0.0.1:{stack.ports[name]}" for name in ("resolver", "audit"))
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "dancu_bus.cli.main",
            "status",
            "--once",
            "--json",
            "--resolver",
            resolver,
            "--audit",
            audit,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    direct = json.loads(ran.stdout)
    assert direct["ok"] and [p["ready"] for p in direct["processes"]] == [True, True]
    assert direct["lag"].keys() == from_prometheus.as_json()["lag"].keys()
