"""The 12-digit personal id: its structure, parsed and composed."""

from __future__ import annotations

from datetime import date

import pytest

from dancu_bus.personal_id import PersonalIdError, century_sex_digit, compose, parse

TODAY = date(2026, 11, 1)


@pytest.mark.parametrize(
    ("value", "province", "male", "year", "serial"),
    [
        ("001090123456", "01", True, 1990, "123456"),
        ("001199999999", "01", False, 1999, "999999"),
        ("079200000000", "79", True, 2000, "000000"),
        ("096310000001", "96", False, 2010, "000001"),
        ("046026000042", "46", True, 1926, "000042"),
        ("001226123456", "01", True, 2026, "123456"),
    ],
)
def test_parse_splits_a_valid_id(value: str, province: str, male: bool, year: int, serial: str) -> None:
    """A well-formed id yields its birth province, sex, birth year and serial."""
    parts = parse(value, today=TODAY)
    assert (parts.province_code, parts.male, parts.birth_year, parts.serial) == (province, male, year, serial)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "has 0 characters"),
        ("00109012345", "has 11 characters"),
        ("0010901234567", "has 13 characters"),
        ("00109012345a", "not all digits"),
        ("0010 0123456", "not all digits"),
        ("００１０９０１２３４５６", "not all digits"),
        ("00109012345٣", "not all digits"),
        ("000090123456", "000 is not a DVHC-2004"),
        ("003090123456", "003 is not a DVHC-2004"),
        ("101090123456", "101 is not a DVHC-2004"),
        ("001227000000", "2027 is in the future"),
        ("001399123456", "2099 is in the future"),
    ],
)
def test_parse_refuses_a_malformed_id(value: str, reason: str) -> None:
    """Wrong length, non-ASCII or non-digit characters, unknown provinces and future years are refused."""
    with pytest.raises(PersonalIdError) as caught:
        parse(value, today=TODAY)
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("province", "year", "male", "serial", "expected"),
    [
        ("01", 1990, True, 123456, "001090123456"),
        ("01", 1999, False, 999999, "001199999999"),
        ("79", 2000, True, 0, "079200000000"),
        ("96", 2010, False, 1, "096310000001"),
        ("46", 2101, True, 42, "046401000042"),
    ],
)
def test_compose_builds_the_id_and_parse_reads_it_back(
    province: str, year: int, male: bool, serial: int, expected: str
) -> None:
    """Composing an id gives the documented digits, and parsing them returns the same parts."""
    value = compose(province, year, male, serial)
    assert value == expected
    if year <= TODAY.year:
        parts = parse(value, today=TODAY)
        assert (parts.province_code, parts.male, parts.birth_year, int(parts.serial)) == (
            province,
            male,
            year,
            serial,
        )


@pytest.mark.parametrize(
    ("province", "year", "male", "serial"),
    [
        ("03", 1990, True, 1),
        ("00", 1990, True, 1),
        ("1", 1990, True, 1),
        ("01", 1990, True, -1),
        ("01", 1990, True, 1_000_000),
        ("01", 1899, True, 1),
        ("01", 2400, False, 1),
    ],
)
def test_compose_refuses_impossible_parts(province: str, year: int, male: bool, serial: int) -> None:
    """An unknown province, a serial outside six digits or a year outside 1900–2399 cannot be composed."""
    with pytest.raises(ValueError, match=r"province|serial|birth year"):
        compose(province, year, male, serial)


@pytest.mark.parametrize(
    ("year", "male", "digit"),
    [(1900, True, 0), (1999, False, 1), (2000, True, 2), (2099, False, 3), (2100, True, 4), (2399, False, 9)],
)
def test_century_sex_digit_follows_the_century_and_sex(year: int, male: bool, digit: int) -> None:
    """The fourth digit is twice the century index, plus one for women."""
    assert century_sex_digit(year, male) == digit
