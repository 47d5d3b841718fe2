"""Catalogue entries from the CSV files shipped in ``dancu_bus/data/catalogues`` (see its README.md).

Every code is taken from the files as they are; the few corrections and additions the project makes
are the named tables below, each with its reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TypeVar

from dancu_bus.catalogues.model import (
    BHYT,
    DVHC_2004,
    DVHC_2004_FROM,
    DVHC_2004_TO,
    DVHC_2025,
    DVHC_2025_FROM,
    ISO_3166,
    PROVISIONAL,
    TCTK_1979,
    Catalogue,
    CatalogueEntry,
    Relation,
    Successor,
)

__all__ = [
    "CONVERSION_FIXES",
    "NATIONALITY_ADDITIONS",
    "PROVINCE_RENAMES_2026",
    "data_directory",
    "load_entries",
    "read_rows",
]

Rows = list[dict[str, str]]
_V = TypeVar("_V")

# In 2026 these DVHC-2025 provinces became "Thành phố" (centrally-run cities); codes did not change.
PROVINCE_RENAMES_2026: Mapping[str, str] = {
    "22": "Thành phố Quảng Ninh",
    "24": "Thành phố Bắc Ninh",
    "75": "Thành phố Đồng Nai",
}
# Rows of the conversion table that print another commune's code: each row's own old_ward_name, and
# the DVHC-2004 list, give the right one. Left as printed, 01651 Mỹ Hưng and 02482 Phú Thịnh would have
# no DVHC-2025 commune, and 01615, 02485 and 00553 would gain a candidate they never went into.
# Keyed by (code as printed, name as printed, new commune code) → the code of that name.
CONVERSION_FIXES: Mapping[tuple[str, str, str], str] = {
    ("00553", "Xã Đặng Xá", "00562"): "00556",
    ("01615", "Xã Mỹ Hưng", "01648"): "01651",
    ("02485", "Xã Phú Thịnh", "02494"): "02482",
}
# Nationality values ISO 3166-1 lacks, in its user-assigned range; ICAO 9303 codes as alternates.
NATIONALITY_ADDITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("XX", "XXA", "Không quốc tịch", "Stateless"),
    ("ZZ", "XXX", "Chưa xác định quốc tịch", "Nationality unknown"),
)


def data_directory() -> Traversable:
    """The packaged copy of the shared catalogue files."""
    return files("dancu_bus") / "data" / "catalogues"


def read_rows(name: str, directory: Traversable | None = None) -> Rows:
    """The rows of one catalogue CSV as dictionaries keyed by its header."""
    text = ((directory or data_directory()) / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def load_entries(directory: Traversable | None = None) -> tuple[CatalogueEntry, ...]:
    """Every entry of the eleven catalogues, catalogue by catalogue, in file order."""
    if directory is None:
        return _packaged_entries()
    return tuple(_all_entries(lambda name: read_rows(name, directory)))


@cache
def _packaged_entries() -> tuple[CatalogueEntry, ...]:
    """The packaged entries, read once per process."""
    return tuple(_all_entries(read_rows))


def _all_entries(rows: Callable[[str], Rows]) -> Iterator[CatalogueEntry]:
    """Entries of every catalogue, built from the CSVs ``rows`` reads."""
    yield from _simple(Catalogue.BLOOD_GROUP, rows("blood_groups.csv"))
    yield from _simple(Catalogue.GENDER, rows("genders.csv"))
    yield from _ethnic_groups(rows("ethnic_groups.csv"))
    yield from _simple(Catalogue.RELIGION, rows("religions.csv"))
    yield from _simple(Catalogue.MARITAL_STATUS, rows("marital_statuses.csv"))
    countries = rows("countries.csv")
    yield from _countries(Catalogue.NATIONALITY, countries)
    yield from _nationality_additions()
    yield from _countries(Catalogue.COUNTRY, countries)
    units_2004 = rows("admin_units_2004.csv")
    units_2025 = rows("admin_units_2025.csv")
    successors = _successors(rows("admin_units_2004_to_2025.csv"))
    yield from _provinces(units_2004, units_2025)
    yield from _districts(units_2004, successors)
    yield from _communes_2004(units_2004, successors)
    yield from _communes_2025(units_2025)
    yield from _simple(Catalogue.HOUSEHOLD_RELATION, rows("household_relations.csv"))


def _simple(catalogue: Catalogue, rows: Rows) -> Iterator[CatalogueEntry]:
    """A ``code,name,code_status`` catalogue: provisional project codes or a published standard."""
    for row in rows:
        provisional = row["code_status"] == "provisional"
        yield CatalogueEntry(
            catalogue=catalogue,
            scheme=PROVISIONAL if provisional else BHYT,
            code=row["code"],
            name_vi=row["name"],
            provisional=provisional,
            # The religion list is the state's; only its numbering is the project's.
            official=not provisional or catalogue is Catalogue.RELIGION,
        )


def _ethnic_groups(rows: Rows) -> Iterator[CatalogueEntry]:
    """The 54 official groups of the 1979 decision, and the flagged extension codes after them."""
    for row in rows:
        official = row["official"] == "yes"
        yield CatalogueEntry(
            catalogue=Catalogue.ETHNIC_GROUP,
            scheme=TCTK_1979,
            code=row["code"],
            name_vi=row["name"],
            official=official,
            provisional=not official,
        )


def _countries(catalogue: Catalogue, rows: Rows) -> Iterator[CatalogueEntry]:
    """ISO 3166-1 countries keyed by alpha-2, with alpha-3 and numeric codes as alternates."""
    for row in rows:
        yield CatalogueEntry(
            catalogue=catalogue,
            scheme=ISO_3166,
            code=row["alpha2"],
            name_vi=row["name_vi"],
            name_en=row["name_en"] or None,
            alternate_codes=(row["alpha3"], row["numeric"]),
        )


def _nationality_additions() -> Iterator[CatalogueEntry]:
    """Stateless and unknown nationality: the project's own codes until a national one exists."""
    for alpha2, icao, name_vi, name_en in NATIONALITY_ADDITIONS:
        yield CatalogueEntry(
            catalogue=Catalogue.NATIONALITY,
            scheme=ISO_3166,
            code=alpha2,
            name_vi=name_vi,
            name_en=name_en,
            alternate_codes=(icao,),
            provisional=True,
            official=False,
        )


def _successors(rows: Rows) -> dict[str, list[Successor]]:
    """DVHC-2025 successors keyed by DVHC-2004 commune code, or by district code for whole districts.

    Rows with neither a commune code nor a name are island districts that had no communes and
    became special zones; the one row naming an area but no code (Kim Sơn's coastal land) is not an
    administrative unit and has nothing to attach to, so it is left out. The table's old province
    codes are not used (two are wrong); a unit's province is the one of the DVHC-2004 list.
    """
    found: dict[str, list[Successor]] = {}
    for row in rows:
        code = row["old_ward_code"]
        if not code and row["old_ward_name"]:
            continue
        old = (
            CONVERSION_FIXES.get((code, row["old_ward_name"], row["new_ward_code"]), code)
            or row["old_district_code"]
        )
        successor = Successor(
            DVHC_2025, row["new_ward_code"], Relation(row["relation"]), row["relation_text"]
        )
        found.setdefault(old, []).append(successor)
    return found


def _provinces(units_2004: Rows, units_2025: Rows) -> Iterator[CatalogueEntry]:
    """The 63 DVHC-2004 provinces, then the 34 DVHC-2025 provinces with their 2026 names."""
    for code, name in _unique((r["province_code"], r["province_name"]) for r in units_2004):
        yield CatalogueEntry(
            Catalogue.PROVINCE,
            DVHC_2004,
            code,
            name,
            effective_from=DVHC_2004_FROM,
            effective_to=DVHC_2004_TO,
        )
    for code, name in _unique((r["province_code"], r["province_name"]) for r in units_2025):
        renamed = PROVINCE_RENAMES_2026.get(code)
        yield CatalogueEntry(
            Catalogue.PROVINCE,
            DVHC_2025,
            code,
            renamed or name,
            former_names=(name,) if renamed else (),
            effective_from=DVHC_2025_FROM,
        )


def _districts(units_2004: Rows, successors: Mapping[str, list[Successor]]) -> Iterator[CatalogueEntry]:
    """The 696 DVHC-2004 districts; island districts without communes carry their special zone."""
    pairs = ((r["district_code"], (r["district_name"], r["province_code"])) for r in units_2004)
    for code, (name, province) in _unique(pairs):
        yield CatalogueEntry(
            Catalogue.DISTRICT,
            DVHC_2004,
            code,
            name,
            province_code=province,
            effective_from=DVHC_2004_FROM,
            effective_to=DVHC_2004_TO,
            successors=tuple(successors.get(code, ())),
        )


def _communes_2004(units: Rows, successors: Mapping[str, list[Successor]]) -> Iterator[CatalogueEntry]:
    """The 10,035 DVHC-2004 communes, each with the DVHC-2025 communes it went into."""
    for row in units:
        if not row["ward_code"]:
            continue  # a district with no communes (an island district)
        yield CatalogueEntry(
            Catalogue.COMMUNE,
            DVHC_2004,
            row["ward_code"],
            row["ward_name"],
            province_code=row["province_code"],
            district_code=row["district_code"],
            effective_from=DVHC_2004_FROM,
            effective_to=DVHC_2004_TO,
            successors=tuple(successors.get(row["ward_code"], ())),
        )


def _communes_2025(units: Rows) -> Iterator[CatalogueEntry]:
    """The 3,321 DVHC-2025 communes (xã, phường, đặc khu) of the 34 provinces."""
    for row in units:
        yield CatalogueEntry(
            Catalogue.COMMUNE,
            DVHC_2025,
            row["ward_code"],
            row["ward_name"],
            province_code=row["province_code"],
            unit_type=row["ward_type"],
            effective_from=DVHC_2025_FROM,
        )


def _unique(pairs: Iterator[tuple[str, _V]]) -> Iterator[tuple[str, _V]]:
    """The first value of each key, in order of first appearance."""
    seen: dict[str, _V] = {}
    for key, value in pairs:
        seen.setdefault(key, value)
    return iter(seen.items())
