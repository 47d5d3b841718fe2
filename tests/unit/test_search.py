"""SEARCH, pure: admission of its criteria, ranking by commune, ids only in the answer and on the wire."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import DVHC_2004, packaged_view
from dancu_bus.contracts import DISCLOSABLE_FIELDS, Address, Citizen, Provenance, Response, ResponseStatus
from dancu_bus.errors import SealedAnswerError
from dancu_bus.keys import AnswerKey, PrivateKeys, generate_key_pair
from dancu_bus.operations import SEARCH, Asking, platform_codec
from dancu_bus.operations.search import MAX_CANDIDATES, Candidate, SearchQuery, SearchResult
from dancu_bus.reasons import Reason
from dancu_bus.sealing import open_sealed, seal
from dancu_bus.text import folded

VIEW = packaged_view()
CODEC = platform_codec()
PURPOSE = Purpose(legal_basis="x", operations=frozenset({"SEARCH"}), fields=frozenset())
BORN = date(1990, 5, 17)
BA_DINH = Address("DVHC-2025", "01", "00004", None, "Số 12, phố Quán Thánh")
ELSEWHERE = Address("DVHC-2025", "79", "26734", None, "Số 1")


def citizen(personal_id: str, name: str = "Nguyễn Thị Ánh", address: Address = BA_DINH) -> Citizen:
    """A stored citizen born on BORN."""
    return Citizen(
        personal_id, name, BORN, "2", "01", "00", "VN", address, "HH-1", "01", None, "ALIVE",
        {f: Provenance("CSDLQG-DC", date(2024, 1, 1)) for f in DISCLOSABLE_FIELDS},
    )  # fmt: skip


class Store:
    """The store as SEARCH reads it: folded names and birth dates, in personal-id order."""

    def __init__(self, people: Sequence[Citizen]) -> None:
        self.people = sorted(people, key=lambda c: c.personal_id)
        self.asked: list[tuple[str, date, int]] = []

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        return {c.personal_id: c for c in self.people if c.personal_id in personal_ids}

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        self.asked.append((name_key, birth_date, limit))
        found = [c for c in self.people if folded(c.full_name) == name_key and c.birth_date == birth_date]
        return found[:limit]

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        raise AssertionError("a search corrects nothing")


def search(query: SearchQuery, store: Store) -> SearchResult:
    """SEARCH's answer from ``store``."""
    return asyncio.run(SEARCH.answer(query, Asking(PURPOSE, VIEW, {}, store)))


PEOPLE = [citizen("001090000003", address=ELSEWHERE), citizen("001090000002"), citizen("001090000001")]


@pytest.mark.parametrize(
    "typed",
    [
        "Nguyễn Thị Ánh",
        unicodedata.normalize("NFD", "Nguyễn Thị Ánh"),
        "NGUYỄN THỊ ÁNH",
        "  nguyễn   thị\tánh ",
    ],
    ids=["NFC", "NFD", "upper", "spaces"],
)
def test_a_name_in_any_form_finds_its_candidates(typed: str) -> None:
    """NFC, NFD, upper case and stray spaces find the same three people, in personal-id order."""
    result = search(SearchQuery(typed, BORN), Store(PEOPLE))
    assert [c.personal_id for c in result.candidates] == ["001090000001", "001090000002", "001090000003"]
    assert [c.rank for c in result.candidates] == [1, 2, 3] and not result.more


def test_the_commune_ranks_those_who_live_there_first_in_either_scheme() -> None:
    """Ba Đình's DVHC-2004 code (01/001/00004) ranks the two living there above the third."""
    commune = Address(DVHC_2004, "01", "00004", "001")
    result = search(SearchQuery("Nguyễn Thị Ánh", BORN, commune), Store(PEOPLE))
    assert [(c.personal_id, c.commune_matched) for c in result.candidates] == [
        ("001090000001", True),
        ("001090000002", True),
        ("001090000003", False),
    ]


def test_at_most_max_candidates_and_more_says_there_are_others() -> None:
    """Asked for two of three, the answer holds two and says there are more; the store is asked a bound."""
    store = Store(PEOPLE)
    result = search(SearchQuery("Nguyễn Thị Ánh", BORN, max_candidates=2), store)
    assert len(result.candidates) == 2 and result.more
    assert store.asked == [(folded("Nguyễn Thị Ánh"), BORN, 200)]


def test_another_name_or_birth_date_finds_nobody_and_discloses_nothing() -> None:
    """No candidate: nothing disclosed, and the audit will say so."""
    result = search(SearchQuery("Nguyễn Thị Anh", BORN), Store(PEOPLE))
    assert result.candidates == () and result.fields_disclosed == ()
    assert search(SearchQuery("Nguyễn Thị Ánh", date(1990, 5, 18)), Store(PEOPLE)).candidates == ()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (SearchQuery("", BORN), Reason.MALFORMED_REQUEST),
        (SearchQuery("   ", BORN), Reason.MALFORMED_REQUEST),
        (SearchQuery("A" * 101, BORN), Reason.MALFORMED_REQUEST),
        (SearchQuery("Nguyễn\x1b[2J", BORN), Reason.MALFORMED_REQUEST),
        (SearchQuery("Nguyễn Thị Ánh", date(1850, 1, 1)), Reason.MALFORMED_REQUEST),
        (SearchQuery("Nguyễn Thị Ánh", date(2999, 1, 1)), Reason.MALFORMED_REQUEST),
        (SearchQuery("Nguyễn Thị Ánh", BORN, max_candidates=0), Reason.MALFORMED_REQUEST),
        (SearchQuery("Nguyễn Thị Ánh", BORN, max_candidates=MAX_CANDIDATES + 1), Reason.MALFORMED_REQUEST),
        (SearchQuery("Nguyễn Thị Ánh", BORN, Address("DVHC-2025", "01", "99999")), Reason.INVALID_CODE),
    ],
    ids=["empty", "blank", "long", "escape", "1850", "future", "zero", "too-many", "commune"],
)
def test_criteria_are_checked_before_the_store_is_asked(query: SearchQuery, reason: Reason) -> None:
    """Each malformed criterion has its reason; a hostile name never reaches the store."""
    refusal = SEARCH.check(query, PURPOSE, VIEW)
    assert refusal is not None and refusal.reason is reason


def test_a_search_answer_carries_ids_only_on_the_wire() -> None:
    """The Response written for a SEARCH holds the ids and ranks, no name, birth date or address."""
    result = search(SearchQuery("Nguyễn Thị Ánh", BORN), Store(PEOPLE))
    response = Response(
        "6f1c7c2e-8a51-4c1a-9bb1-0d6f4d0c6a11", "0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d", "demo-bank",
        "SEARCH", ResponseStatus.OK, datetime(2026, 1, 1, tzinfo=UTC), result=result,
    )  # fmt: skip
    data = CODEC.encode_response(response)
    assert CODEC.decode_response(data) == response
    for value in ("Nguyễn".encode(), "Quán Thánh".encode(), b"HH-1"):
        assert value not in data
    assert result.candidates[0] == Candidate("001090000001", 1, False)
    assert result.fields_disclosed == ("personal_id",)


def test_candidates_travel_sealed_to_the_agencys_key_and_open_with_it(tmp_path: Path) -> None:
    """On the wire a SEARCH answer holds no id in clear; the agency's key opens them, another's cannot."""
    response = Response(
        "6f1c7c2e-8a51-4c1a-9bb1-0d6f4d0c6a11", "0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d", "demo-bank",
        "SEARCH", ResponseStatus.OK, datetime(2026, 1, 1, tzinfo=UTC),
        result=search(SearchQuery("Nguyễn Thị Ánh", BORN), Store(PEOPLE)),
    )  # fmt: skip
    (key, keys), (_, others) = _key("bank-1", tmp_path), _key("other-1", tmp_path)
    data = CODEC.encode_response(seal(response, key, CODEC, SEARCH))
    assert all(c.personal_id.encode() not in data for c in PEOPLE)
    received = CODEC.decode_response(data)
    assert isinstance(received.result, SearchResult) and received.result.candidates == ()
    assert received.fields_disclosed == ("personal_id",)  # the audit still knows someone was found
    assert open_sealed(received, keys, CODEC, SEARCH) == response
    with pytest.raises(SealedAnswerError, match="bank-1"):
        open_sealed(received, others, CODEC, SEARCH)


def _key(kid: str, tmp_path: Path) -> tuple[AnswerKey, PrivateKeys]:
    public, private = generate_key_pair(kid)
    path = tmp_path / f"{kid}.jwks"
    path.write_text(private.get_secret_value())
    path.chmod(0o600)
    key = AnswerKey(id=kid, jwk=public, registered_on=date(2026, 12, 1), document_ref="QD-10")
    return key, PrivateKeys.from_file(path)


def test_the_audit_keeps_the_criteria_names_of_a_search() -> None:
    """The query names nobody and tells the audit which criteria it used."""
    query = SearchQuery("Nguyễn Thị Ánh", BORN, BA_DINH)
    assert query.personal_id is None and query.criteria == ("full_name", "birth_date", "commune")
