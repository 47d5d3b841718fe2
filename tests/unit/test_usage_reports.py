"""Usage-report requests (Art. 14.1.b): recorded in the history, status unchanged, answered oldest first."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path

import avro.io
import avro.schema
import pytest

from dancu_bus.agencies import Agency, AgencyStatus
from dancu_bus.codec import load_schemas
from dancu_bus.errors import RefusedChange
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import (
    USAGE_REPORT_ANSWER,
    USAGE_REPORT_REQUEST,
    answer_usage_report,
    open_usage_requests,
    request_usage_report,
    suspend,
    terminate,
    usage_requests,
)
from dancu_bus.registry.usage_reports import MAX_REASON, MAX_REFERENCE
from tests.unit.test_registry import CODEC, NOW, new_agency

RELEASED = sorted((Path(__file__).resolve().parents[2] / "schemas" / "released").iterdir())


def active() -> Agency:
    return new_agency().model_copy(update={"status": AgencyStatus.ACTIVE})


def asked_twice() -> Agency:
    first = request_usage_report(active(), "thanh tra định kỳ", "CV-101", "cuc-c06", NOW)
    return request_usage_report(first, "kiểm tra đột xuất", "CV-102", "cuc-c06", NOW + timedelta(days=3))


def test_a_request_is_a_history_entry_and_leaves_the_status_unchanged() -> None:
    """The request records reason, document, who and when; the agency stays ACTIVE and keeps exchanging."""
    asked = request_usage_report(active(), "thanh tra định kỳ", "CV-101", "cuc-c06", NOW)
    assert asked.status is AgencyStatus.ACTIVE and asked.status_reason is None
    change = asked.history[-1]
    assert (change.action, change.detail, change.document_ref, change.by, change.at) == (
        USAGE_REPORT_REQUEST,
        "thanh tra định kỳ",
        "CV-101",
        "cuc-c06",
        NOW,
    )
    assert [u.is_open for u in usage_requests(asked)] == [True]


def test_a_suspended_agency_may_be_asked_but_not_one_without_a_connection() -> None:
    """A SUSPENDED agency can be asked and stays SUSPENDED; ONBOARDING and TERMINATED agencies are refused."""
    suspended = suspend(active(), "vi phạm", "QD-1", "director", NOW)
    assert request_usage_report(suspended, "lý do", "CV-1", "cuc-c06", NOW).status is AgencyStatus.SUSPENDED
    for agency in (new_agency(), terminate(active(), "hết nhu cầu", "QD-2", "director", NOW)):
        with pytest.raises(RefusedChange, match=f"it is {agency.status.value}"):
            request_usage_report(agency, "lý do", "CV-1", "cuc-c06", NOW)


def test_an_answer_without_an_open_request_is_refused() -> None:
    """With no request, or every request answered, an answer is refused and names the command to use."""
    with pytest.raises(RefusedChange, match="no open usage-report request") as refused:
        answer_usage_report(active(), "BC-1", "new-bank", NOW)
    assert "dancu-bus agency usage-request new-bank" in str(refused.value)
    once = request_usage_report(active(), "lý do", "CV-1", "cuc-c06", NOW)
    answered = answer_usage_report(once, "BC-1", "new-bank", NOW)
    with pytest.raises(RefusedChange, match="no open usage-report request"):
        answer_usage_report(answered, "BC-2", "new-bank", NOW)


def test_an_answer_closes_the_oldest_open_request() -> None:
    """Of two open requests the first is answered first; the answer names it; the second stays open."""
    answered = answer_usage_report(asked_twice(), "BC-7", "new-bank", NOW + timedelta(days=5))
    assert answered.status is AgencyStatus.ACTIVE
    assert answered.history[-1].action == USAGE_REPORT_ANSWER
    assert answered.history[-1].detail == f"answers CV-101 of {NOW.date().isoformat()}"
    first, second = usage_requests(answered)
    assert (first.request.document_ref, first.answer and first.answer.document_ref) == ("CV-101", "BC-7")
    assert [u.request.document_ref for u in open_usage_requests(answered)] == ["CV-102"]
    assert second.answer is None


def test_days_open_count_to_the_answer_or_to_now() -> None:
    """An answered request was open until its answer; an open one has been open until now."""
    answered = answer_usage_report(asked_twice(), "BC-7", "new-bank", NOW + timedelta(days=5, hours=2))
    later = NOW + timedelta(days=30)
    assert [u.days_open(later) for u in usage_requests(answered)] == [5, 27]


def test_days_open_mix_naive_history_times_and_an_aware_now() -> None:
    """History times read back naive (as Avro readers give them) are UTC: counting days does not fail."""
    asked = asked_twice()
    naive = asked.model_copy(
        update={
            "history": tuple(c.model_copy(update={"at": c.at.replace(tzinfo=None)}) for c in asked.history)
        }
    )
    assert naive.history[-1].at.tzinfo is None and NOW.tzinfo is not None
    assert [u.days_open(NOW + timedelta(days=30)) for u in usage_requests(naive)] == [
        u.days_open(NOW + timedelta(days=30)) for u in usage_requests(asked)
    ]


def test_an_answer_recorded_before_any_request_closes_nothing() -> None:
    """An answer entry that precedes every request (a hand-edited record) does not close a later request."""
    answer = answer_usage_report(asked_twice(), "BC-0", "new-bank", NOW).history[-1]
    stray = active().model_copy(update={"history": (answer,)})
    later = request_usage_report(stray, "lý do", "CV-200", "cuc-c06", NOW)
    assert [(u.request.document_ref, u.is_open) for u in usage_requests(later)] == [("CV-200", True)]


@pytest.mark.parametrize(
    ("reason", "document", "by", "problem"),
    [
        ("", "CV-1", "cuc-c06", "--reason is empty"),
        ("x" * (MAX_REASON + 1), "CV-1", "cuc-c06", f"at most {MAX_REASON}"),
        ("lý do", "C" * (MAX_REFERENCE + 1), "cuc-c06", f"--document has {MAX_REFERENCE + 1} characters"),
        ("lý do", "CV-1\u202e", "cuc-c06", "--document holds control or formatting characters"),
        ("lý do", "CV-1", "  ", "--by is empty"),
    ],
)
def test_texts_are_bounded_and_plain(reason: str, document: str, by: str, problem: str) -> None:
    """An empty, overlong or control-character text is refused with a message naming the option."""
    with pytest.raises(RefusedChange, match=re.escape(problem)):
        request_usage_report(active(), reason, document, by, NOW)


def test_the_answer_document_is_bounded_too() -> None:
    """The report reference of an answer obeys the same bound as any document reference."""
    with pytest.raises(RefusedChange, match="--document"):
        answer_usage_report(asked_twice(), "B" * (MAX_REFERENCE + 1), "new-bank", NOW)


def test_usage_history_round_trips_and_old_readers_read_it() -> None:
    """No schema change: a record with requests and answers decodes as itself, and in each released schema."""
    agency = answer_usage_report(asked_twice(), "BC-7", "new-bank", NOW + timedelta(days=5))
    data = CODEC.encode_agency(agency)
    assert CODEC.decode_agency(data) == agency
    writer = avro.schema.parse(json.dumps(load_schemas(OPERATIONS).standalone()["vn.dancu.Agency"]))
    for released in RELEASED:
        old = avro.schema.parse((released / "vn.dancu.Agency.avsc").read_text(encoding="utf-8"))
        reader = avro.io.DatumReader(writer, old)
        body = io.BytesIO(data[10:])  # after the single-object header: C3 01 and the 8-byte fingerprint
        decoded = reader.read(avro.io.BinaryDecoder(body))
        assert isinstance(decoded, dict)
        actions = [c["action"] for c in decoded["history"]]
        assert actions[-3:] == [USAGE_REPORT_REQUEST, USAGE_REPORT_REQUEST, USAGE_REPORT_ANSWER], (
            released.name
        )
