"""The 12-digit personal identification number (số định danh cá nhân) and its structure.

Digits: birth-registration province (3, DVHC-2004 code zero-padded), century and sex (1),
birth year within the century (2), serial (6). There is no check digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["PROVINCES_2004", "PersonalIdError", "PersonalIdParts", "century_sex_digit", "compose", "parse"]

# DVHC-2004 province codes (01 Hà Nội … 96 Cà Mau); the gaps are codes never assigned.
PROVINCES_2004 = frozenset(
    {
        "01",
        "02",
        "04",
        "06",
        "08",
        "10",
        "11",
        "12",
        "14",
        "15",
        "17",
        "19",
        "20",
        "22",
        "24",
        "25",
        "26",
        "27",
        "30",
        "31",
        "33",
        "34",
        "35",
        "36",
        "37",
        "38",
        "40",
        "42",
        "44",
        "45",
        "46",
        "48",
        "49",
        "51",
        "52",
        "54",
        "56",
        "58",
        "60",
        "62",
        "64",
        "66",
        "67",
        "68",
        "70",
        "72",
        "74",
        "75",
        "77",
        "79",
        "80",
        "82",
        "83",
        "84",
        "86",
        "87",
        "89",
        "91",
        "92",
        "93",
        "94",
        "95",
        "96",
    }
)


class PersonalIdError(ValueError):
    """A personal id whose structure is wrong; ``reason`` says how."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value!r}: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PersonalIdParts:
    """What a personal id's digits say."""

    province_code: str
    male: bool
    birth_year: int
    serial: str


def century_sex_digit(birth_year: int, male: bool) -> int:
    """The 4th digit: 0/1 for the 1900s, 2/3 for the 2000s, … (even = male)."""
    century_index = birth_year // 100 - 19
    if not 0 <= century_index <= 4:
        raise ValueError(f"birth year {birth_year} outside 1900–2399")
    return century_index * 2 + (0 if male else 1)


def compose(province_code: str, birth_year: int, male: bool, serial: int) -> str:
    """Build a personal id from its parts."""
    if province_code not in PROVINCES_2004:
        raise ValueError(f"{province_code} is not a DVHC-2004 province")
    if not 0 <= serial < 1_000_000:
        raise ValueError(f"serial {serial} is not 6 digits")
    digit = century_sex_digit(birth_year, male)
    return f"0{province_code}{digit}{birth_year % 100:02d}{serial:06d}"


def parse(value: str, *, today: date | None = None) -> PersonalIdParts:
    """Check the structure of a personal id and split it; raise PersonalIdError if it is wrong."""
    if len(value) != 12:
        raise PersonalIdError(value, f"has {len(value)} characters, not 12")
    if not value.isascii() or not value.isdigit():
        raise PersonalIdError(value, "is not all digits")
    if value[0] != "0" or value[1:3] not in PROVINCES_2004:
        raise PersonalIdError(value, f"{value[:3]} is not a DVHC-2004 birth-registration province")
    digit = int(value[3])
    birth_year = 1900 + (digit // 2) * 100 + int(value[4:6])
    if birth_year > (today or date.today()).year:
        raise PersonalIdError(value, f"birth year {birth_year} is in the future")
    return PersonalIdParts(value[1:3], digit % 2 == 0, birth_year, value[6:])
