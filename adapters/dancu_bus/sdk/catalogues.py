"""Catalogue labels and the DVHC-2004 → DVHC-2025 commune conversion, for agency systems to display."""

from __future__ import annotations

from dancu_bus.catalogues import Catalogue, CommuneConversion, Label, catalogue_named, packaged_view
from dancu_bus.catalogues import convert_commune as _convert_commune

__all__ = ["convert_commune", "label"]


def label(catalogue: Catalogue | str, code: str, scheme: str | None = None) -> Label | None:
    """A code's name in Vietnamese (and English where the data has one), or None when there is no such code.

    ``label("ethnic_group", "01")`` is Kinh; an administrative code needs its scheme:
    ``label("commune", "00004", "DVHC-2004")`` is Phường Trúc Bạch, in DVHC-2025 it is Phường Ba Đình.
    """
    chosen = catalogue if isinstance(catalogue, Catalogue) else catalogue_named(catalogue)
    return packaged_view().label(chosen, code, scheme)


def convert_commune(code: str) -> CommuneConversion:
    """The DVHC-2025 commune(s) DVHC-2004 commune ``code`` went into, each with its relation kind.

    A split commune gives every candidate (``ambiguous`` is then true); InvalidCode if ``code`` is not a
    DVHC-2004 commune.
    """
    return _convert_commune(code, packaged_view())
