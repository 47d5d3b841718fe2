"""The adapter's decisions: help, lookups as SELF bound by phone, rate limits, replies from answers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dancu_bus.catalogues import Catalogue, Label
from dancu_bus.contracts import DisclosedField, Response, ResponseStatus
from dancu_bus.errors import CodecError
from dancu_bus.operations import platform_codec
from dancu_bus.operations.self_record import PHONE, SelfQuery, SelfResult
from dancu_bus.settings import SmsSettings
from dancu_bus.sms import Ask, Desk, Kind, Mo, Reply, SmsWire
from dancu_bus.sms.replies import NOT_BOUND

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SETTINGS = SmsSettings(phone_limit=5, phone_period_s=600, id_limit=3, id_period_s=3600)


def _label(catalogue: Catalogue, code: str, scheme: str | None) -> Label | None:
    return Label("Nữ") if (catalogue, code) == (Catalogue.GENDER, "2") else None


def _mo(text: str, sender: str = "84912345678") -> Mo:
    return Mo("gw-1", sender, "8088", text, NOW)


def _response(status: ResponseStatus, reason: str | None = None, result: object | None = None) -> Response:
    return Response("r", "e", "sms", "SELF", status, NOW, reason_code=reason, result=result)


def test_a_lookup_asks_self_bound_by_the_senders_phone() -> None:
    """DC <id> <group> becomes SELF(bound_by PHONE, the sender's digits, level 0, the group)."""
    decision = Desk(SETTINGS, _label).decide(_mo("dc 001090012345 địa chỉ"), 0.0)
    assert decision == Ask(SelfQuery("001090012345", PHONE, phone="84912345678", field_group="DIACHI"))


def test_no_command_is_the_help_text_without_a_lookup() -> None:
    """Help is a reply at once, never a query."""
    decision = Desk(SETTINGS, _label).decide(_mo("hello"), 0.0)
    assert isinstance(decision, Reply) and decision.kind is Kind.HELP and "DC" in decision.text


def test_a_burst_from_one_phone_gets_the_limit_then_one_try_later_then_silence() -> None:
    """Of 100 lookups at once: 5 queries, 1 'try later', 94 nothing."""
    desk = Desk(SETTINGS, _label)
    decisions = [desk.decide(_mo(f"DC 0010900{i:05d}"), 1.0) for i in range(100)]
    assert sum(isinstance(d, Ask) for d in decisions) == 5
    assert [d.kind for d in decisions if isinstance(d, Reply)] == [Kind.TRY_LATER]
    assert decisions.count(None) == 94


def test_one_id_from_many_phones_is_asked_at_most_the_id_limit() -> None:
    """Enumerating phones for one id: 3 queries an hour, whoever sends them."""
    desk = Desk(SETTINGS, _label)
    decisions = [desk.decide(_mo("DC 001090012345", f"8491000{i:04d}"), 1.0) for i in range(10)]
    assert sum(isinstance(d, Ask) for d in decisions) == 3


def test_not_bound_and_an_invalid_id_get_the_one_fixed_reply() -> None:
    """NOT_BOUND (wrong phone, unknown id) and INVALID_PERSONAL_ID give the same text."""
    desk = Desk(SETTINGS, _label)
    replies = {
        desk.answered(_response(ResponseStatus.REJECTED, r)) for r in ("NOT_BOUND", "INVALID_PERSONAL_ID")
    }
    assert replies == {Reply(Kind.NOT_BOUND, NOT_BOUND)}


def test_other_refusals_and_no_answer_say_try_again() -> None:
    """A quota or an audit outage, or no answer in time: the service is busy."""
    desk = Desk(SETTINGS, _label)
    assert desk.answered(_response(ResponseStatus.REJECTED, "QUOTA_EXCEEDED")).kind is Kind.UNAVAILABLE
    assert desk.answered(None).kind is Kind.UNAVAILABLE


def test_the_record_is_labelled_in_vietnamese_or_without_diacritics() -> None:
    """Fields become 'Label: value' lines, dates dd/mm/yyyy, codes by name; diacritics off drops them."""
    fields = (
        DisclosedField("full_name", "Nguyễn Thị Ánh", "CSDLQG", date(2020, 1, 1)),
        DisclosedField("birth_date", date(1990, 2, 1), "CSDLQG", date(2020, 1, 1)),
        DisclosedField("sex", "2", "CSDLQG", date(2020, 1, 1)),
    )
    answer = _response(ResponseStatus.OK, result=SelfResult(True, fields))
    reply = Desk(SETTINGS, _label).answered(answer)
    assert reply.kind is Kind.RECORD
    assert reply.text.splitlines()[1:] == ["Họ tên: Nguyễn Thị Ánh", "Ngày sinh: 01/02/1990", "Giới tính: Nữ"]
    plain = Desk(SETTINGS.model_copy(update={"diacritics": False}), _label).answered(answer)
    assert plain.text.isascii() and "Ho ten: Nguyen Thi Anh" in plain.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender", "not a number"),
        ("sender", "1" * 40),
        ("gateway_message_id", "x" * 65),
        ("gateway_message_id", "bad\x00id"),
        ("short_code", "80-88"),
        ("text", "x" * 1601),
    ],
)
def test_an_mo_out_of_bounds_is_unusable(field: str, value: str) -> None:
    """The gateway's fields are bounded: anything beyond is a CodecError (a dead letter), not an MO."""
    wire = SmsWire(platform_codec().schemas)
    record = {"gateway_message_id": "gw-1", "sender": "84912345678", "short_code": "8088", "text": "DC HELP"}
    data = platform_codec().schemas.encode("vn.dancu.SmsMo", {**record, field: value, "received_at": NOW})
    with pytest.raises(CodecError):
        wire.decode_mo(data)


def test_an_mo_reads_back_with_its_sender_as_e164_digits() -> None:
    """A national or + number is read as E.164 digits."""
    wire = SmsWire(platform_codec().schemas)
    assert wire.decode_mo(wire.encode_mo(_mo("DC HELP", "+84 912 345 678"))).sender == "84912345678"
