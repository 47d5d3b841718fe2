"""What every SQL backend shares: the citizens table's columns, a citizen ↔ row mapping, packed provenance.

Backends differ only in how a birth date is stored (ISO text in SQLite, a ``date`` in PostgreSQL), so
the mapping takes that conversion as an argument. A row holds one column more than a citizen: the key
its name is found by (``NAME_KEY``), written with every citizen and never read back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from dancu_bus.contracts import Address, Citizen, Provenance
from dancu_bus.errors import StoreError
from dancu_bus.text import folded

__all__ = [
    "COLUMNS",
    "KEYING_BATCH",
    "NAME_INDEX",
    "NAME_KEY",
    "PROVENANCE_FIELDS",
    "WRITTEN",
    "NameIndex",
    "PackedProvenance",
    "corrected",
    "decode_provenance",
    "encode_provenance",
    "from_row",
    "same_day",
    "to_row",
]

# The citizens table of every backend, in this order; personal_id is the primary key.
COLUMNS: tuple[str, ...] = (
    "personal_id",
    "full_name",
    "birth_date",
    "sex",
    "ethnic_group",
    "religion",
    "nationality",
    "address_scheme",
    "address_province",
    "address_district",
    "address_commune",
    "address_detail",
    "household_id",
    "household_relation",
    "phone",
    "status",
    "provenance",
)
# ``text.folded(full_name)``: a name matches whatever Unicode form, letter case or spacing it is typed in.
NAME_KEY = "name_key"
# What ``to_row`` gives and every insert writes: the citizen's columns, then its name key.
WRITTEN: tuple[str, ...] = (*COLUMNS, NAME_KEY)
NAME_INDEX = "citizens_by_name"  # on (name_key, birth_date)
# Rows a store made before the name key had are keyed this many at a time when it is opened.
KEYING_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class NameIndex:
    """How far a citizens table has the name key: the column, its index, every row keyed."""

    column: bool
    index: bool
    keyed: bool

    @property
    def complete(self) -> bool:
        """Whether citizens can be found by name in this table."""
        return self.column and self.index and self.keyed

    def refusal(self, backend: str, why: str) -> str | None:
        """None if complete, else why the table cannot be searched by name (``why`` it was not completed)."""
        if self.complete:
            return None
        missing = "name key column" if not self.column else "name index" if not self.index else "name keys"
        return (
            f"{backend}: this store cannot find citizens by name: it lacks its {missing}, which opening it"
            f" adds, but not this time ({why}); open it once as a role that may alter it"
            " (`dancu-bus store count` will do) and restart"
        )


# Bit i of a stored provenance mask names field i. Append only: reordering would misread stored rows.
PROVENANCE_FIELDS: tuple[str, ...] = (
    "full_name",
    "birth_date",
    "sex",
    "ethnic_group",
    "religion",
    "nationality",
    "permanent_address",
    "household_id",
    "household_relation",
    "phone",
    "status",
)
_BIT = {name: 1 << index for index, name in enumerate(PROVENANCE_FIELDS)}


def corrected(citizen: Citizen, field: str, value: object, provenance: Provenance) -> Citizen:
    """The citizen with ``field`` set to ``value`` and that field's provenance replaced."""
    if field not in _BIT or field == "permanent_address":
        raise StoreError(f"field {field!r} cannot be corrected one value at a time", retriable=False)
    kept = {name: origin for name, origin in citizen.provenance.items() if name != field}
    changes: dict[str, Any] = {field: value, "provenance": {**kept, field: provenance}}
    return dataclasses.replace(citizen, **changes)


def same_day(day: date) -> date:
    """The birth date unchanged, for backends with a native date type."""
    return day


def to_row(c: Citizen, day: Callable[[date], Any]) -> tuple[Any, ...]:
    """The column values of a citizen in ``WRITTEN`` order, the birth date converted by ``day``."""
    a = c.permanent_address
    return (
        c.personal_id, c.full_name, day(c.birth_date), c.sex, c.ethnic_group, c.religion,
        c.nationality, a.scheme, a.province_code, a.district_code, a.commune_code, a.detail,
        c.household_id, c.household_relation, c.phone, c.status, encode_provenance(c.provenance),
        folded(c.full_name),
    )  # fmt: skip


def from_row(row: Iterable[Any], day: Callable[[Any], date]) -> Citizen:
    """The citizen a row in ``COLUMNS`` order describes, the stored birth date read by ``day``."""
    (pid, name, born, sex, ethnic, religion, nationality, scheme, province, district, commune, detail,
     household, relation, phone, status, provenance) = row  # fmt: skip
    return Citizen(
        pid, name, day(born), sex, ethnic, religion, nationality,
        Address(scheme, province, commune, district, detail),
        household, relation, phone, status, PackedProvenance(provenance),
    )  # fmt: skip


class PackedProvenance(Mapping[str, Provenance]):
    """A citizen's provenance as stored, unpacked on first use.

    A VERIFY never reads it and a LOOKUP reads a few fields, while unpacking it for every row fetched
    took as long as the query itself.
    """

    __slots__ = ("_fields", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._fields: dict[str, Provenance] | None = None

    def __getitem__(self, name: str) -> Provenance:
        return self._unpacked()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._unpacked())

    def __len__(self) -> int:
        return len(self._unpacked())

    def __repr__(self) -> str:
        return f"PackedProvenance({self._text!r})"

    def _unpacked(self) -> dict[str, Provenance]:
        if self._fields is None:
            self._fields = decode_provenance(self._text)
        return self._fields


# Packed provenance is "SOURCE|YYYY-MM-DD|mask;..." where the hex mask names the fields that
# (source, date) pair covers: a citizen's eleven fields come from a handful of pairs, so this stays short.


def encode_provenance(provenance: Mapping[str, Provenance]) -> str:
    """Group fields by their (source, date): ``SOURCE|YYYY-MM-DD|hex mask of the fields`` joined by ``;``."""
    # Keyed by identity: cheap, and citizens of one household or registration share Provenance objects.
    groups: dict[int, tuple[Provenance, int]] = {}
    for name, origin in provenance.items():
        bit = _BIT.get(name)
        if bit is None:
            raise StoreError(f"no provenance slot for field {name!r}", retriable=False)
        mask = groups[id(origin)][1] if id(origin) in groups else 0
        groups[id(origin)] = (origin, mask | bit)
    return ";".join(
        f"{_checked(p.source)}|{p.updated_on.isoformat()}|{mask:x}" for p, mask in groups.values()
    )


def decode_provenance(text: str) -> dict[str, Provenance]:
    """The field → provenance mapping that ``encode_provenance`` packed."""
    provenance: dict[str, Provenance] = {}
    for group in text.split(";") if text else ():
        provenance.update(_decode_group(group))
    return provenance


@lru_cache(maxsize=65536)  # groups repeat across citizens (a household's registration, a day's births)
def _decode_group(group: str) -> tuple[tuple[str, Provenance], ...]:
    source, day, mask = group.split("|")
    origin = Provenance(source, date.fromisoformat(day))
    return tuple((name, origin) for name, bit in _BIT.items() if int(mask, 16) & bit)


@lru_cache(maxsize=1024)
def _checked(source: str) -> str:
    if not source or ";" in source or "|" in source:
        raise StoreError(f"provenance source {source!r} is empty or contains ';' or '|'", retriable=False)
    return source
