"""The real services on the secured broker, each as its own principal with only its own ACLs.

The registry user loads the catalogues and the agencies, the resolver and the audit consumer run as
``dancu-resolver`` and ``dancu-audit``, and the sample bank asks with the credentials step 10 issued.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.security import (
    revoke_agency_credentials,
)
from dancu_bus.agencies import Agency, Category, FocalPoint, Purpose, StepRecord
from dancu_bus.codec import load_schemas
from dancu_bus.contracts import Operation, ResponseStatus
from dancu_bus.demo import read_audit
from dancu_bus.errors import RefusedChange
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import Client, ClientConfig, Context, Verdict, VerifyQuery
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames
from tests.contexts import KYC
from tests.integration.secured_stack import SecuredStack, login, running_secured_stack
from tests.keys import sdk_keys

pytestmark = [pytest.mark.security, pytest.mark.timeout(240)]

BANK = "demo-bank"


@pytest.fixture(scope="module")
def services(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """One secured deployment with the real services for this module."""
    with running_secured_stack(secure_kafka, tmp_path_factory.mktemp("secure-services"), [BANK]) as running:
        yield running


def test_real_services_serve_and_audit_a_request_as_their_own_principals(services: SecuredStack) -> None:
    """The bank's VERIFY is answered by dancu-resolver and recorded by dancu-audit, with only their ACLs."""
    person = services.people[0]
    with Client(ClientConfig(BANK, services.logins[BANK], timeout_s=60, answer_keys=sdk_keys(BANK))) as bank:
        request = bank.build(VerifyQuery(person.personal_id, person.full_name, person.birth_date), KYC)
        answer = bank.request(request)
    assert answer.status is ResponseStatus.OK and answer.verify is not None
    assert answer.verify.verdict is Verdict.MATCH
    records = read_audit(services.admin.kafka, platform_codec(), [request.request_id])
    assert [r.request_id for r in records] == [request.request_id]


def _newcomer() -> Agency:
    purpose = Purpose(
        legal_basis="Luật Công chứng 2024, Điều 42",
        operations=frozenset({Operation.VERIFY}),
        fields=frozenset({"full_name", "birth_date"}),
    )
    return Agency(
        id="new-notary",
        name="Văn phòng công chứng Mới",
        code="000.00.00.H77",
        category=Category.NOTARY_OR_BAILIFF,
        focal_point=FocalPoint(
            name="Vũ Thị Lan",
            position="Trưởng văn phòng",
            phone="+84 24 3999 7777",
            email="lan.vt@new-notary.vn",
        ),
        readiness="Sẵn sàng kết nối",
        operations=frozenset({Operation.VERIFY}),
        purposes={"NOTARISATION": purpose},
    )


def _record_steps(admin: AgencyAdmin, steps: range) -> None:
    for step in steps:
        confirmations = ("INFOSEC_LEVEL", "PERSONAL_DATA_PROTECTION") if step == 6 else ()
        record = StepRecord(
            step=step,
            document_ref=f"CV-{step}/2026",
            on=date(2026, 11, step),
            by="can-bo-c06",
            confirmations=confirmations,
        )
        admin.record_step("new-notary", record)


def test_step_ten_refused_until_steps_one_to_nine_then_the_new_agency_verifies(
    services: SecuredStack,
) -> None:
    """Step 10 lists the missing steps; after steps 1–9 it issues credentials that complete a VERIFY."""
    admin = AgencyAdmin(services.admin.kafka, RegistryCodec(load_schemas(OPERATIONS)))
    admin.register(_newcomer(), "CV-0/2026", "can-bo-c06")
    _record_steps(admin, range(1, 6))
    with pytest.raises(RefusedChange) as refused:
        admin.issue("new-notary", "QD-10/2026", "cuc-truong")
    assert all(f"step {n}:" in str(refused.value) for n in (6, 7, 8, 9))
    _record_steps(admin, range(6, 10))
    issued = admin.issue("new-notary", "QD-10/2026", "cuc-truong")
    assert issued.secret is not None
    time.sleep(1.0)  # the issue's bound for a registry change to reach running resolvers
    notary_login = login(services.admin.kafka, "new-notary", issued.secret)
    person = services.people[0]
    with Client(ClientConfig("new-notary", notary_login, timeout_s=60)) as notary:
        answer = notary.verify(
            VerifyQuery(person.personal_id, person.full_name, person.birth_date),
            Context("ccv-1", "CC-2026-1", "NOTARISATION", "Luật Công chứng 2024, Điều 42"),
        )
    assert answer.ok and answer.verdict is Verdict.MATCH
    revoke_agency_credentials(
        services.admin.kafka, TopicNames(services.admin.kafka.topic_prefix), "new-notary"
    )
