"""The catalogue entries built from the packaged CSVs: counts, keys, schemes, flags, labels, wire form."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from datetime import date
from pathlib import Path

import avro.io
import avro.schema
import pytest

import dancu_bus
from dancu_bus.catalogues import (
    DVHC_2004,
    DVHC_2025,
    Catalogue,
    CatalogueEntry,
    CatalogueView,
    Remap,
    apply_remaps,
    catalogue_named,
    decode_entry,
    encode_entry,
    load_entries,
    packaged_view,
    parse_remaps,
)
from dancu_bus.catalogues.live import LiveCatalogues
from dancu_bus.errors import CodecError, ConfigError
from dancu_bus.operations import platform_codec
from dancu_bus.resolver.catalogues import catalogue_source
from dancu_bus.sdk import label
from dancu_bus.settings import ResolverSettings, Settings
from tests.unit import samples

pytestmark = pytest.mark.catalogues

DATA = Path(dancu_bus.__file__).resolve().parent / "data" / "catalogues"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CODEC = platform_codec()
VIEW = packaged_view()


def rows(name: str) -> list[dict[str, str]]:
    """A CSV's rows, read independently of the loader."""
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("catalogue", "scheme", "count"),
    [
        (Catalogue.PROVINCE, DVHC_2004, 63),
        (Catalogue.DISTRICT, DVHC_2004, 696),
        (Catalogue.COMMUNE, DVHC_2004, 10_035),
        (Catalogue.PROVINCE, DVHC_2025, 34),
        (Catalogue.COMMUNE, DVHC_2025, 3_321),
        (Catalogue.DISTRICT, DVHC_2025, 0),
        (Catalogue.COUNTRY, None, 250),
        (Catalogue.NATIONALITY, None, 252),
        (Catalogue.ETHNIC_GROUP, None, 55),
        (Catalogue.RELIGION, None, 17),
        (Catalogue.GENDER, None, 3),
        (Catalogue.MARITAL_STATUS, None, 5),
        (Catalogue.BLOOD_GROUP, None, 12),
        (Catalogue.HOUSEHOLD_RELATION, None, 44),
    ],
)
def test_counts_match_the_data(catalogue: Catalogue, scheme: str | None, count: int) -> None:
    """Each catalogue (and scheme) holds exactly as many codes as the data has rows."""
    assert VIEW.count(catalogue, scheme) == count


def test_keys_are_unique_within_each_catalogue() -> None:
    """No two entries of one catalogue share a scheme:code key, so a compacted topic keeps them all."""
    keys = Counter((e.catalogue, e.key) for e in load_entries())
    assert [k for k, n in keys.items() if n > 1] == []
    assert sum(keys.values()) == len(VIEW) == 14_787


def test_the_same_code_means_different_units_in_each_scheme() -> None:
    """Commune 00004 is Trúc Bạch in DVHC-2004 and Ba Đình in DVHC-2025; province 79 exists in both."""
    old = VIEW.get(Catalogue.COMMUNE, "00004", DVHC_2004)
    new = VIEW.get(Catalogue.COMMUNE, "00004", DVHC_2025)
    assert old is not None and new is not None
    assert (old.key, old.name_vi, old.district_code) == ("DVHC-2004:00004", "Phường Trúc Bạch", "001")
    assert (new.key, new.name_vi, new.district_code) == ("DVHC-2025:00004", "Phường Ba Đình", None)
    assert old.in_force(date(2025, 6, 30)) and not old.in_force(date(2025, 7, 1))
    assert new.in_force(date(2025, 7, 1)) and not new.in_force(date(2025, 6, 30))
    assert VIEW.get(Catalogue.PROVINCE, "79", DVHC_2004) != VIEW.get(Catalogue.PROVINCE, "79", DVHC_2025)


def test_every_commune_and_district_names_existing_parents() -> None:
    """Every commune's province (and DVHC-2004 district) is an entry of the same scheme."""
    for commune in VIEW.entries(Catalogue.COMMUNE):
        assert commune.province_code and VIEW.get(Catalogue.PROVINCE, commune.province_code, commune.scheme)
        if commune.scheme == DVHC_2004:
            district = VIEW.get(Catalogue.DISTRICT, commune.district_code or "", DVHC_2004)
            assert district is not None and district.province_code == commune.province_code
    for district in VIEW.entries(Catalogue.DISTRICT):
        assert VIEW.get(Catalogue.PROVINCE, district.province_code or "", DVHC_2004)


def test_ethnic_groups_are_54_official_and_a_flagged_extension() -> None:
    """Codes 01–54 are official (1979 decision); the extension code is flagged unofficial and provisional."""
    groups = VIEW.entries(Catalogue.ETHNIC_GROUP)
    official = [g.code for g in groups if g.official]
    assert official == [f"{n:02d}" for n in range(1, 55)]
    flagged = [g for g in groups if not g.official]
    assert [(g.code, g.provisional) for g in flagged] == [("55", True)]


def test_provisional_flags_follow_the_data() -> None:
    """Project codes are provisional; ISO countries, genders and administrative units are not."""
    provisional = {c: {e.provisional for e in VIEW.entries(c)} for c in Catalogue}
    assert provisional[Catalogue.BLOOD_GROUP] == {True}
    assert provisional[Catalogue.HOUSEHOLD_RELATION] == {True}
    assert provisional[Catalogue.RELIGION] == {True}
    assert provisional[Catalogue.GENDER] == {False}
    assert provisional[Catalogue.COUNTRY] == {False}
    assert provisional[Catalogue.COMMUNE] == {False}
    additions = [e.code for e in VIEW.entries(Catalogue.NATIONALITY) if e.provisional]
    assert additions == ["XX", "ZZ"]


def test_countries_carry_iso_codes_and_both_names() -> None:
    """Countries are keyed by alpha-2 with alpha-3 and numeric alternates, named in Vietnamese and English."""
    expected = {
        r["alpha2"]: (r["alpha3"], r["numeric"], r["name_vi"], r["name_en"]) for r in rows("countries.csv")
    }
    for entry in VIEW.entries(Catalogue.COUNTRY):
        assert (*entry.alternate_codes, entry.name_vi, entry.name_en) == expected[entry.code]


def test_provinces_renamed_in_2026_keep_their_codes() -> None:
    """Provinces 22, 24 and 75 are now "Thành phố", same code, the old name kept as a former name."""
    for code in ("22", "24", "75"):
        entry = VIEW.get(Catalogue.PROVINCE, code, DVHC_2025)
        assert entry is not None and entry.name_vi.startswith("Thành phố ")
        assert entry.former_names and entry.former_names[0].startswith("Tỉnh ")


def test_labels_for_display() -> None:
    """The SDK's label gives Vietnamese names (and English where the data has one), by scheme."""
    assert label("ethnic_group", "01") == dancu_bus.sdk.Label("Kinh")
    assert label(Catalogue.COUNTRY, "VN") == dancu_bus.sdk.Label("Việt Nam", "Vietnam")
    assert label("commune", "00004", DVHC_2004) == dancu_bus.sdk.Label("Phường Trúc Bạch")
    assert label("commune", "00004") == dancu_bus.sdk.Label("Phường Ba Đình")
    assert label("gender", "9") is None
    with pytest.raises(ValueError, match="no catalogue named"):
        catalogue_named("shoe size")


def test_wire_round_trip_of_every_entry() -> None:
    """Every entry encodes to the CatalogueEntry schema and decodes back equal."""
    for entry in load_entries():
        assert decode_entry(CODEC, encode_entry(CODEC, entry)) == entry


def test_catalogue_entry_golden_bytes() -> None:
    """A DVHC-2004 commune with its successor encodes to the committed golden bytes."""
    entry = VIEW.get(Catalogue.COMMUNE, "00004", DVHC_2004)
    assert entry is not None
    assert encode_entry(CODEC, entry) == (GOLDEN / "catalogue_entry.bin").read_bytes()


def test_reference_avro_decodes_a_catalogue_entry() -> None:
    """The Apache Avro reference implementation reads an entry with the schema file alone."""
    entry = VIEW.get(Catalogue.COMMUNE, "00016", DVHC_2004)
    assert entry is not None
    schema = avro.schema.parse((SCHEMAS / "catalogue_entry.avsc").read_text(encoding="utf-8"))
    data = encode_entry(CODEC, entry)
    record = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert isinstance(record, dict)
    assert record["name_vi"] == "Phường Ngọc Hà"
    assert [s["code"] for s in record["successors"]] == ["00004", "00008"]


def test_decoding_another_schema_is_refused() -> None:
    """Bytes of another message type are not taken for a catalogue entry."""
    with pytest.raises(CodecError, match="WRONG_SCHEMA"):
        decode_entry(CODEC, CODEC.encode_audit(samples.AUDIT))


def test_remapping_a_provisional_code_keeps_the_old_one_readable() -> None:
    """A remapped provisional code stays valid, closed the day before, and points at its national entry."""
    remap = Remap(Catalogue.BLOOD_GROUP, "A+", "QCVN-2027", "A1", date(2027, 1, 1))
    view = CatalogueView(apply_remaps(load_entries(), [remap]))
    old = view.get(Catalogue.BLOOD_GROUP, "A+")
    new = view.get(Catalogue.BLOOD_GROUP, "A1", "QCVN-2027")
    assert old is not None and new is not None
    assert (old.replaced_by, old.effective_to) == ("QCVN-2027:A1", date(2026, 12, 31))
    assert (new.provisional, new.official, new.name_vi, new.effective_from) == (
        False,
        True,
        "Nhóm máu A Rh dương",
        date(2027, 1, 1),
    )
    assert view.current(old) == new
    assert view.count(Catalogue.BLOOD_GROUP) == 13


def test_remaps_refuse_codes_that_are_not_provisional() -> None:
    """Only provisional codes can be remapped: official ones (e.g. ISO countries) are refused."""
    with pytest.raises(ConfigError, match="country:VN"):
        apply_remaps(load_entries(), [Remap(Catalogue.COUNTRY, "VN", "X", "1", date(2027, 1, 1))])


def test_remap_table_is_read_from_csv() -> None:
    """The remap table is a CSV with a fixed header; bad rows name their line."""
    text = (
        "catalogue,code,national_scheme,national_code,effective_on\nblood_group,O-,QCVN-2027,O2,2027-01-01\n"
    )
    assert parse_remaps(text) == [Remap(Catalogue.BLOOD_GROUP, "O-", "QCVN-2027", "O2", date(2027, 1, 1))]
    with pytest.raises(ConfigError, match="line 2"):
        parse_remaps(text.replace("2027-01-01", "soon"))
    with pytest.raises(ConfigError, match="header"):
        parse_remaps("code,name\n")


def test_live_view_applies_records_and_tombstones() -> None:
    """The live view takes topic records one by one, rebuilds its snapshot, and drops a tombstoned key."""
    live = LiveCatalogues(CODEC)
    entry = VIEW.get(Catalogue.ETHNIC_GROUP, "01")
    assert entry is not None
    apply = live.applier(Catalogue.ETHNIC_GROUP)
    apply(entry.key.encode(), encode_entry(CODEC, entry))
    apply(b"TCTK-1979:99", b"not avro")
    apply(b"TCTK-1979:02", encode_entry(CODEC, entry))  # a key that does not match its value
    assert live.view.entries(Catalogue.ETHNIC_GROUP) == (entry,)
    renamed = dataclasses.replace(entry, name_vi="Kinh (Việt)")
    apply(entry.key.encode(), encode_entry(CODEC, renamed))
    assert live.view.label(Catalogue.ETHNIC_GROUP, "01") == dancu_bus.sdk.Label("Kinh (Việt)")
    apply(entry.key.encode(), None)
    assert live.view.count(Catalogue.ETHNIC_GROUP) == 0


def test_entry_key_is_scheme_and_code() -> None:
    """The record key of an entry is its scheme, a colon and its code."""
    entry = CatalogueEntry(Catalogue.DISTRICT, DVHC_2004, "001", "Quận Ba Đình", province_code="01")
    assert entry.key == "DVHC-2004:001"


async def test_resolver_can_use_the_packaged_catalogues() -> None:
    """With catalogues_source=packaged the resolver's source is the packaged view, no broker needed."""
    settings = Settings(resolver=ResolverSettings(catalogues_source="packaged"))
    async with catalogue_source(settings, CODEC.schemas) as source:
        assert source.view is VIEW
