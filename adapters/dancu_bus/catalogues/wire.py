"""Catalogue entries to and from the Avro ``vn.dancu.CatalogueEntry`` of ``schemas/catalogue_entry.avsc``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dancu_bus.catalogues.model import Catalogue, CatalogueEntry, Relation, Successor
from dancu_bus.codec import Codec

__all__ = ["CATALOGUE_ENTRY", "decode_entry", "encode_entry"]

CATALOGUE_ENTRY = "vn.dancu.CatalogueEntry"


def encode_entry(codec: Codec, entry: CatalogueEntry) -> bytes:
    """CatalogueEntry → single-object bytes."""
    return codec.schemas.encode(CATALOGUE_ENTRY, _record(entry))


def decode_entry(codec: Codec, data: bytes | None) -> CatalogueEntry:
    """Single-object bytes → CatalogueEntry, or CodecError."""
    return codec.schemas.decode_as(CATALOGUE_ENTRY, data, _entry)


def _record(entry: CatalogueEntry) -> dict[str, Any]:
    return {
        "catalogue": entry.catalogue.value,
        "scheme": entry.scheme,
        "code": entry.code,
        "name_vi": entry.name_vi,
        "name_en": entry.name_en,
        "province_code": entry.province_code,
        "district_code": entry.district_code,
        "unit_type": entry.unit_type,
        "alternate_codes": list(entry.alternate_codes),
        "former_names": list(entry.former_names),
        "effective_from": entry.effective_from,
        "effective_to": entry.effective_to,
        "provisional": entry.provisional,
        "official": entry.official,
        "replaced_by": entry.replaced_by,
        "successors": [
            {"scheme": s.scheme, "code": s.code, "relation": s.relation.value, "note": s.note}
            for s in entry.successors
        ],
    }


def _entry(record: Mapping[str, Any]) -> CatalogueEntry:
    return CatalogueEntry(
        catalogue=Catalogue(record["catalogue"]),
        scheme=record["scheme"],
        code=record["code"],
        name_vi=record["name_vi"],
        name_en=record["name_en"],
        province_code=record["province_code"],
        district_code=record["district_code"],
        unit_type=record["unit_type"],
        alternate_codes=tuple(record["alternate_codes"]),
        former_names=tuple(record["former_names"]),
        effective_from=record["effective_from"],
        effective_to=record["effective_to"],
        provisional=record["provisional"],
        official=record["official"],
        replaced_by=record["replaced_by"],
        successors=tuple(
            Successor(s["scheme"], s["code"], Relation(s["relation"]), s["note"])
            for s in record["successors"]
        ),
    )
