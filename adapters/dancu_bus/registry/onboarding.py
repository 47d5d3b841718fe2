"""The ten onboarding steps of Art. 7, and the rule that the account (step 10) comes last. Pure."""

from __future__ import annotations

from datetime import datetime

from dancu_bus.agencies import Agency, AgencyStatus, AnswerKey, Change, Channel, SecurityReview, StepRecord
from dancu_bus.errors import RefusedChange
from dancu_bus.operations import OPERATIONS

__all__ = [
    "ACCOUNT_STEP",
    "SECURITY_CONFIRMATIONS",
    "STEPS",
    "issue_account",
    "missing_for_account",
    "record_security_review",
    "record_step",
    "register_answer_key",
]

STEPS: dict[int, str] = {
    1: "văn bản đề nghị kết nối — written request to connect",
    2: "cử đầu mối — focal point named",
    3: "mục đích và căn cứ pháp lý — purposes and legal basis declared",
    4: "phạm vi dữ liệu — field scope per purpose",
    5: "phương án kết nối — connection plan and channel",
    6: "xác nhận an toàn — security confirmations (system security level; personal-data protection)",
    7: "kết nối thử nghiệm — test connection passed",
    8: "thẩm định — appraisal by the database's managing unit",
    9: "phê duyệt — approval of the connection",
    10: "cấp tài khoản — account issued",
}
ACCOUNT_STEP = 10
# Step 6 records both: the information system's security level is approved, and a personal-data
# protection impact assessment is on file.
SECURITY_CONFIRMATIONS = frozenset({"INFOSEC_LEVEL", "PERSONAL_DATA_PROTECTION"})


def record_step(agency: Agency, record: StepRecord, now: datetime) -> Agency:
    """The agency with ``record`` (a step 1–9) in its onboarding; step 6 needs both security confirmations."""
    step = record.step
    if step not in STEPS or step == ACCOUNT_STEP:
        raise RefusedChange(
            f"step {step} cannot be recorded this way: steps 1–9 are recorded, step 10 is issued"
        )
    if agency.status is AgencyStatus.TERMINATED:
        raise RefusedChange(f"{agency.id} is terminated")
    _check_confirmations(step, record.confirmations)
    kept = record.model_copy(update={"confirmations": tuple(sorted(record.confirmations))})
    steps = (*(s for s in agency.onboarding if s.step != step), kept)
    change = Change(
        at=now, by=record.by, document_ref=record.document_ref, action=f"STEP_{step}", detail=STEPS[step]
    )
    return agency.model_copy(
        update={
            "onboarding": tuple(sorted(steps, key=lambda s: s.step)),
            "history": (*agency.history, change),
        }
    )


def _check_confirmations(step: int, confirmations: tuple[str, ...]) -> None:
    unknown = set(confirmations) - SECURITY_CONFIRMATIONS
    if unknown:
        raise RefusedChange(
            f"unknown confirmations {sorted(unknown)}; known: {sorted(SECURITY_CONFIRMATIONS)}"
        )
    if step == 6 and set(confirmations) != SECURITY_CONFIRMATIONS:
        missing = sorted(SECURITY_CONFIRMATIONS - set(confirmations))
        raise RefusedChange(f"step 6 needs both security confirmations; missing: {', '.join(missing)}")


def record_security_review(agency: Agency, review: SecurityReview, now: datetime) -> Agency:
    """The agency with the security review its "other platform" channel needs (Art. 5.3)."""
    change = Change(
        at=now,
        by=review.approved_by,
        document_ref=review.document_ref,
        action="SECURITY_REVIEW",
        detail="approved" if review.approved else "not approved",
    )
    return agency.model_copy(update={"security_review": review, "history": (*agency.history, change)})


def missing_for_account(agency: Agency) -> list[str]:
    """What still stands between the agency and its account, one line each; empty when nothing."""
    done = {s.step for s in agency.onboarding}
    missing = [f"step {n}: {STEPS[n]}" for n in range(1, ACCOUNT_STEP) if n not in done]
    if agency.channel is Channel.OTHER_PLATFORM and not (
        agency.security_review and agency.security_review.approved
    ):
        missing.append("security review and approval of the other platform (Art. 5.3)")
    if agency.focal_point is None:
        missing.append("focal point (name, position, phone, email) in the record (Art. 4)")
    if agency.needs_answer_key(OPERATIONS.sealed_names()) and agency.answer_key is None:
        missing.append(
            "answer key: the public key LOOKUP and SEARCH answers are sealed to (--answer-key, made by"
            " `dancu-bus agency keygen` on the agency's side)"
        )
    return missing


def issue_account(
    agency: Agency, document_ref: str, by: str, now: datetime, answer_key: AnswerKey | None = None
) -> Agency:
    """The agency with step 10 recorded (and ``answer_key`` registered) and its connection active.

    Refused, listing what is missing, while steps 1–9 or an answer key for personal data are.
    """
    if agency.status is not AgencyStatus.ONBOARDING:
        raise RefusedChange(
            f"{agency.id} is {agency.status.value}, not ONBOARDING: its account was already issued"
        )
    if answer_key is not None:
        agency = register_answer_key(agency, answer_key, by, now)
    missing = missing_for_account(agency)
    if missing:
        raise RefusedChange(f"step 10 refused for {agency.id}; missing:\n  " + "\n  ".join(missing))
    record = StepRecord(step=ACCOUNT_STEP, document_ref=document_ref, on=now.date(), by=by)
    change = Change(at=now, by=by, document_ref=document_ref, action="STEP_10", detail=STEPS[ACCOUNT_STEP])
    return agency.model_copy(
        update={
            "onboarding": (*agency.onboarding, record),
            "status": AgencyStatus.ACTIVE,
            "status_reason": None,
            "history": (*agency.history, change),
        }
    )


def register_answer_key(agency: Agency, key: AnswerKey, by: str, now: datetime) -> Agency:
    """The agency with ``key`` as its current answer key; earlier keys stay, for their ids."""
    if agency.status is AgencyStatus.TERMINATED:
        raise RefusedChange(f"{agency.id} is terminated")
    if any(k.id == key.id for k in agency.answer_keys):
        raise RefusedChange(
            f"{agency.id} already has an answer key {key.id!r}: a new key needs a new id, so that answers"
            " sealed to the old one still name it"
        )
    if any(k.jwk == key.jwk for k in agency.answer_keys):
        raise RefusedChange(f"{agency.id} registered this key already: rotate to a newly made key")
    change = Change(
        at=now,
        by=by,
        document_ref=key.document_ref,
        action="ANSWER_KEY",
        detail=f"answer key {key.id} registered; answers are sealed to it from now on",
    )
    return agency.model_copy(
        update={"answer_keys": (*agency.answer_keys, key), "history": (*agency.history, change)}
    )
