"""The synthetic population: deterministic, unique ids, and every code valid against the catalogues."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from datetime import date
from itertools import groupby
from pathlib import Path

import pytest

import dancu_bus
from dancu_bus.catalogues import check_citizen, packaged_view
from dancu_bus.contracts import DISCLOSABLE_FIELDS, Citizen
from dancu_bus.personal_id import PROVINCES_2004, parse
from dancu_bus.store import names
from dancu_bus.store.seed import (
    CIVIL_STATUS,
    POPULATION_DB,
    PROVINCE_POPULATION_2004,
    REFERENCE_DAY,
    RESIDENCE,
    TELECOM,
    generate,
    serial,
)

CATALOGUES = Path(dancu_bus.__file__).resolve().parent / "data" / "catalogues"
MOBILE = re.compile(r"^0(3[2-9]|5[689]|7[06-9]|8[1-9]|9\d)\d{7}$")
MANY = 200_000
CHECKED = 20_000


def _rows(name: str) -> list[dict[str, str]]:
    """The rows of one catalogue CSV, read independently of the generator."""
    with (CATALOGUES / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _codes(name: str, column: str = "code") -> set[str]:
    """The codes of one catalogue."""
    return {row[column] for row in _rows(name)}


@pytest.fixture(scope="module")
def population() -> list[Citizen]:
    """A large run, generated once for the whole module."""
    return list(generate(MANY, 20260701))


@pytest.fixture(scope="module")
def checked(population: list[Citizen]) -> list[Citizen]:
    """The prefix whose every field is checked one by one."""
    return population[:CHECKED]


def test_same_count_and_seed_give_identical_citizens() -> None:
    """Two runs with the same count and seed produce equal citizens in the same order."""
    assert list(generate(3_000, 11)) == list(generate(3_000, 11))


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    """generate(n, s) is the first n citizens of generate(m, s) for n < m."""
    assert list(generate(1_234, 5)) == list(generate(4_000, 5))[:1_234]


def test_another_seed_gives_another_population() -> None:
    """Different seeds give different citizens."""
    assert list(generate(100, 1)) != list(generate(100, 2))


def test_count_is_exact_and_never_negative() -> None:
    """The generator yields exactly count citizens and refuses a negative count."""
    assert list(generate(0, 1)) == []
    assert len(list(generate(7, 1))) == 7
    with pytest.raises(ValueError, match="negative"):
        generate(-1, 1)


def test_personal_ids_are_unique_over_a_large_run(population: list[Citizen]) -> None:
    """No personal id repeats among 200,000 citizens."""
    assert len({c.personal_id for c in population}) == MANY


def test_serial_is_a_bijection_of_six_digits() -> None:
    """Within one (province, year, sex) group, a million counters give a million distinct serials."""
    serials = {serial(n, "79", 1990, False) for n in range(1_000_000)}
    assert len(serials) == 1_000_000
    assert min(serials) == 0 and max(serials) == 999_999
    with pytest.raises(ValueError, match="more than"):
        serial(1_000_000, "79", 1990, False)


def test_ids_parse_and_agree_with_the_citizen(checked: Sequence[Citizen]) -> None:
    """Every id parses, and its province, sex and birth year agree with the record."""
    for citizen in checked:
        parts = parse(citizen.personal_id, today=REFERENCE_DAY)
        assert parts.province_code in PROVINCES_2004
        assert parts.male == (citizen.sex == "1")
        assert parts.birth_year == citizen.birth_date.year


def test_names_are_nfc_vietnamese_with_diacritics(checked: Sequence[Citizen]) -> None:
    """Full names are NFC, surname + middle + given, and most carry diacritics."""
    surnames = {name for name, _ in names.SURNAMES}
    for citizen in checked:
        assert unicodedata.normalize("NFC", citizen.full_name) == citizen.full_name
        words = citizen.full_name.split(" ")
        assert len(words) == 3 and words[0] in surnames
    with_diacritics = sum(not c.full_name.isascii() for c in checked)
    assert with_diacritics > 0.8 * len(checked)


def test_surnames_follow_their_frequencies(population: list[Citizen]) -> None:
    """About 38 % of people are Nguyễn, then Trần and Lê."""
    shares = Counter(c.full_name.split(" ")[0] for c in population)
    assert 0.33 < shares["Nguyễn"] / MANY < 0.44
    assert [name for name, _ in shares.most_common(3)] == ["Nguyễn", "Trần", "Lê"]


def test_codes_are_valid_against_the_catalogues(checked: Sequence[Citizen]) -> None:
    """Sex, ethnic group, religion and nationality are codes of their catalogues."""
    sexes = _codes("genders.csv") - {"3"}
    ethnic = {row["code"] for row in _rows("ethnic_groups.csv") if row["official"] == "yes"}
    religions = _codes("religions.csv")
    countries = _codes("countries.csv", "alpha2")
    for citizen in checked:
        assert citizen.sex in sexes
        assert citizen.ethnic_group in ethnic
        assert citizen.religion in religions
        assert citizen.nationality == "VN" and citizen.nationality in countries


@pytest.mark.catalogues
def test_seeded_records_pass_the_catalogue_checks(population: list[Citizen]) -> None:
    """Every code of the 200,000 seeded records, the address included, passes the catalogue checks."""
    view = packaged_view()
    problems = [(c.personal_id, p.message) for c in population for p in check_citizen(c, view)]
    assert problems == []


def test_majorities_are_plausible(population: list[Citizen]) -> None:
    """Most people are Kinh, without religion, and alive."""
    assert 0.75 < sum(c.ethnic_group == "01" for c in population) / MANY < 0.92
    assert 0.78 < sum(c.religion == "00" for c in population) / MANY < 0.94
    assert 0.96 < sum(c.status == "ALIVE" for c in population) / MANY < 0.995
    assert {c.status for c in population} == {"ALIVE", "DECEASED"}


def test_addresses_are_dvhc_2025_communes_of_their_province(checked: Sequence[Citizen]) -> None:
    """Every permanent address is a DVHC-2025 commune that belongs to the address's province."""
    communes = {(row["province_code"], row["ward_code"]) for row in _rows("admin_units_2025.csv")}
    for citizen in checked:
        address = citizen.permanent_address
        assert address.scheme == "DVHC-2025" and address.district_code is None
        assert (address.province_code, address.commune_code) in communes
        assert address.detail


def test_birth_dates_lie_between_1930_and_2024(checked: Sequence[Citizen]) -> None:
    """Nobody is born before 1930 or after 2024."""
    assert min(c.birth_date for c in checked) >= date(1930, 1, 1)
    assert max(c.birth_date for c in checked) <= date(2024, 12, 31)


def test_households_are_consecutive_with_one_head_first(checked: Sequence[Citizen]) -> None:
    """Each household is a run of 1–6 citizens sharing an address, headed by its first member only."""
    relations = _codes("household_relations.csv")
    runs = [list(members) for _, members in groupby(checked, key=lambda c: c.household_id)]
    assert len(runs) == len({run[0].household_id for run in runs})
    for run in runs:
        assert 1 <= len(run) <= 6
        assert [c.household_relation == "01" for c in run] == [True] + [False] * (len(run) - 1)
        assert all(c.household_relation in relations for c in run)
        assert len({c.permanent_address for c in run}) == 1


def test_phones_are_vietnamese_mobiles_and_children_have_none(checked: Sequence[Citizen]) -> None:
    """A phone is a 10-digit mobile number; under-14s have none, and a few adults have none either."""
    under_14 = date(REFERENCE_DAY.year - 14, REFERENCE_DAY.month, REFERENCE_DAY.day)
    for citizen in checked:
        if citizen.phone is not None:
            assert MOBILE.match(citizen.phone), citizen.phone
            assert citizen.birth_date <= under_14
    adults = [c for c in checked if c.birth_date <= under_14]
    missing = sum(c.phone is None for c in adults) / len(adults)
    assert 0.02 < missing < 0.09


def test_provenance_covers_every_field_with_a_known_source(checked: Sequence[Citizen]) -> None:
    """Every disclosable field has a source and a date after the birth and not after the reference day."""
    sources = {CIVIL_STATUS, POPULATION_DB, RESIDENCE, TELECOM}
    for citizen in checked:
        assert set(citizen.provenance) == set(DISCLOSABLE_FIELDS)
        for origin in citizen.provenance.values():
            assert origin.source in sources
            assert citizen.birth_date < origin.updated_on <= REFERENCE_DAY


def test_province_weights_cover_exactly_the_dvhc_2004_provinces() -> None:
    """Birth-registration provinces are drawn from all DVHC-2004 provinces and only from them."""
    assert set(PROVINCE_POPULATION_2004) == PROVINCES_2004


def test_name_data_is_nfc_and_large_enough() -> None:
    """At least 30 surnames and 60 given names per sex, all NFC and distinct, Nguyễn near 38 %."""
    surnames = [name for name, _ in names.SURNAMES]
    lists: list[Sequence[str]] = [
        surnames,
        names.MALE_GIVEN,
        names.FEMALE_GIVEN,
        [name for name, _, _ in names.MALE_MIDDLE],
        [name for name, _, _ in names.FEMALE_MIDDLE],
        names.STREETS,
    ]
    for values in lists:
        assert all(unicodedata.normalize("NFC", value) == value for value in values)
        assert len(set(values)) == len(values)
    assert len(surnames) >= 30 and len(names.MALE_GIVEN) >= 60 and len(names.FEMALE_GIVEN) >= 60
    total = sum(weight for _, weight in names.SURNAMES)
    assert 0.36 < dict(names.SURNAMES)["Nguyễn"] / total < 0.40
