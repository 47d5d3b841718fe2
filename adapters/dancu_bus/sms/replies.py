"""The texts the SMS adapter replies, in Vietnamese with diacritics (or without, GSM-7). Pure.

The refusal a wrong phone or an unknown id gets is one constant text (``NOT_BOUND``): the reply to a
message about an id that exists and to one about an id nobody has are the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from enum import StrEnum

from dancu_bus.catalogues import Catalogue, Label
from dancu_bus.contracts import Address, DisclosedField
from dancu_bus.text import without_diacritics

__all__ = [
    "FIELD_LABELS",
    "NOT_BOUND",
    "UNAVAILABLE",
    "Kind",
    "Labeller",
    "help_text",
    "plain",
    "record_text",
    "shown",
    "try_later_text",
]

Labeller = Callable[[Catalogue, str, str | None], Label | None]
"""A code's name in a catalogue (``dancu_bus.sdk.label``); None when there is no such code."""


class Kind(StrEnum):
    """What a reply is (the MT's ``kind``)."""

    RECORD = "RECORD"
    NOT_BOUND = "NOT_BOUND"
    HELP = "HELP"
    TRY_LATER = "TRY_LATER"
    UNAVAILABLE = "UNAVAILABLE"


NOT_BOUND = "Không có thông tin khớp với số định danh và số điện thoại này. Soạn DC HELP để xem hướng dẫn."
UNAVAILABLE = "Hệ thống tra cứu đang bận, xin vui lòng gửi lại sau ít phút."

FIELD_LABELS = {
    "personal_id": "Số định danh",
    "full_name": "Họ tên",
    "birth_date": "Ngày sinh",
    "sex": "Giới tính",
    "ethnic_group": "Dân tộc",
    "religion": "Tôn giáo",
    "nationality": "Quốc tịch",
    "permanent_address": "Thường trú",
    "household_id": "Mã hộ",
    "household_relation": "Quan hệ với chủ hộ",
    "phone": "Điện thoại",
    "status": "Tình trạng",
}
_CATALOGUE_OF = {
    "sex": Catalogue.GENDER,
    "ethnic_group": Catalogue.ETHNIC_GROUP,
    "religion": Catalogue.RELIGION,
    "nationality": Catalogue.NATIONALITY,
    "household_relation": Catalogue.HOUSEHOLD_RELATION,
}
_STATUS = {"ALIVE": "Còn sống", "DECEASED": "Đã mất", "MISSING": "Mất tích"}


def help_text(groups: Iterable[str]) -> str:
    """How to ask: the syntax, the groups, and that it is free (Art. 8.2)."""
    names = ", ".join(groups)
    return (
        "Tra cứu thông tin công dân (miễn phí): soạn DC <số định danh 12 số>, hoặc"
        f" DC <số định danh> <nhóm> với nhóm là {names}. Chỉ trả lời tin gửi từ số điện thoại đã đăng ký."
    )


def try_later_text(period_s: float) -> str:
    """The one reply a burst gets: when to ask again."""
    minutes = max(1, round(period_s / 60))
    return f"Bạn đã gửi quá nhiều yêu cầu. Xin vui lòng gửi lại sau {minutes} phút."


def record_text(fields: Iterable[DisclosedField], label: Labeller) -> str:
    """The citizen's fields, one ``Label: value`` per line, catalogue codes by their names."""
    lines = [f"{FIELD_LABELS.get(f.name, f.name)}: {shown(f, label)}" for f in fields]
    return "\n".join(["Thông tin công dân:", *lines])


def shown(field: DisclosedField, label: Labeller) -> str:
    """A field's value as a citizen reads it: dates dd/mm/yyyy, codes by name, addresses in words."""
    value = field.value
    if value is None:
        return "(không có)"
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Address):
        return _address(value, label)
    if field.name in _CATALOGUE_OF:
        named = label(_CATALOGUE_OF[field.name], value, None)
        return value if named is None else named.vi
    return _STATUS.get(value, value) if field.name == "status" else value


def _address(address: Address, label: Labeller) -> str:
    parts = [
        address.detail,
        _named(label, Catalogue.COMMUNE, address.commune_code, address.scheme),
        _named(label, Catalogue.DISTRICT, address.district_code, address.scheme),
        _named(label, Catalogue.PROVINCE, address.province_code, address.scheme),
    ]
    return ", ".join(p for p in parts if p)


def _named(label: Labeller, catalogue: Catalogue, code: str | None, scheme: str) -> str | None:
    if code is None:
        return None
    named = label(catalogue, code, scheme)
    return code if named is None else named.vi


def plain(text: str) -> str:
    """``text`` without diacritics (so GSM-7 carries it, 160 to an SMS instead of 70)."""
    return without_diacritics(text)
