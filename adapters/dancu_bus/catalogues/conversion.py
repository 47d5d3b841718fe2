"""DVHC-2004 ⇄ DVHC-2025: which commune(s) a commune became, and an address moved between schemes.

The statistics office's table links each old commune to the new commune(s) it went into. Old → new
is 1→N when an old commune was split (a partial merge): every candidate is returned and flagged, never
guessed. New → old is N→1 by nature. Where one address must be given (a LOOKUP answer), the rule
in ``convert_address`` picks one and the others travel with it as alternatives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dancu_bus.catalogues.model import DVHC_2004, DVHC_2025, Catalogue, CatalogueEntry, Relation
from dancu_bus.catalogues.view import CatalogueView
from dancu_bus.contracts import Address
from dancu_bus.errors import InvalidCode

__all__ = [
    "AddressConversion",
    "Candidate",
    "CommuneConversion",
    "convert_address",
    "convert_commune",
    "unconvertible_communes",
]

_KEEPS_WHOLE = frozenset({Relation.WHOLE, Relation.UNCHANGED, Relation.RENAMED})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A commune of the other scheme, with how the source went into it (or came from it)."""

    commune: CatalogueEntry
    relation: Relation
    note: str = ""


@dataclass(frozen=True, slots=True)
class CommuneConversion:
    """A DVHC-2004 commune and every DVHC-2025 commune it went into."""

    source: CatalogueEntry
    candidates: tuple[Candidate, ...]

    @property
    def converted(self) -> bool:
        """Whether the data gives the commune any DVHC-2025 counterpart."""
        return bool(self.candidates)

    @property
    def ambiguous(self) -> bool:
        """Whether the commune was split over several new communes, so its people may be in any."""
        return len(self.candidates) > 1

    @property
    def kind(self) -> Relation | None:
        """The single candidate's relation; ``partial`` when split; None when not converted."""
        if not self.candidates:
            return None
        return Relation.PARTIAL if self.ambiguous else self.candidates[0].relation


@dataclass(frozen=True, slots=True)
class AddressConversion:
    """An address in the scheme asked for, where it came from, and the other possible addresses."""

    address: Address
    converted_from: Address | None = None
    alternatives: tuple[Address, ...] = ()


def convert_commune(code: str, view: CatalogueView) -> CommuneConversion:
    """The DVHC-2025 commune(s) DVHC-2004 commune ``code`` went into; InvalidCode if it is not one."""
    source = view.get(Catalogue.COMMUNE, code, DVHC_2004)
    if source is None:
        raise InvalidCode("commune", f"{code} is not a {DVHC_2004} commune", DVHC_2004)
    candidates = tuple(
        Candidate(commune, successor.relation, successor.note)
        for successor in source.successors
        if (commune := view.get(Catalogue.COMMUNE, successor.code, successor.scheme)) is not None
    )
    return CommuneConversion(source, candidates)


def unconvertible_communes(view: CatalogueView) -> tuple[CatalogueEntry, ...]:
    """The DVHC-2004 communes the conversion table gives no DVHC-2025 commune."""
    return tuple(e for e in view.entries(Catalogue.COMMUNE, DVHC_2004) if not e.successors)


def convert_address(address: Address, scheme: str, view: CatalogueView) -> AddressConversion:
    """``address`` in ``scheme``: one commune by the rule of ``_choose``, the other candidates alongside.

    An address already in ``scheme``, or one whose commune has no counterpart there (the special
    zones that were whole island districts without communes in DVHC-2004), is returned as it is:
    its ``scheme`` then says it was not converted.
    """
    if address.scheme == scheme:
        return AddressConversion(address)
    commune = view.get(Catalogue.COMMUNE, address.commune_code, address.scheme)
    if commune is None:
        return AddressConversion(address)
    candidates = _later(commune, view) if scheme == DVHC_2025 else _earlier(commune, view)
    if not candidates:
        return AddressConversion(address)
    chosen, *others = _choose(commune.code, candidates)
    return AddressConversion(
        _address(chosen.commune, address.detail),
        converted_from=address,
        alternatives=tuple(_address(c.commune, address.detail) for c in others),
    )


def _later(commune: CatalogueEntry, view: CatalogueView) -> list[Candidate]:
    """The DVHC-2025 communes a DVHC-2004 commune went into."""
    if commune.scheme != DVHC_2004:
        return []
    return list(convert_commune(commune.code, view).candidates)


def _earlier(commune: CatalogueEntry, view: CatalogueView) -> list[Candidate]:
    """The DVHC-2004 communes that went into a DVHC-2025 commune."""
    return [Candidate(old, link.relation, link.note) for old, link in view.predecessors(commune)]


def _choose(code: str, candidates: Iterable[Candidate]) -> list[Candidate]:
    """Candidates, the chosen one first: the documented rule of a 1→N conversion.

    1. the commune with the same code: the reform numbered each new commune after one of the
       communes merged into it, so the same code marks the unit that continued;
    2. else the first commune that went (or came) whole, unchanged or renamed;
    3. else the lowest code. The others follow in code order.
    """
    ordered = sorted(candidates, key=lambda c: c.commune.code)
    same = [c for c in ordered if c.commune.code == code]
    whole = [c for c in ordered if c.relation in _KEEPS_WHOLE]
    chosen = (same or whole or ordered)[0]
    return [chosen, *(c for c in ordered if c is not chosen)]


def _address(commune: CatalogueEntry, detail: str | None) -> Address:
    """An address at ``commune`` in the commune's own scheme."""
    assert commune.province_code is not None  # every commune entry names its province
    return Address(commune.scheme, commune.province_code, commune.code, commune.district_code, detail)
