"""Agency text made safe to check, quote and keep; exchange ids recomputable from where a record is."""

from __future__ import annotations

import unicodedata
import uuid

import pytest

from dancu_bus.exchanges import EXCHANGE_NAMESPACE, exchange_id
from dancu_bus.text import bounded, folded, printable, quoted, shown, without_diacritics


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Nguyễn Văn An", True),
        ("Luật Phòng, chống rửa tiền 2022, Điều 9", True),
        ("HS-KYC/2026-0001 (bản sao)", True),
        ("a\x00b", False),
        ("a\x1b[31mb", False),
        ("right-to-left \u202eoverride", False),
        ("zero\u200bwidth", False),
        ("line\u2028separator", False),
        ("private \ue000 use", False),
    ],
)
def test_printable_refuses_controls_format_and_unassigned(text: str, ok: bool) -> None:
    """Letters, marks, digits, punctuation and spaces pass; controls, bidi and invisible characters do not."""
    assert printable(text) is ok


def test_bounded_keeps_short_text_and_identifies_long_text() -> None:
    """Short text is unchanged; long text keeps its start, its length and its hash, and stays distinct."""
    assert bounded("can-bo-1", 64) == "can-bo-1"
    a, b = bounded("x" * 10_000, 64), bounded("x" * 9_999 + "y", 64)
    assert a != b and len(a) <= 64 + 96 and "10000 characters, sha256 " in a


def test_quoted_escapes_and_cuts() -> None:
    """A hostile value is shown as an escaped literal, cut with its length."""
    shown_text = quoted("\x1b[2J" * 1000, 16)
    assert "\x1b" not in shown_text and "4000 characters" in shown_text
    assert shown("01") == "01" and shown("0\x1b1") == "'0\\x1b1'"


@pytest.mark.parametrize(
    "typed",
    [
        "nguyễn văn an",
        "  NGUYỄN   Văn  an ",
        unicodedata.normalize("NFD", "Nguyễn Văn An"),
        unicodedata.normalize("NFD", "NGUYỄN VĂN AN"),
        "Nguyễn\tVăn\r\nAn",
        "Nguyễn\u00a0Văn\u202fAn\u3000",
    ],
)
def test_folded_compares_names_whatever_their_form(typed: str) -> None:
    """NFC (also of decomposed input), case folding, and any run of white space (tab, NBSP) one space."""
    assert folded(typed) == "nguyễn văn an"


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("Nguyễn Văn An", "Nguyen Van An"),
        (unicodedata.normalize("NFD", "Nguyễn Văn An"), "Nguyen Van An"),
        ("Đỗ Thị Ánh", "Do Thi Anh"),
        ("ĐẶNG ĐÌNH ĐỨC", "DANG DINH DUC"),
        ("Trương Thị Hương", "Truong Thi Huong"),
        ("Nguyen Van An", "Nguyen Van An"),
        ("", ""),
    ],
)
def test_without_diacritics_drops_tone_marks_and_writes_stroked_d_as_d(text: str, bare: str) -> None:
    """Tone marks, breve, circumflex and horn go, đ/Đ become d/D, whatever the input's Unicode form."""
    assert without_diacritics(text) == bare


def test_an_exchange_id_is_uuid5_of_where_the_record_is() -> None:
    """Any language recomputes it from topic, partition, offset and broker timestamp."""
    expected = uuid.uuid5(EXCHANGE_NAMESPACE, "ndxp.dancu.req.demo-bank/3/41/1795768200000")
    assert exchange_id("ndxp.dancu.req.demo-bank", 3, 41, 1_795_768_200_000) == str(expected)
    assert exchange_id("ndxp.dancu.req.demo-bank", 3, 42, 1_795_768_200_000) != str(expected)
