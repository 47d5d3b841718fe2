"""What ``dancu-bus agency list --public`` publishes (Art. 4.2), and the usage-report verbs (Art. 14.1.b)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dancu_bus.agencies import Agency, AgencyStatus, load_directory
from dancu_bus.cli import agency as agency_cli
from dancu_bus.cli.agency import public_rows, shown_record
from dancu_bus.cli.main import build_parser, main
from dancu_bus.registry import answer_usage_report, request_usage_report

AGENCIES = Path(__file__).resolve().parents[2] / "deploy" / "agencies.yaml"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_public_rows_carry_focal_point_and_readiness_only() -> None:
    """Each published row names the focal point and readiness, and nothing of purposes or quotas."""
    rows = {row["id"]: row for row in public_rows(load_directory(AGENCIES).agencies())}
    bank = rows["demo-bank"]
    assert (bank["focal_point"], bank["position"], bank["email"]) == (
        "Trần Thị Mai",
        "Giám đốc Khối Công nghệ",
        "mai.tt@demo-bank.vn",
    )
    assert bank["readiness"].startswith("Sẵn sàng")
    assert set(bank) == {
        "id",
        "code",
        "name",
        "status",
        "focal_point",
        "position",
        "phone",
        "email",
        "readiness",
    }


class _OneAgencyAdmin:
    """The registry's write side for one agency held in memory, with the real rules and a fixed clock."""

    def __init__(self, agency: Agency) -> None:
        self.agency = agency
        self.now = NOW

    def get(self, agency_id: str) -> Agency:
        assert agency_id == self.agency.id
        return self.agency

    def request_usage_report(self, agency_id: str, reason: str, document_ref: str, by: str) -> Agency:
        self.agency = request_usage_report(self.get(agency_id), reason, document_ref, by, self.now)
        return self.agency

    def answer_usage_report(self, agency_id: str, document_ref: str, by: str) -> Agency:
        self.agency = answer_usage_report(self.get(agency_id), document_ref, by, self.now)
        return self.agency


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> _OneAgencyAdmin:
    one = _OneAgencyAdmin(load_directory(AGENCIES).get("demo-bank") or pytest.fail("no demo-bank"))
    monkeypatch.setattr(agency_cli, "_admin", lambda _settings: one)
    return one


def test_usage_request_and_answer_verbs_need_reason_document_and_by() -> None:
    """`agency usage-request` needs --reason, --document and --by; `usage-answer` --document and --by."""
    parser = build_parser()
    ask = parser.parse_args(
        ["agency", "usage-request", "demo-bank", "--reason", "R", "--document", "CV-1", "--by", "c06"]
    )
    assert (ask.agency, ask.reason, ask.document, ask.by) == ("demo-bank", "R", "CV-1", "c06")
    answer = parser.parse_args(["agency", "usage-answer", "demo-bank", "--document", "BC-1", "--by", "bank"])
    assert (answer.agency, answer.document, answer.by) == ("demo-bank", "BC-1", "bank")
    for missing in (
        ["agency", "usage-request", "demo-bank", "--document", "CV-1", "--by", "c06"],
        ["agency", "usage-answer", "demo-bank", "--by", "bank"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(missing)


def test_usage_commands_record_requests_and_answer_the_oldest(
    admin: _OneAgencyAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two requests, then one answer: the answer closes the first; the agency's status never changes."""
    ask = ["agency", "usage-request", "demo-bank", "--by", "cuc-c06"]
    assert main([*ask, "--reason", "thanh tra định kỳ", "--document", "CV-101"]) == 0
    admin.now = NOW + timedelta(days=2)
    assert main([*ask, "--reason", "kiểm tra đột xuất", "--document", "CV-102"]) == 0
    admin.now = NOW + timedelta(days=4)
    assert main(["agency", "usage-answer", "demo-bank", "--document", "BC-9", "--by", "demo-bank"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "demo-bank: usage report requested under CV-101; open requests: 1",
        "demo-bank: usage report requested under CV-102; open requests: 2",
        "demo-bank: report BC-9 recorded (answers CV-101 of 2026-11-27); open requests: 1",
    ]
    assert admin.agency.status is AgencyStatus.ACTIVE


def test_usage_answer_without_an_open_request_fails_in_one_line(
    admin: _OneAgencyAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    """With nothing requested, `usage-answer` exits 1 and says what to record first; nothing is written."""
    before = admin.agency
    assert main(["agency", "usage-answer", "demo-bank", "--document", "BC-1", "--by", "demo-bank"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dancu-bus: demo-bank has no open usage-report request to answer")
    assert err.count("\n") == 1 and admin.agency is before


def test_show_lists_open_and_answered_requests_with_days_open(
    admin: _OneAgencyAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    """`agency show` prints the record and, per request, its state, reference, reason and days open."""
    admin.request_usage_report("demo-bank", "thanh tra định kỳ", "CV-101", "cuc-c06")
    admin.now = NOW + timedelta(days=1)
    admin.request_usage_report("demo-bank", "kiểm tra đột xuất", "CV-102", "cuc-c06")
    admin.now = NOW + timedelta(days=6)
    admin.answer_usage_report("demo-bank", "BC-9", "demo-bank")
    shown = shown_record(admin.agency, NOW + timedelta(days=10, hours=1))
    assert Agency.model_validate({k: v for k, v in shown.items() if k != "usage_reports"}) == admin.agency
    rows = [
        (r["state"], r["document_ref"], r["reason"], r["days_open"], r["report_ref"])
        for r in shown["usage_reports"]
    ]
    assert rows == [
        ("ANSWERED", "CV-101", "thanh tra định kỳ", 6, "BC-9"),
        ("OPEN", "CV-102", "kiểm tra đột xuất", 9, None),
    ]
    assert main(["agency", "show", "demo-bank"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in printed["usage_reports"]] == ["ANSWERED", "OPEN"]
