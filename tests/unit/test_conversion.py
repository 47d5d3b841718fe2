"""DVHC-2004 → DVHC-2025 conversion: completeness against the table, partial merges, addresses, the CLI."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

import dancu_bus
from dancu_bus.catalogues import (
    DVHC_2004,
    DVHC_2025,
    Catalogue,
    Relation,
    convert_address,
    convert_commune,
    packaged_view,
    unconvertible_communes,
)
from dancu_bus.catalogues.data import CONVERSION_FIXES
from dancu_bus.cli.main import main
from dancu_bus.contracts import Address
from dancu_bus.errors import InvalidCode
from dancu_bus.sdk import convert_commune as sdk_convert_commune

pytestmark = pytest.mark.catalogues

DATA = Path(dancu_bus.__file__).resolve().parent / "data" / "catalogues"
VIEW = packaged_view()


def rows(name: str) -> list[dict[str, str]]:
    """A CSV's rows, read independently of the loader."""
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def plain(name: str) -> str:
    """A name without tone marks, case, spacing or punctuation, to tell spellings from other units."""
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in decomposed if not unicodedata.combining(c)).lower())


def expected_successors() -> dict[str, set[str]]:
    """DVHC-2025 communes of each DVHC-2004 commune straight from the table, with the documented fixes."""
    found: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows("admin_units_2004_to_2025.csv"):
        key = (row["old_ward_code"], row["old_ward_name"], row["new_ward_code"])
        found[CONVERSION_FIXES.get(key, row["old_ward_code"])].add(row["new_ward_code"])
    return found


def test_every_old_commune_converts_to_at_least_one_new_one() -> None:
    """All 10,035 DVHC-2004 communes have a DVHC-2025 commune; none is left without one."""
    communes = VIEW.entries(Catalogue.COMMUNE, DVHC_2004)
    assert len(communes) == 10_035
    assert unconvertible_communes(VIEW) == ()
    assert all(convert_commune(c.code, VIEW).converted for c in communes)


def test_candidates_are_exactly_the_tables() -> None:
    """An old commune's candidates are all the new communes the table gives it: a split returns them all."""
    expected = expected_successors()
    for commune in VIEW.entries(Catalogue.COMMUNE, DVHC_2004):
        conversion = convert_commune(commune.code, VIEW)
        assert {c.commune.code for c in conversion.candidates} == expected[commune.code], commune.code
        assert all(c.commune.scheme == DVHC_2025 for c in conversion.candidates)
        assert conversion.ambiguous == (len(expected[commune.code]) > 1)


def test_only_the_fixed_rows_print_a_sibling_communes_code() -> None:
    """Rows whose old code is another commune's of the same district are exactly the three fixed ones."""
    old = {r["ward_code"]: r for r in rows("admin_units_2004.csv") if r["ward_code"]}
    by_name = {(r["district_code"], plain(r["ward_name"])): code for code, r in old.items()}
    wrong = {}
    for row in rows("admin_units_2004_to_2025.csv"):
        printed = row["old_ward_code"]
        if not printed or plain(row["old_ward_name"]) == plain(old[printed]["ward_name"]):
            continue
        sibling = by_name.get((old[printed]["district_code"], plain(row["old_ward_name"])))
        if sibling is not None:
            wrong[(printed, row["old_ward_name"], row["new_ward_code"])] = sibling
    assert wrong == dict(CONVERSION_FIXES)


def test_without_the_fixes_two_communes_would_have_no_counterpart() -> None:
    """Taken by code alone, the table leaves 01651 Mỹ Hưng and 02482 Phú Thịnh without a new commune."""
    printed = {r["old_ward_code"] for r in rows("admin_units_2004_to_2025.csv")}
    orphans = {r["ward_code"] for r in rows("admin_units_2004.csv") if r["ward_code"]} - printed
    assert orphans == {"01651", "02482"}
    assert {fixed for fixed in CONVERSION_FIXES.values()} >= orphans


@pytest.mark.parametrize(
    ("code", "kind", "candidates"),
    [
        ("00004", Relation.WHOLE, ["00004"]),  # Trúc Bạch went whole into Ba Đình
        ("00016", Relation.PARTIAL, ["00004", "00008"]),  # Ngọc Hà was split
        ("01615", Relation.WHOLE, ["01636"]),  # a fixed row no longer splits Hồng Quang
        ("01651", Relation.WHOLE, ["01648"]),
        ("30781", Relation.UNCHANGED, ["30781"]),  # Tiên Hải, whatever province the table prints
    ],
)
def test_relation_kind_and_candidates(code: str, kind: Relation, candidates: list[str]) -> None:
    """A conversion states its kind; a split is PARTIAL with every candidate."""
    conversion = sdk_convert_commune(code)
    assert conversion.kind is kind
    assert [c.commune.code for c in conversion.candidates] == candidates


def test_renamed_communes_keep_their_code() -> None:
    """The table's renamed communes (name or type changed) convert to one commune of the same code."""
    renamed = [
        c
        for c in VIEW.entries(Catalogue.COMMUNE, DVHC_2004)
        if any(s.relation is Relation.RENAMED for s in c.successors)
    ]
    assert len(renamed) == 4
    for commune in renamed:
        conversion = convert_commune(commune.code, VIEW)
        assert conversion.kind is Relation.RENAMED
        assert [c.commune.code for c in conversion.candidates] == [commune.code]


def test_unknown_or_new_scheme_codes_are_refused() -> None:
    """A code that is no DVHC-2004 commune raises InvalidCode naming the scheme."""
    with pytest.raises(InvalidCode, match="99999 is not a DVHC-2004 commune") as caught:
        convert_commune("99999", VIEW)
    assert caught.value.scheme == DVHC_2004
    with pytest.raises(InvalidCode):
        convert_commune("26732", VIEW)  # Côn Đảo special zone exists only in DVHC-2025


def test_new_address_to_old_scheme_picks_the_commune_that_kept_the_code() -> None:
    """Ba Đình (DVHC-2025 00004) in DVHC-2004 is Trúc Bạch, the others of the merger as alternatives."""
    stored = Address(DVHC_2025, "01", "00004", None, "Số 12")
    moved = convert_address(stored, DVHC_2004, VIEW)
    assert moved.address == Address(DVHC_2004, "01", "00004", "001", "Số 12")
    assert moved.converted_from == stored
    assert {a.commune_code for a in moved.alternatives} == {
        "00013", "00016", "00019", "00022", "00028", "00040", "00055", "00073", "00112",
    }  # fmt: skip
    assert all(a.scheme == DVHC_2004 and a.district_code for a in moved.alternatives)


def test_old_address_of_a_split_commune_lists_every_candidate() -> None:
    """Ngọc Hà (DVHC-2004 00016) in DVHC-2025: no new commune kept its code, so the lowest; both given."""
    moved = convert_address(Address(DVHC_2004, "01", "00016", "001"), DVHC_2025, VIEW)
    assert moved.address == Address(DVHC_2025, "01", "00004")
    assert moved.alternatives == (Address(DVHC_2025, "01", "00008"),)


def test_addresses_already_in_scheme_or_without_counterpart_stay_as_stored() -> None:
    """No conversion for an address in the asked scheme, nor for a special zone that had no commune."""
    here = Address(DVHC_2025, "01", "00004")
    assert convert_address(here, DVHC_2025, VIEW).converted_from is None
    con_dao = Address(DVHC_2025, "79", "26732")
    moved = convert_address(con_dao, DVHC_2004, VIEW)
    assert (moved.address, moved.converted_from, moved.alternatives) == (con_dao, None, ())


def test_cli_convert_prints_every_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    """``dancu-bus catalogue convert`` tells old from new 00004 and lists a split's candidates."""
    assert main(["catalogue", "convert", "00004", "00016"]) == 0
    out = capsys.readouterr().out
    assert "DVHC-2004 commune 00004 Phường Trúc Bạch" in out
    assert "→ DVHC-2025 commune 00004 Phường Ba Đình (province 01 Thành phố Hà Nội): whole" in out
    assert "split over 2 DVHC-2025 communes" in out and "00008 Phường Ngọc Hà" in out


def test_cli_lists_unconvertible_communes_and_fixed_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """``convert --unconvertible`` says no commune lacks a counterpart and names the corrected rows."""
    assert main(["catalogue", "convert", "--unconvertible"]) == 0
    out = capsys.readouterr().out
    assert "no DVHC-2025 commune in the conversion table: 0" in out
    assert "01615 Xã Mỹ Hưng → 01648: read as 01651" in out


def test_cli_convert_of_an_unknown_code_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown commune code exits 1 with one line naming the code and scheme."""
    assert main(["catalogue", "convert", "99999"]) == 1
    assert "commune: 99999 is not a DVHC-2004 commune" in capsys.readouterr().err
