"""VERIFY outcomes and LOOKUP disclosure, from tables of cases."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date

import pytest

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import packaged_view
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    Address,
    Citizen,
    LookupQuery,
    MatchOutcome,
    Operation,
    Provenance,
    ResponseStatus,
    Verdict,
    VerifyQuery,
)
from dancu_bus.operations.lookup import lookup as lookup_in
from dancu_bus.operations.verify import verdict, verify
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.resolver import reject
from tests.unit import samples

EXCHANGE = samples.VERIFY_EXCHANGE

CITIZEN = Citizen(
    personal_id="001090012345",
    full_name="Nguyễn Thị Ánh",
    birth_date=date(1990, 5, 17),
    sex="2",
    ethnic_group="01",
    religion="00",
    nationality="VN",
    permanent_address=samples.ADDRESS,
    household_id="HH-1",
    household_relation="01",
    phone=None,
    status="ALIVE",
    provenance={f: Provenance("CSDLQG-DC", date(2024, 1, 1)) for f in DISCLOSABLE_FIELDS},
)
ALL = Purpose(legal_basis="x", operations=frozenset({Operation.LOOKUP}), fields=frozenset(DISCLOSABLE_FIELDS))
NAME = Purpose(legal_basis="x", operations=frozenset({Operation.LOOKUP}), fields=frozenset({"full_name"}))


def outcomes(query: VerifyQuery) -> dict[str, MatchOutcome]:
    return {m.field: m.outcome for m in verify(query, CITIZEN).fields}


def test_verify_match_ignores_unicode_form_case_and_spacing() -> None:
    """A name typed decomposed, upper-case and with extra spaces still matches."""
    typed = unicodedata.normalize("NFD", "  NGUYỄN  thị ánh ")
    result = verify(VerifyQuery("001090012345", typed, date(1990, 5, 17), "2"), CITIZEN)
    assert result.verdict is Verdict.MATCH
    assert outcomes(VerifyQuery("001090012345", typed))["full_name"] is MatchOutcome.MATCH


def test_verify_mismatch_names_the_field_and_never_a_value() -> None:
    """A wrong birth date is a MISMATCH of that field only; the answer has no values."""
    result = verify(VerifyQuery("001090012345", "Nguyễn Thị Ánh", date(1990, 5, 18)), CITIZEN)
    assert result.verdict is Verdict.MISMATCH
    assert (
        outcomes(VerifyQuery("001090012345", "Nguyễn Thị Ánh", date(1990, 5, 18)))["birth_date"]
        is MatchOutcome.MISMATCH
    )
    assert "1990" not in repr(result)


@pytest.mark.parametrize(
    ("query", "field", "outcome"),
    [
        (VerifyQuery("001090012345"), "full_name", MatchOutcome.NOT_SUPPLIED),
        (VerifyQuery("001090012345", phone="0912345678"), "phone", MatchOutcome.NOT_ON_RECORD),
        (VerifyQuery("001090012345", sex="1"), "sex", MatchOutcome.MISMATCH),
        (
            VerifyQuery("001090012345", permanent_address=Address("DVHC-2025", "01", "00004")),
            "permanent_address",
            MatchOutcome.MATCH,
        ),
        (
            VerifyQuery("001090012345", permanent_address=Address("DVHC-2004", "01", "00004", "001")),
            "permanent_address",
            MatchOutcome.NOT_ON_RECORD,
        ),
    ],
)
def test_verify_field_outcomes(query: VerifyQuery, field: str, outcome: MatchOutcome) -> None:
    """Each supplied field gets MATCH, MISMATCH or NOT_ON_RECORD; unsupplied ones NOT_SUPPLIED."""
    assert outcomes(query)[field] is outcome


def test_verify_unknown_person_is_not_found() -> None:
    """No record means NOT_FOUND, whatever was supplied."""
    assert verify(VerifyQuery("001090099999", "Ai Đó"), None).verdict is Verdict.NOT_FOUND


def test_lookup_returns_only_scope_with_provenance() -> None:
    """A LOOKUP asking for nothing gets every field of its scope, each with source and date."""
    result = lookup_in(LookupQuery("001090012345"), NAME, CITIZEN, packaged_view())
    assert [f.name for f in result.fields] == ["full_name"]
    assert result.fields[0].source == "CSDLQG-DC"


def test_lookup_returns_asked_fields_in_canonical_order() -> None:
    """Asked fields come back in the contract's order, dates as dates, addresses whole."""
    result = lookup_in(
        LookupQuery("001090012345", ("permanent_address", "birth_date")), ALL, CITIZEN, packaged_view()
    )
    assert [(f.name, f.value) for f in result.fields] == [
        ("birth_date", date(1990, 5, 17)),
        ("permanent_address", samples.ADDRESS),
    ]


def test_lookup_unknown_person() -> None:
    """No record means found=False and no fields."""
    assert lookup_in(LookupQuery("001090099999"), ALL, None, packaged_view()).fields == ()


def test_reject_states_reason_in_both_languages_with_detail() -> None:
    """A rejection carries its code and both messages with the specific detail."""
    refusal = Rejection(Reason.FIELD_OUT_OF_SCOPE, "phone")
    response = reject(samples.VERIFY_REQUEST, refusal, samples.SENT, exchange_id=EXCHANGE, agency="demo-bank")
    assert response.status is ResponseStatus.REJECTED and response.exchange_id == EXCHANGE
    assert response.reason_code == "FIELD_OUT_OF_SCOPE"
    assert response.message_vi is not None and "phone" in response.message_vi
    assert response.message_en is not None and response.message_en.startswith("The request names a field")


def test_answer_of_rejection_has_no_result() -> None:
    """A rejected request never carries a result."""
    expired = Rejection(Reason.EXPIRED)
    response = reject(samples.VERIFY_REQUEST, expired, samples.SENT, exchange_id=EXCHANGE, agency="demo-bank")
    assert response.result is None and response.verify is None and response.lookup is None


def test_the_answer_names_the_topics_agency_and_a_bounded_printable_operation() -> None:
    """Whatever the body claims, the response names the topic's agency; a hostile operation is escaped."""
    claimed = dataclasses.replace(samples.VERIFY_REQUEST, agency="other-bank", operation="X\x1b[31m" * 10_000)
    response = reject(
        claimed, Rejection(Reason.UNKNOWN_OPERATION), samples.SENT, exchange_id=EXCHANGE, agency="demo-bank"
    )
    assert response.agency == "demo-bank"
    assert len(response.operation) < 120 and "\x1b" not in response.operation


@pytest.mark.parametrize(
    ("found", "outcomes", "expected"),
    [
        (False, [MatchOutcome.NOT_ON_RECORD], Verdict.NOT_FOUND),
        (True, [MatchOutcome.MATCH, MatchOutcome.MISMATCH], Verdict.MISMATCH),
        (True, [MatchOutcome.MATCH, MatchOutcome.NOT_ON_RECORD, MatchOutcome.NOT_SUPPLIED], Verdict.MATCH),
        (True, [MatchOutcome.NOT_ON_RECORD, MatchOutcome.NOT_SUPPLIED], Verdict.INCONCLUSIVE),
        (True, [MatchOutcome.NOT_SUPPLIED], Verdict.INCONCLUSIVE),
        (True, [MatchOutcome.MATCH_WITHOUT_DIACRITICS], Verdict.MATCH_WITHOUT_DIACRITICS),
        (
            True,
            [MatchOutcome.MATCH_WITHOUT_DIACRITICS, MatchOutcome.MATCH, MatchOutcome.NOT_ON_RECORD],
            Verdict.MATCH_WITHOUT_DIACRITICS,
        ),
        (True, [MatchOutcome.MATCH_WITHOUT_DIACRITICS, MatchOutcome.MISMATCH], Verdict.MISMATCH),
        (False, [MatchOutcome.NOT_SUPPLIED], Verdict.NOT_FOUND),
    ],
)
def test_the_verdict_table(found: bool, outcomes: list[MatchOutcome], expected: Verdict) -> None:
    """MATCH only if all compared matched exactly; a name matched only without diacritics says so."""
    assert verdict(found, outcomes) is expected


def test_a_verify_whose_fields_are_all_not_on_record_is_inconclusive() -> None:
    """Only a phone, which the record lacks: nothing was compared, so the verdict is not MATCH."""
    assert verify(VerifyQuery("001090012345", phone="0912345678"), CITIZEN).verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    ("query", "expected", "name"),
    [
        (
            VerifyQuery("001090012345", "NGUYEN THI ANH", date(1990, 5, 17)),
            Verdict.MATCH_WITHOUT_DIACRITICS,
            MatchOutcome.MATCH_WITHOUT_DIACRITICS,
        ),
        (
            VerifyQuery("001090012345", "NGUYEN THI ANH", date(1990, 5, 18)),
            Verdict.MISMATCH,
            MatchOutcome.MATCH_WITHOUT_DIACRITICS,
        ),
        (
            VerifyQuery("001090012345", "Nguyễn Thị Anh", date(1990, 5, 17)),
            Verdict.MISMATCH,
            MatchOutcome.MISMATCH,
        ),
        (VerifyQuery("001090012345", "NGUYỄN THỊ ÁNH", date(1990, 5, 17)), Verdict.MATCH, MatchOutcome.MATCH),
    ],
)
def test_verify_tells_a_name_matched_only_without_diacritics(
    query: VerifyQuery, expected: Verdict, name: MatchOutcome
) -> None:
    """The record's name in ASCII is MATCH_WITHOUT_DIACRITICS, other diacritics MISMATCH; bad date wins."""
    result = verify(query, CITIZEN)
    assert result.verdict is expected
    assert outcomes(query)["full_name"] is name
