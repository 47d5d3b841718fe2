"""Requests hidden from the citizen: who may mark one, until when, on what basis; audited."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from dancu_bus.agencies import Agency, FileAgencyDirectory, Purpose
from dancu_bus.audit.witness import SeenRequest, request_half
from dancu_bus.contracts import LookupQuery, Operation, Request
from dancu_bus.reasons import MESSAGES, Reason
from dancu_bus.resolver import Admission, AdmissionLimits, Admitted, Rejection
from dancu_bus.sdk import Context
from dancu_bus.sdk.requests import build_request
from dancu_bus.transport.records import TopicPartition
from tests.keys import keyed
from tests.unit import samples

NOW = samples.SENT + timedelta(seconds=1)
BASIS = "Bộ luật Tố tụng hình sự 2015, Điều 88"
HIDING_BASIS = "Quyết định khởi tố vụ án số 12/QĐ-CSĐT"
PURPOSES = {
    "INVESTIGATION": Purpose(
        legal_basis=BASIS,
        operations=frozenset({Operation.LOOKUP}),
        fields=frozenset({"full_name"}),
        may_hide_from_citizen=True,
    ),
    "PUBLIC-SERVICE": Purpose(
        legal_basis=BASIS, operations=frozenset({Operation.LOOKUP}), fields=frozenset({"full_name"})
    ),
}
DIRECTORY = FileAgencyDirectory(
    {
        "police": keyed(
            Agency(id="police", name="Police", operations=frozenset({Operation.LOOKUP}), purposes=PURPOSES)
        )
    }
)
ADMISSION = Admission(DIRECTORY)


def hidden(purpose: str = "INVESTIGATION", **changes: object) -> Request:
    """A LOOKUP by the police for ``purpose``, hidden for 90 days unless ``changes`` say otherwise."""
    request = Request(
        request_id="9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
        agency="police",
        officer_id="dtv-0007",
        case_no="VA-2026-0042",
        purpose_code=purpose,
        legal_basis=BASIS,
        operation="LOOKUP",
        sent_at=samples.SENT,
        expires_at=samples.EXPIRES,
        body=LookupQuery("001090012345", ("full_name",)),
        hidden_until=NOW + timedelta(days=90),
        hiding_legal_basis=HIDING_BASIS,
    )
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


REFUSALS = [
    ("purpose may not hide", hidden("PUBLIC-SERVICE"), Reason.HIDING_NOT_ALLOWED),
    (
        "basis alone, purpose may not hide",
        hidden("PUBLIC-SERVICE", hidden_until=None),
        Reason.HIDING_NOT_ALLOWED,
    ),
    ("until in the past", hidden(hidden_until=NOW - timedelta(days=1)), Reason.INVALID_HIDDEN_UNTIL),
    ("until now", hidden(hidden_until=NOW), Reason.INVALID_HIDDEN_UNTIL),
    (
        "until beyond a year and a day",
        hidden(hidden_until=NOW + timedelta(days=367)),
        Reason.INVALID_HIDDEN_UNTIL,
    ),
    ("a legal basis without a date", hidden(hidden_until=None), Reason.INVALID_HIDDEN_UNTIL),
    ("a date without a legal basis", hidden(hiding_legal_basis=None), Reason.INVALID_HIDING_LEGAL_BASIS),
    ("an empty legal basis", hidden(hiding_legal_basis="   "), Reason.INVALID_HIDING_LEGAL_BASIS),
    ("a legal basis too long", hidden(hiding_legal_basis="x" * 301), Reason.INVALID_HIDING_LEGAL_BASIS),
    (
        "an unprintable legal basis",
        hidden(hiding_legal_basis="Điều\u202e 88"),
        Reason.INVALID_HIDING_LEGAL_BASIS,
    ),
]


@pytest.mark.parametrize(("case", "request_", "reason"), REFUSALS, ids=[c[0] for c in REFUSALS])
def test_a_hiding_mark_out_of_bounds_is_refused_with_its_own_reason(
    case: str, request_: Request, reason: Reason
) -> None:
    """Each mark the purpose does not allow, or with a bad date or legal basis, gets a specific reason."""
    decision = ADMISSION.check(request_, "police", NOW)
    assert isinstance(decision, Rejection), case
    assert decision.reason is reason
    assert len(decision.detail) < 300 and "\u202e" not in decision.detail


def test_an_investigation_may_hide_its_request_within_the_bounds() -> None:
    """A purpose that may hide admits a request hidden up to the maximum ahead, with its legal basis."""
    for until in (NOW + timedelta(milliseconds=1), NOW + timedelta(days=90), NOW + timedelta(days=366)):
        decision = ADMISSION.check(hidden(hidden_until=until), "police", NOW, received_at=NOW)
        assert isinstance(decision, Admitted) and decision.purpose.may_hide_from_citizen


def test_an_unhidden_request_is_admitted_whatever_its_purpose() -> None:
    """Without a mark, the hiding rules ask nothing of the request."""
    for purpose in PURPOSES:
        plain = hidden(purpose, hidden_until=None, hiding_legal_basis=None)
        assert isinstance(ADMISSION.check(plain, "police", NOW), Admitted)


def test_the_maximum_hiding_period_is_a_limit_of_admission() -> None:
    """A platform that allows 30 days refuses 31, measured from the broker's time of the record."""
    strict = Admission(DIRECTORY, limits=AdmissionLimits(max_hiding_days=30))
    late = hidden(hidden_until=NOW + timedelta(days=31))
    refusal = strict.check(late, "police", NOW, received_at=NOW)
    assert isinstance(refusal, Rejection) and refusal.reason is Reason.INVALID_HIDDEN_UNTIL
    assert isinstance(strict.check(hidden(hidden_until=NOW + timedelta(days=29)), "police", NOW), Admitted)


def test_the_hiding_reasons_have_both_languages() -> None:
    """The refusals of a hiding mark are worded in Vietnamese and English."""
    for reason in (Reason.HIDING_NOT_ALLOWED, Reason.INVALID_HIDDEN_UNTIL, Reason.INVALID_HIDING_LEGAL_BASIS):
        assert MESSAGES[reason].vi and MESSAGES[reason].en


def test_the_witness_copies_the_mark_into_the_request_half_bounded() -> None:
    """The audit's request half carries the mark's date and legal basis; a hostile basis is cut."""
    seen = SeenRequest("police", "ex-1", hidden(), TopicPartition("ndxp.dancu.req.police", 0), 5, NOW)
    half = request_half(seen)
    assert (half.hidden_until, half.hiding_legal_basis) == (NOW + timedelta(days=90), HIDING_BASIS)
    huge = request_half(dataclasses.replace(seen, request=hidden(hiding_legal_basis="x" * 100_000)))
    assert huge.hiding_legal_basis is not None and len(huge.hiding_legal_basis) < 1000
    plain = request_half(
        dataclasses.replace(seen, request=hidden(hidden_until=None, hiding_legal_basis=None))
    )
    assert (plain.hidden_until, plain.hiding_legal_basis) == (None, None)


def test_the_sdk_puts_the_contexts_mark_on_the_request_and_none_without_it() -> None:
    """A Context with a hiding mark builds requests that carry it; the plain Context builds unmarked ones."""
    plain = Context("dtv-0007", "VA-2026-0042", "INVESTIGATION", BASIS)
    marked = dataclasses.replace(
        plain, hidden_until=NOW + timedelta(days=90), hiding_legal_basis=HIDING_BASIS
    )
    query = LookupQuery("001090012345", ("full_name",))
    request = build_request("police", marked, query, 60.0, now=NOW)
    assert (request.hidden_until, request.hiding_legal_basis) == (NOW + timedelta(days=90), HIDING_BASIS)
    assert isinstance(ADMISSION.check(request, "police", NOW), Admitted)
    unmarked = build_request("police", plain, query, 60.0, now=NOW)
    assert (unmarked.hidden_until, unmarked.hiding_legal_basis) == (None, None)
