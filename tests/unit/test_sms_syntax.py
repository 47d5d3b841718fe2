"""The SMS syntax: DC <id>, DC <id> <group>, DC HELP, tolerant of case, spaces and diacritics."""

from __future__ import annotations

import pytest

from dancu_bus.sms.syntax import MAX_TEXT, Help, Lookup, fold_group, parse

GROUPS = ("HOTEN", "CCCD", "DIACHI")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DC 001090012345", Lookup("001090012345", None)),
        ("dc  001090012345", Lookup("001090012345", None)),
        ("  Dc\t001090012345  ", Lookup("001090012345", None)),
        ("DC001090012345", Lookup("001090012345", None)),
        ("Dc 001090012345 địa chỉ", Lookup("001090012345", "DIACHI")),
        ("DC 001090012345 DIACHI", Lookup("001090012345", "DIACHI")),
        ("đc 001090012345 Họ Tên", Lookup("001090012345", "HOTEN")),
        ("DC 001090012345 cccd", Lookup("001090012345", "CCCD")),
        ("DC ００１０９００１２３４５", Lookup("001090012345", None)),  # full-width digits
        ("DC HELP", Help(asked=True)),
        ("dc help", Help(asked=True)),
        ("DC  HD", Help(asked=True)),
    ],
)
def test_commands_are_read_whatever_the_case_spacing_and_diacritics(text: str, expected: object) -> None:
    """Each way a citizen types a command is read as that command."""
    assert parse(text, GROUPS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "DC",
        "DC 12345",
        "DC 0010900123456",
        "DC 00109001234a",
        "DC 001090012345 QUEQUAN",  # not a configured group
        "DC 001090012345 DIACHI HOTEN",
        "XDC 001090012345",
        "DC HELP ME",
        "DC ١٢٣٤٥٦٧٨٩٠١٢",  # Arabic-Indic digits are digits, but not an id's
        "DC 001090012345" + " " * MAX_TEXT,
    ],
)
def test_anything_else_is_the_help_text(text: str) -> None:
    """What is no command gets the help text (Help not asked), never a lookup."""
    assert parse(text, GROUPS) == Help(asked=False)


def test_group_names_fold_without_diacritics_case_or_spaces() -> None:
    """A configured group typed with diacritics and spaces folds to its name."""
    assert fold_group("Địa chỉ") == "DIACHI"
    assert parse("DC 001090012345 dia chi", ("Địa chỉ",)) == Lookup("001090012345", "Địa chỉ")
