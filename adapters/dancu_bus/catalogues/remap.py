"""Remapping provisional codes to national ones without breaking stored records.

A record keeps the code it was written with. When the national specification gives a provisional code
its national code, the provisional entry stays on its topic, closed the day before and pointing at
the national entry (``replaced_by``), and the national entry is added: old records still validate
and ``CatalogueView.current`` tells what they now mean.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from dancu_bus.catalogues.model import Catalogue, CatalogueEntry, entry_key
from dancu_bus.catalogues.view import catalogue_named
from dancu_bus.errors import ConfigError

__all__ = ["REMAP_COLUMNS", "Remap", "apply_remaps", "parse_remaps"]

REMAP_COLUMNS = ("catalogue", "code", "national_scheme", "national_code", "effective_on")


@dataclass(frozen=True, slots=True)
class Remap:
    """One row of the remap table: a provisional code and the national code that replaces it."""

    catalogue: Catalogue
    code: str
    national_scheme: str
    national_code: str
    effective_on: date


def parse_remaps(text: str, source: str = "remap table") -> list[Remap]:
    """Read a remap table (CSV with the ``REMAP_COLUMNS`` header); ConfigError names a bad row."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != REMAP_COLUMNS:
        raise ConfigError(f"{source}: the header must be {','.join(REMAP_COLUMNS)}")
    remaps = []
    for line, row in enumerate(reader, start=2):
        try:
            remaps.append(_remap(row))
        except ValueError as exc:
            raise ConfigError(f"{source} line {line}: {exc}") from exc
    return remaps


def _remap(row: Mapping[str, str]) -> Remap:
    """One row as a Remap; ValueError when a column is empty or malformed."""
    if not all(row.get(column) for column in REMAP_COLUMNS):
        raise ValueError(f"every column is required: {dict(row)}")
    return Remap(
        catalogue_named(row["catalogue"]),
        row["code"],
        row["national_scheme"],
        row["national_code"],
        date.fromisoformat(row["effective_on"]),
    )


def apply_remaps(entries: Iterable[CatalogueEntry], remaps: Iterable[Remap]) -> list[CatalogueEntry]:
    """The entries with each remapped provisional code closed and followed by its national entry."""
    table = {(r.catalogue, r.code): r for r in remaps}
    result = list(_remapped(entries, table))
    missing = sorted(f"{c.value}:{code}" for c, code in table.keys() - _provisional_codes(result))
    if missing:
        raise ConfigError(f"remaps name codes that are not provisional codes of their catalogue: {missing}")
    return result


def _provisional_codes(entries: Iterable[CatalogueEntry]) -> set[tuple[Catalogue, str]]:
    return {(e.catalogue, e.code) for e in entries if e.provisional}


def _remapped(
    entries: Iterable[CatalogueEntry], table: Mapping[tuple[Catalogue, str], Remap]
) -> Iterator[CatalogueEntry]:
    """Each entry as it is, or closed and followed by its national replacement."""
    for entry in entries:
        remap = table.get((entry.catalogue, entry.code)) if entry.provisional else None
        if remap is None:
            yield entry
            continue
        national = entry_key(remap.national_scheme, remap.national_code)
        closed = remap.effective_on - timedelta(days=1)
        yield dataclasses.replace(entry, replaced_by=national, effective_to=closed)
        yield dataclasses.replace(
            entry,
            scheme=remap.national_scheme,
            code=remap.national_code,
            provisional=False,
            official=True,
            effective_from=remap.effective_on,
            effective_to=None,
            replaced_by=None,
        )
