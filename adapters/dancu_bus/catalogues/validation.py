"""Is a code (an address, a stored record) a code of its catalogue, read in its scheme? Pure.

The SDK runs these checks before it produces a request, the resolver before it answers one; both
name the field and the scheme, e.g. ``ethnic_group: 99 is not a TCTK-1979 code of the ethnic group
catalogue`` or ``permanent_address.district_code: DVHC-2025 has no districts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dancu_bus.catalogues.model import ADDRESS_SCHEMES, DEFAULT_SCHEME, DVHC_2004, Catalogue, CatalogueEntry
from dancu_bus.catalogues.view import CatalogueView
from dancu_bus.contracts import Address, Citizen
from dancu_bus.text import quoted, shown

__all__ = ["CITIZEN_CODES", "CodeProblem", "check_address", "check_citizen", "check_code"]

# The fields of a citizen whose values are codes, and their catalogues.
CITIZEN_CODES: Mapping[str, Catalogue] = {
    "sex": Catalogue.GENDER,
    "ethnic_group": Catalogue.ETHNIC_GROUP,
    "religion": Catalogue.RELIGION,
    "nationality": Catalogue.NATIONALITY,
    "household_relation": Catalogue.HOUSEHOLD_RELATION,
}


@dataclass(frozen=True, slots=True)
class CodeProblem:
    """A code its catalogue does not have: the field (dotted path), the scheme and what is wrong."""

    field: str
    scheme: str | None
    detail: str

    @property
    def message(self) -> str:
        """``field: detail``, the text a rejection or an exception carries."""
        return f"{self.field}: {self.detail}"


def check_code(view: CatalogueView, field: str, catalogue: Catalogue, code: str) -> CodeProblem | None:
    """A problem when ``code`` is not in ``catalogue``, read in the catalogue's default scheme."""
    scheme = DEFAULT_SCHEME[catalogue]
    if view.get(catalogue, code, scheme) is not None:
        return None
    return CodeProblem(
        field, scheme, f"{shown(code)} is not a {scheme} code of the {catalogue.noun} catalogue"
    )


def check_address(view: CatalogueView, field: str, address: Address) -> CodeProblem | None:
    """The first problem of an address: its scheme, province, district (DVHC-2004 only), commune."""
    scheme = address.scheme
    if scheme not in ADDRESS_SCHEMES:
        known = " or ".join(ADDRESS_SCHEMES)
        return CodeProblem(
            f"{field}.scheme", None, f"{quoted(scheme, 32)} is not an address scheme ({known})"
        )
    if view.get(Catalogue.PROVINCE, address.province_code, scheme) is None:
        return CodeProblem(
            f"{field}.province_code", scheme, f"{shown(address.province_code)} is not a {scheme} province"
        )
    return _check_district(view, field, address) or _check_commune(view, field, address)


def _check_district(view: CatalogueView, field: str, address: Address) -> CodeProblem | None:
    """A district is only of DVHC-2004, and must lie in the address's province."""
    code, scheme = address.district_code, address.scheme
    if code is None:
        return None
    where = f"{field}.district_code"
    if scheme != DVHC_2004:
        return CodeProblem(where, scheme, f"{scheme} has no districts")
    district = view.get(Catalogue.DISTRICT, code, scheme)
    if district is None:
        return CodeProblem(where, scheme, f"{shown(code)} is not a {scheme} district")
    return _outside(where, district, "province", district.province_code, address.province_code)


def _check_commune(view: CatalogueView, field: str, address: Address) -> CodeProblem | None:
    """The commune exists in the address's scheme and lies in its province (and district)."""
    code, scheme, where = address.commune_code, address.scheme, f"{field}.commune_code"
    commune = view.get(Catalogue.COMMUNE, code, scheme)
    if commune is None:
        return CodeProblem(where, scheme, f"{shown(code)} is not a {scheme} commune")
    outside = _outside(where, commune, "province", commune.province_code, address.province_code)
    if outside is None and address.district_code is not None:
        outside = _outside(where, commune, "district", commune.district_code, address.district_code)
    return outside


def _outside(
    where: str, entry: CatalogueEntry, level: str, actual: str | None, given: str
) -> CodeProblem | None:
    """A problem when ``entry`` lies in another ``level`` than the address says."""
    if actual == given:
        return None
    unit = entry.catalogue.noun
    detail = f"{entry.code} is a {entry.scheme} {unit} of {level} {actual}, not of {level} {shown(given)}"
    return CodeProblem(where, entry.scheme, detail)


def check_citizen(citizen: Citizen, view: CatalogueView) -> list[CodeProblem]:
    """Every code problem of a stored record (the synthetic population must have none)."""
    problems = [
        check_code(view, field, catalogue, getattr(citizen, field))
        for field, catalogue in CITIZEN_CODES.items()
    ]
    problems.append(check_address(view, "permanent_address", citizen.permanent_address))
    return [p for p in problems if p is not None]
