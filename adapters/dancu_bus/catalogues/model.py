"""The shared catalogues of Art. 6 (danh mục dùng chung) as plain values: entries, schemes, relations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "ADDRESS_SCHEMES",
    "BHYT",
    "DEFAULT_SCHEME",
    "DVHC_2004",
    "DVHC_2004_FROM",
    "DVHC_2004_TO",
    "DVHC_2025",
    "DVHC_2025_FROM",
    "ISO_3166",
    "PROVISIONAL",
    "TCTK_1979",
    "Catalogue",
    "CatalogueEntry",
    "Label",
    "Relation",
    "Successor",
    "entry_key",
]

# Administrative-unit schemes (đơn vị hành chính): Decision 124/2004/QĐ-TTg and Decision 19/2025/QĐ-TTg.
DVHC_2004 = "DVHC-2004"
DVHC_2025 = "DVHC-2025"
ADDRESS_SCHEMES = (DVHC_2025, DVHC_2004)
DVHC_2004_FROM = date(2004, 7, 8)  # the date of Decision 124/2004; many units were created later
DVHC_2004_TO = date(2025, 6, 30)
DVHC_2025_FROM = date(2025, 7, 1)
# Other schemes: ISO 3166-1, the statistics office's 1979 ethnic list, the health-insurance data
# standard (bảo hiểm y tế), and this project's own codes until the national specification exists.
ISO_3166 = "ISO-3166-1"
TCTK_1979 = "TCTK-1979"
BHYT = "BHYT"
PROVISIONAL = "DANCU-PROVISIONAL"


class Catalogue(StrEnum):
    """The eleven catalogues; the value is the suffix of the catalogue's topic."""

    BLOOD_GROUP = "blood-group"
    GENDER = "gender"
    ETHNIC_GROUP = "ethnic-group"
    RELIGION = "religion"
    MARITAL_STATUS = "marital-status"
    NATIONALITY = "nationality"
    COUNTRY = "country"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"
    HOUSEHOLD_RELATION = "household-relation"

    @property
    def noun(self) -> str:
        """The catalogue's name in an English sentence, e.g. ``ethnic group``."""
        return self.value.replace("-", " ")

    @property
    def administrative(self) -> bool:
        """Whether its codes belong to a DVHC scheme, so a code means nothing without its scheme."""
        return self in (Catalogue.PROVINCE, Catalogue.DISTRICT, Catalogue.COMMUNE)


# The scheme a bare code (one sent without a scheme, like ``sex`` or ``ethnic_group``) is read in.
DEFAULT_SCHEME: dict[Catalogue, str] = {
    Catalogue.BLOOD_GROUP: PROVISIONAL,
    Catalogue.GENDER: BHYT,
    Catalogue.ETHNIC_GROUP: TCTK_1979,
    Catalogue.RELIGION: PROVISIONAL,
    Catalogue.MARITAL_STATUS: PROVISIONAL,
    Catalogue.NATIONALITY: ISO_3166,
    Catalogue.COUNTRY: ISO_3166,
    Catalogue.PROVINCE: DVHC_2025,
    Catalogue.DISTRICT: DVHC_2004,
    Catalogue.COMMUNE: DVHC_2025,
    Catalogue.HOUSEHOLD_RELATION: PROVISIONAL,
}


class Relation(StrEnum):
    """How a DVHC-2004 commune went into a DVHC-2025 commune (the statistics office's table)."""

    WHOLE = "whole"  # nhập toàn bộ: all of it merged into the new commune
    PARTIAL = "partial"  # nhập một phần: part of it; the rest went elsewhere
    UNCHANGED = "unchanged"  # giữ nguyên: same unit, same code
    RENAMED = "renamed"  # đổi tên / đổi loại hình: same unit, new name or type


def entry_key(scheme: str, code: str) -> str:
    """The record key of a catalogue entry: ``scheme:code``, e.g. ``DVHC-2004:00004``."""
    return f"{scheme}:{code}"


@dataclass(frozen=True, slots=True)
class Successor:
    """A unit of a later scheme that (part of) this unit became."""

    scheme: str
    code: str
    relation: Relation
    note: str = ""

    @property
    def key(self) -> str:
        """The successor's entry key."""
        return entry_key(self.scheme, self.code)


@dataclass(frozen=True, slots=True)
class Label:
    """A code's display name in Vietnamese, and in English where the data has one."""

    vi: str
    en: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One code of one catalogue in one scheme, with its names, parents, dates and status flags."""

    catalogue: Catalogue
    scheme: str
    code: str
    name_vi: str
    name_en: str | None = None
    province_code: str | None = None
    district_code: str | None = None
    unit_type: str | None = None
    alternate_codes: tuple[str, ...] = ()
    former_names: tuple[str, ...] = ()
    effective_from: date | None = None
    effective_to: date | None = None
    provisional: bool = False
    official: bool = True
    replaced_by: str | None = None
    successors: tuple[Successor, ...] = ()

    @property
    def key(self) -> str:
        """``scheme:code``, the entry's record key on its topic."""
        return entry_key(self.scheme, self.code)

    @property
    def label(self) -> Label:
        """The entry's display name."""
        return Label(self.name_vi, self.name_en)

    def in_force(self, day: date) -> bool:
        """Whether the code is in force on ``day`` (open-ended dates count as always)."""
        started = self.effective_from is None or self.effective_from <= day
        return started and (self.effective_to is None or day <= self.effective_to)
