"""Admission of requests: every reason code, from a table of cases, with no broker."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import timedelta
from itertools import product

import pytest

from dancu_bus.agencies import Agency, AgencyStatus, FileAgencyDirectory, Purpose
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    VERIFIABLE_FIELDS,
    LookupQuery,
    Operation,
    Request,
    VerifyQuery,
)
from dancu_bus.reasons import MESSAGES, Reason
from dancu_bus.resolver import Admission, Admitted, Rejection
from tests.keys import keyed
from tests.unit import samples

NOW = samples.SENT + timedelta(seconds=1)
BASIS = samples.VERIFY_REQUEST.legal_basis
PURPOSES = {
    "KYC": Purpose(
        legal_basis=BASIS,
        operations=frozenset({Operation.VERIFY}),
        fields=frozenset({"full_name", "birth_date", "sex", "permanent_address"}),
    ),
    "NAME-ONLY": Purpose(
        legal_basis=BASIS, operations=frozenset({Operation.LOOKUP}), fields=frozenset({"full_name"})
    ),
}


def directory(status: AgencyStatus = AgencyStatus.ACTIVE) -> FileAgencyDirectory:
    bank = keyed(
        Agency(
            id="demo-bank",
            name="Bank",
            status=status,
            operations=frozenset({Operation.VERIFY, Operation.LOOKUP}),
            purposes=PURPOSES,
        )
    )
    return FileAgencyDirectory({"demo-bank": bank})


def request(**changes: object) -> Request:
    return dataclasses.replace(samples.VERIFY_REQUEST, **changes)  # type: ignore[arg-type]


def lookup(fields: tuple[str, ...], purpose: str = "NAME-ONLY", **body: object) -> Request:
    query = LookupQuery("001090012345", fields, **body)  # type: ignore[arg-type]
    return request(operation="LOOKUP", purpose_code=purpose, body=query)


CASES = [
    ("unknown agency", request(agency="nobody"), "nobody", Reason.UNKNOWN_AGENCY),
    ("body claims another agency", request(agency="other-bank"), "demo-bank", Reason.AGENCY_MISMATCH),
    ("expired", request(expires_at=samples.SENT), "demo-bank", Reason.EXPIRED),
    ("unknown operation", request(operation="TRANSFER"), "demo-bank", Reason.UNKNOWN_OPERATION),
    ("operation not allowed", request(operation="SEARCH"), "demo-bank", Reason.OPERATION_NOT_ALLOWED),
    ("operation not registered", request(operation="ERASE"), "demo-bank", Reason.UNKNOWN_OPERATION),
    ("missing purpose", request(purpose_code=""), "demo-bank", Reason.PURPOSE_MISSING),
    ("blank purpose", request(purpose_code="  "), "demo-bank", Reason.PURPOSE_MISSING),
    ("purpose not registered", request(purpose_code="MARKETING"), "demo-bank", Reason.PURPOSE_NOT_REGISTERED),
    (
        "purpose of another operation",
        request(purpose_code="NAME-ONLY"),
        "demo-bank",
        Reason.PURPOSE_NOT_REGISTERED,
    ),
    (
        "legal basis not the registered one",
        request(legal_basis="x"),
        "demo-bank",
        Reason.LEGAL_BASIS_MISMATCH,
    ),
    ("legal basis empty", request(legal_basis=""), "demo-bank", Reason.LEGAL_BASIS_MISMATCH),
    ("officer empty", request(officer_id=" "), "demo-bank", Reason.INVALID_OFFICER_ID),
    ("officer too long", request(officer_id="x" * 65), "demo-bank", Reason.INVALID_OFFICER_ID),
    (
        "officer with a control character",
        request(officer_id="a\x1bb"),
        "demo-bank",
        Reason.INVALID_OFFICER_ID,
    ),
    ("case with a bidi override", request(case_no="HS-\u202e1"), "demo-bank", Reason.INVALID_CASE_NO),
    ("case of a megabyte", request(case_no="9" * 1_000_000), "demo-bank", Reason.INVALID_CASE_NO),
    ("purpose code with a newline", request(purpose_code="KYC\n"), "demo-bank", Reason.INVALID_PURPOSE_CODE),
    ("operation of a megabyte", request(operation="V" * 1_000_000), "demo-bank", Reason.UNKNOWN_OPERATION),
    (
        "sent long before it arrived",
        request(sent_at=NOW - timedelta(hours=1)),
        "demo-bank",
        Reason.CLOCK_SKEW,
    ),
    ("sent in the future", request(sent_at=NOW + timedelta(hours=1)), "demo-bank", Reason.CLOCK_SKEW),
    (
        "valid for a year",
        request(expires_at=NOW + timedelta(days=365)),
        "demo-bank",
        Reason.LIFETIME_TOO_LONG,
    ),
    ("nothing to verify", request(body=VerifyQuery("001090012345")), "demo-bank", Reason.NOTHING_TO_VERIFY),
    ("no body", request(body=None), "demo-bank", Reason.MALFORMED_REQUEST),
    (
        "lookup body on verify",
        request(body=LookupQuery("001090012345")),
        "demo-bank",
        Reason.MALFORMED_REQUEST,
    ),
    (
        "short personal id",
        request(body=VerifyQuery("00109001234", "A")),
        "demo-bank",
        Reason.INVALID_PERSONAL_ID,
    ),
    (
        "letters in personal id",
        request(body=VerifyQuery("00109001234X", "A")),
        "demo-bank",
        Reason.INVALID_PERSONAL_ID,
    ),
    (
        "unknown province",
        request(body=VerifyQuery("003090012345", "A")),
        "demo-bank",
        Reason.INVALID_PERSONAL_ID,
    ),
    (
        "verify field out of scope",
        request(body=VerifyQuery("001090012345", phone="0912345678")),
        "demo-bank",
        Reason.FIELD_OUT_OF_SCOPE,
    ),
    ("lookup field out of scope", lookup(("religion",)), "demo-bank", Reason.FIELD_OUT_OF_SCOPE),
    ("lookup unknown field", lookup(("salary",)), "demo-bank", Reason.UNKNOWN_FIELD),
    (
        "lookup unserved scheme",
        lookup(("full_name",), address_scheme="DVHC-1999"),
        "demo-bank",
        Reason.INVALID_CODE,
    ),
]


@pytest.mark.parametrize(("case", "req", "topic_agency", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rejections(case: str, req: Request, topic_agency: str, reason: Reason) -> None:
    """Each non-compliant request is rejected with its own reason code."""
    decision = Admission(directory()).check(req, topic_agency, NOW)
    assert isinstance(decision, Rejection), case
    assert decision.reason is reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [(AgencyStatus.SUSPENDED, Reason.SUSPENDED), (AgencyStatus.TERMINATED, Reason.TERMINATED)],
)
def test_agency_status_rejects(status: AgencyStatus, reason: Reason) -> None:
    """A suspended or terminated agency's requests are refused with that status."""
    decision = Admission(directory(status)).check(request(), "demo-bank", NOW)
    assert isinstance(decision, Rejection)
    assert decision.reason is reason


def test_rejection_details_never_echo_hostile_text_unbounded() -> None:
    """A refusal quotes a hostile value escaped and cut: no control characters, bounded length."""
    for field, reason in (("officer_id", "INVALID_OFFICER_ID"), ("operation", "UNKNOWN_OPERATION")):
        decision = Admission(directory()).check(request(**{field: "\x1b[2J" * 100_000}), "demo-bank", NOW)
        assert isinstance(decision, Rejection) and decision.reason == reason
        assert len(decision.detail) < 300 and "\x1b" not in decision.detail


def test_the_legal_basis_matches_whatever_its_case_spacing_and_unicode_form() -> None:
    """The registered legal basis typed in capitals, decomposed, with extra spaces, is the same one."""
    typed = unicodedata.normalize("NFD", "  " + BASIS.upper().replace(" ", "   "))
    assert isinstance(Admission(directory()).check(request(legal_basis=typed), "demo-bank", NOW), Admitted)


def test_the_clock_is_the_brokers_time_of_the_record() -> None:
    """sent_at is compared with when the broker received the record, not with when it is handled."""
    late = NOW + timedelta(minutes=30)
    decision = Admission(directory()).check(
        request(expires_at=late + timedelta(minutes=1)), "demo-bank", late, received_at=NOW
    )
    assert isinstance(decision, Admitted)


def test_compliant_verify_is_admitted_with_its_purpose() -> None:
    """A request within its purpose is admitted and carries the purpose's scope."""
    decision = Admission(directory()).check(request(), "demo-bank", NOW)
    assert isinstance(decision, Admitted)
    assert decision.purpose is PURPOSES["KYC"]


SCOPE_CASES = [
    *product(["VERIFY"], list(PURPOSES), VERIFIABLE_FIELDS),
    *product(["LOOKUP"], list(PURPOSES), DISCLOSABLE_FIELDS),
]


@pytest.mark.parametrize(("operation", "purpose", "field"), SCOPE_CASES)
def test_scope_table(operation: str, purpose: str, field: str) -> None:
    """Over operations × purposes × fields, a field is admitted only if the purpose covers both."""
    if operation == "LOOKUP":
        req = lookup((field,), purpose)
    else:
        # Valid catalogue codes, so that only the scope decides.
        value: object = {"permanent_address": samples.ADDRESS, "sex": "1", "ethnic_group": "01"}.get(
            field, "x"
        )
        req = request(purpose_code=purpose, body=VerifyQuery("001090012345", **{field: value}))  # type: ignore[arg-type]
    decision = Admission(directory()).check(req, "demo-bank", NOW)
    registered = Operation(operation) in PURPOSES[purpose].operations
    allowed = registered and field in PURPOSES[purpose].fields
    assert isinstance(decision, Admitted) is allowed


def test_every_reason_has_both_languages() -> None:
    """Every reason code has a Vietnamese and an English message (Art. 14.1.a)."""
    assert set(MESSAGES) == set(Reason)
    assert all(m.vi and m.en and m.vi != m.en for m in MESSAGES.values())
