"""Registry rules: onboarding steps, step 10, suspension, termination, maintenance notice, live view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dancu_bus.agencies import Agency, AgencyStatus, Channel, FocalPoint, Purpose, SecurityReview, StepRecord
from dancu_bus.codec import load_schemas
from dancu_bus.contracts import Operation
from dancu_bus.errors import RefusedChange
from dancu_bus.keys import AnswerKey, generate_key_pair
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import (
    PLATFORM_KEY,
    MaintenanceWindow,
    Platform,
    RegistryCodec,
    RegistryView,
    issue_account,
    missing_for_account,
    record_security_review,
    record_step,
    register_answer_key,
    resume,
    schedule_maintenance,
    suspend,
    terminate,
    working_days,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # a Friday
CODEC = RegistryCodec(load_schemas(OPERATIONS))
BOTH = ("INFOSEC_LEVEL", "PERSONAL_DATA_PROTECTION")


def new_agency(channel: Channel = Channel.NDXP) -> Agency:
    return Agency(
        id="new-bank",
        name="Ngân hàng Mới",
        code="000.00.00.H09",
        channel=channel,
        status=AgencyStatus.ONBOARDING,
        focal_point=FocalPoint(
            name="Ngô Thu", position="CIO", phone="+84 24 1234 5678", email="thu@new-bank.vn"
        ),
        operations=frozenset({Operation.VERIFY}),
        purposes={
            "KYC": Purpose(
                legal_basis="AML", operations=frozenset({Operation.VERIFY}), fields=frozenset({"full_name"})
            )
        },
    )


def _step(step: int, confirmations: tuple[str, ...] = ()) -> StepRecord:
    return StepRecord(
        step=step,
        document_ref=f"CV-{step}",
        on=date(2026, 11, step),
        by="officer",
        confirmations=confirmations,
    )


def onboarded(agency: Agency, steps: range = range(1, 10)) -> Agency:
    for step in steps:
        agency = record_step(agency, _step(step, BOTH if step == 6 else ()), NOW)
    return agency


def test_step_ten_lists_every_missing_step() -> None:
    """Issuing the account before steps 1–9 fails with a message listing exactly what is missing."""
    agency = onboarded(new_agency(), range(1, 6))
    with pytest.raises(RefusedChange) as refused:
        issue_account(agency, "QD-10", "director", NOW)
    message = str(refused.value)
    assert all(f"step {n}:" in message for n in (6, 7, 8, 9))
    assert "step 5:" not in message


def test_step_ten_after_steps_one_to_nine_activates() -> None:
    """With steps 1–9 recorded, step 10 makes the agency ACTIVE and records who did it."""
    agency = issue_account(onboarded(new_agency()), "QD-10", "director", NOW)
    assert agency.status is AgencyStatus.ACTIVE
    assert [s.step for s in agency.onboarding] == list(range(1, 11))
    assert agency.history[-1].action == "STEP_10"
    assert agency.history[-1].by == "director"


def test_step_six_needs_both_security_confirmations() -> None:
    """Step 6 with only one security confirmation is refused, naming the missing one."""
    with pytest.raises(RefusedChange, match="PERSONAL_DATA_PROTECTION"):
        record_step(new_agency(), _step(6, ("INFOSEC_LEVEL",)), NOW)


def test_step_ten_cannot_be_recorded_as_a_plain_step() -> None:
    """Step 10 is issued, never merely recorded."""
    with pytest.raises(RefusedChange):
        record_step(
            new_agency(), StepRecord(step=10, document_ref="CV", on=date(2026, 11, 1), by="officer"), NOW
        )


def test_other_platform_needs_an_approved_security_review() -> None:
    """An "other platform" channel is refused step 10 until a security review approves it (Art. 5.3)."""
    agency = onboarded(new_agency(Channel.OTHER_PLATFORM))
    assert missing_for_account(agency) == ["security review and approval of the other platform (Art. 5.3)"]
    rejected = record_security_review(
        agency,
        SecurityReview(document_ref="BC-1", approved=False, approved_by="c06", on=date(2026, 11, 20)),
        NOW,
    )
    assert missing_for_account(rejected)
    approved = record_security_review(
        agency,
        SecurityReview(document_ref="BC-2", approved=True, approved_by="c06", on=date(2026, 11, 21)),
        NOW,
    )
    assert issue_account(approved, "QD-10", "director", NOW).status is AgencyStatus.ACTIVE


def test_suspend_resume_terminate_are_recorded_in_history() -> None:
    """Each status change is a history entry with who, when and the document."""
    active = issue_account(onboarded(new_agency()), "QD-10", "director", NOW)
    suspended = suspend(active, "vi phạm phạm vi", "QD-11", "director", NOW)
    assert (suspended.status, suspended.status_reason) == (AgencyStatus.SUSPENDED, "vi phạm phạm vi")
    resumed = resume(suspended, "QD-12", "director", NOW)
    ended = terminate(resumed, "hết nhu cầu", "QD-13", "director", NOW)
    assert [c.action for c in ended.history[-3:]] == ["SUSPEND", "RESUME", "TERMINATE"]
    with pytest.raises(RefusedChange):
        resume(ended, "QD-14", "director", NOW)


@pytest.mark.parametrize(
    ("after", "until", "days"),
    [
        (date(2026, 11, 27), date(2026, 12, 8), 6),  # Fri → the Tuesday after next
        (date(2026, 11, 27), date(2026, 12, 9), 7),
        (date(2026, 8, 28), date(2026, 9, 9), 5),  # 1 and 2 September are holidays
        (date(2026, 11, 27), date(2026, 11, 28), 0),
    ],
)
def test_working_days(after: date, until: date, days: int) -> None:
    """Working days skip weekends and fixed public holidays."""
    assert working_days(after, until) == days


def test_maintenance_needs_seven_working_days_notice() -> None:
    """A maintenance window starting 6 working days ahead is refused; 7 is accepted."""

    def window(start: datetime) -> MaintenanceWindow:
        return MaintenanceWindow(
            starts_at=start, ends_at=start + timedelta(hours=4), reason="nâng cấp", document_ref="TB-1"
        )

    with pytest.raises(RefusedChange, match="7 working days"):
        schedule_maintenance(Platform(), window(datetime(2026, 12, 8, 22, tzinfo=UTC)), "ops", NOW)
    platform = schedule_maintenance(Platform(), window(datetime(2026, 12, 9, 22, tzinfo=UTC)), "ops", NOW)
    assert len(platform.maintenance) == 1


def test_view_applies_records_and_maintenance_windows() -> None:
    """The live view serves the latest record per agency and suspends everyone inside a maintenance window."""
    clock = [NOW]
    view = RegistryView(CODEC, clock=lambda: clock[0])
    active = issue_account(onboarded(new_agency()), "QD-10", "director", NOW)
    view.apply(b"new-bank", CODEC.encode_agency(new_agency()))
    view.apply(b"new-bank", CODEC.encode_agency(active))
    window = MaintenanceWindow(
        starts_at=NOW + timedelta(days=20),
        ends_at=NOW + timedelta(days=21),
        reason="bảo trì",
        document_ref="TB-2",
    )
    view.apply(PLATFORM_KEY.encode(), CODEC.encode_platform(Platform(maintenance=(window,))))
    assert view.get("new-bank") == active
    clock[0] = NOW + timedelta(days=20, hours=1)
    during = view.get("new-bank")
    assert (
        during is not None and during.status is AgencyStatus.SUSPENDED and during.status_reason == "bảo trì"
    )
    view.apply(b"new-bank", None)
    assert view.get("new-bank") is None


def test_view_skips_unreadable_records() -> None:
    """A corrupt registry record is logged and skipped; the previous state stays."""
    view = RegistryView(CODEC)
    view.apply(b"new-bank", CODEC.encode_agency(new_agency()))
    view.apply(b"new-bank", b"\xc3\x01garbage")
    assert view.get("new-bank") == new_agency()


def test_agency_record_round_trips_through_avro() -> None:
    """An agency with history and onboarding encodes to Avro and back unchanged, byte-stably."""
    agency = issue_account(onboarded(new_agency()), "QD-10", "director", NOW)
    data = CODEC.encode_agency(agency)
    assert CODEC.decode_agency(data) == agency
    assert CODEC.encode_agency(CODEC.decode_agency(data)) == data


def test_official_code_format_is_checked() -> None:
    """The official electronic agency code must read NNN.NN.NN.XNN."""
    with pytest.raises(ValueError, match=r"NNN\.NN\.NN\.XNN"):
        new_agency().model_validate({**new_agency().model_dump(), "code": "G01-000"})


def _answer_key(kid: str) -> AnswerKey:
    public, _ = generate_key_pair(kid)
    return AnswerKey(id=kid, jwk=public, registered_on=NOW.date(), document_ref=f"QD-KEY-{kid}")


def _asks_for_personal_data() -> Agency:
    return new_agency().model_copy(update={"operations": frozenset({Operation.VERIFY, Operation.LOOKUP})})


def test_step_ten_for_an_agency_asking_for_personal_data_needs_an_answer_key() -> None:
    """LOOKUP answers are sealed: step 10 names the missing key, and issues with one."""
    agency = onboarded(_asks_for_personal_data())
    with pytest.raises(
        RefusedChange, match="answer key: the public key LOOKUP and SEARCH answers are sealed to"
    ):
        issue_account(agency, "QD-10", "director", NOW)
    active = issue_account(agency, "QD-10", "director", NOW, _answer_key("new-bank-1"))
    assert active.status is AgencyStatus.ACTIVE and active.answer_key == _key_of(active, "new-bank-1")
    assert [c.action for c in active.history][-2:] == ["ANSWER_KEY", "STEP_10"]
    assert missing_for_account(onboarded(new_agency())) == []  # VERIFY only: flags, nothing to seal


def _key_of(agency: Agency, kid: str) -> AnswerKey:
    return next(k for k in agency.answer_keys if k.id == kid)


def test_a_rotation_makes_the_new_key_current_and_keeps_the_old_ones() -> None:
    """The last key registered is current; earlier ids stay; an id or a key used before is refused."""
    first = _answer_key("new-bank-1")
    active = issue_account(onboarded(_asks_for_personal_data()), "QD-10", "director", NOW, first)
    second = _answer_key("new-bank-2")
    rotated = register_answer_key(active, second, "director", NOW)
    assert rotated.answer_key == second and [k.id for k in rotated.answer_keys] == [
        "new-bank-1",
        "new-bank-2",
    ]
    with pytest.raises(RefusedChange, match="already has an answer key 'new-bank-1'"):
        register_answer_key(rotated, _answer_key("new-bank-1"), "director", NOW)
    with pytest.raises(RefusedChange, match="registered this key already"):
        register_answer_key(rotated, second.model_copy(update={"id": "new-bank-3"}), "director", NOW)
    assert CODEC.decode_agency(CODEC.encode_agency(rotated)) == rotated


def test_an_agency_record_with_one_key_id_twice_is_invalid() -> None:
    """Key ids are unique within an agency: answers name their key by id."""
    key = _answer_key("k-1")
    with pytest.raises(ValueError, match="registered twice"):
        Agency.model_validate(
            {**new_agency().model_dump(), "answer_keys": [key.model_dump(), key.model_dump()]}
        )
