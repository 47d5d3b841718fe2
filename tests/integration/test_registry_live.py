"""The registry on a real broker: changes reach the running resolver without a restart."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from collections.abc import Iterator

import pytest

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.cli.audit import run_trail
from dancu_bus.cli.main import build_parser
from dancu_bus.codec import load_schemas
from dancu_bus.contracts import Response, ResponseStatus
from dancu_bus.demo import read_audit
from dancu_bus.errors import RefusedChange
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import Client, ClientConfig, Context, VerifyQuery
from dancu_bus.settings import KafkaSettings
from tests.contexts import NOTARY
from tests.contexts import PUBLIC_SERVICE as SERVICE
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sdk_keys

pytestmark = pytest.mark.timeout(300)

# The bound for a registry change to reach running resolvers.
PROPAGATION_S = 1.0


@pytest.fixture(scope="module")
def deployment(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One running deployment (registry-backed) for this module."""
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("registry")) as running:
        yield running


def ask(client: Client, deployment: Deployment, context: Context, count: int = 3) -> list[Response]:
    person = deployment.people[5]
    requests = [
        client.build(VerifyQuery(person.personal_id, person.full_name), context) for _ in range(count)
    ]
    return list(client.send_requests(requests))


def test_suspension_takes_effect_without_restart_and_is_audited(deployment: Deployment) -> None:
    """Requests made a second after a suspension are answered SUSPENDED and audited; after resume, served."""
    admin = AgencyAdmin(deployment.settings.kafka, RegistryCodec(load_schemas(OPERATIONS)))
    config = ClientConfig(
        "demo-province", deployment.settings.kafka, timeout_s=30, answer_keys=sdk_keys("demo-province")
    )
    with Client(config, deployment.codec) as province:
        assert {r.status for r in ask(province, deployment, SERVICE)} == {ResponseStatus.OK}
        admin.suspend("demo-province", "kiểm tra tuân thủ", "QD-SUSPEND-1", "integration-tests")
        time.sleep(PROPAGATION_S)
        suspended = ask(province, deployment, SERVICE)
        admin.resume("demo-province", "QD-RESUME-1", "integration-tests")
        time.sleep(PROPAGATION_S)
        served = ask(province, deployment, SERVICE)
    assert {(r.status, r.reason_code) for r in suspended} == {(ResponseStatus.REJECTED, "SUSPENDED")}
    assert all(r.message_en and "kiểm tra tuân thủ" in r.message_en for r in suspended)
    assert {r.status for r in served} == {ResponseStatus.OK}
    audits = read_audit(deployment.settings.kafka, deployment.codec, [r.request_id for r in suspended])
    assert [(a.status, a.reason_code) for a in audits] == [("REJECTED", "SUSPENDED")] * len(suspended)
    history = [c.action for c in admin.get("demo-province").history]
    assert history[-2:] == ["SUSPEND", "RESUME"]


def test_quota_exceeded_beyond_the_agencys_rate(deployment: Deployment) -> None:
    """An agency allowed 5 requests per second gets QUOTA_EXCEEDED for a burst of 20, and some are served."""
    config = ClientConfig("demo-notary", deployment.settings.kafka, timeout_s=30)
    with Client(config, deployment.codec) as notary:
        responses = ask(notary, deployment, NOTARY, count=20)
    reasons = [r.reason_code for r in responses]
    assert reasons.count(None) >= 5
    assert reasons.count("QUOTA_EXCEEDED") >= 10


def test_agency_trail_merges_registry_changes_and_exchanges(deployment: Deployment) -> None:
    """`audit trail` shows an agency's suspension, its SUSPENDED refusals and the resumption, in order."""
    admin = AgencyAdmin(deployment.settings.kafka, RegistryCodec(load_schemas(OPERATIONS)))
    config = ClientConfig(
        "demo-province", deployment.settings.kafka, timeout_s=30, answer_keys=sdk_keys("demo-province")
    )
    with Client(config, deployment.codec) as province:
        admin.suspend("demo-province", "thanh tra", "QD-SUSPEND-2", "thanh-tra")
        time.sleep(PROPAGATION_S)
        refused = ask(province, deployment, SERVICE, count=1)[0]
        admin.resume("demo-province", "QD-RESUME-2", "thanh-tra")
    read_audit(deployment.settings.kafka, deployment.codec, [refused.request_id])  # waits until it is audited
    out = io.StringIO()
    run_trail(argparse.Namespace(agency="demo-province", timeout=60.0), deployment.settings, out)
    lines = out.getvalue().splitlines()
    suspended = next(i for i, line in enumerate(lines) if "SUSPEND by thanh-tra under QD-SUSPEND-2" in line)
    refusal = next(i for i, line in enumerate(lines) if "REJECTED SUSPENDED" in line and i > suspended)
    resumed = next(i for i, line in enumerate(lines) if "RESUME by thanh-tra under QD-RESUME-2" in line)
    assert suspended < refusal < resumed


def agency_cli(deployment: Deployment, *argv: str) -> str:
    """Run one ``dancu-bus agency …`` verb against the deployment's broker; what it printed."""
    args = build_parser().parse_args(["agency", *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.run(args, deployment.settings) == 0
    return out.getvalue()


@pytest.mark.audit
def test_usage_report_request_and_answer_are_read_back_in_agency_show(deployment: Deployment) -> None:
    """`usage-request` and `usage-answer` are registry events read back in `agency show`; service goes on."""
    document = f"CV-USAGE-{time.time_ns()}"  # the module's deployment is shared: find this test's own entries
    agency_cli(
        deployment,
        "usage-request",
        "demo-province",
        "--reason",
        "thanh tra định kỳ",
        "--document",
        document,
        "--by",
        "cuc-c06",
    )
    config = ClientConfig(
        "demo-province", deployment.settings.kafka, timeout_s=30, answer_keys=sdk_keys("demo-province")
    )
    time.sleep(PROPAGATION_S)
    with Client(config, deployment.codec) as province:
        assert [r.status for r in ask(province, deployment, SERVICE, count=1)] == [ResponseStatus.OK]
    answered = agency_cli(
        deployment, "usage-answer", "demo-province", "--document", "BC-USAGE-1", "--by", "demo-province"
    )
    assert f"answers {document}" in answered
    with pytest.raises(RefusedChange, match="no open usage-report request"):
        agency_cli(deployment, "usage-answer", "demo-province", "--document", "BC-USAGE-2", "--by", "x")
    shown = json.loads(agency_cli(deployment, "show", "demo-province"))
    (row,) = [r for r in shown["usage_reports"] if r["document_ref"] == document]
    assert (row["state"], row["reason"], row["requested_by"], row["report_ref"], row["days_open"]) == (
        "ANSWERED",
        "thanh tra định kỳ",
        "cuc-c06",
        "BC-USAGE-1",
        0,
    )
    assert shown["status"] == "ACTIVE"
    assert [c["action"] for c in shown["history"][-2:]] == ["USAGE_REPORT_REQUEST", "USAGE_REPORT_ANSWER"]
