"""How a VERIFY compares names: exact whatever the form, without diacritics only for ASCII names."""

from __future__ import annotations

import unicodedata

import pytest

from dancu_bus.contracts import MatchOutcome
from dancu_bus.names import name_outcome

AN = "Nguyễn Văn An"
DO_THI = "Đỗ Thị"


@pytest.mark.parametrize(
    ("given", "stored", "expected"),
    [
        (unicodedata.normalize("NFD", AN), AN, MatchOutcome.MATCH),
        (AN, unicodedata.normalize("NFD", AN), MatchOutcome.MATCH),
        ("NGUYỄN VĂN AN", AN, MatchOutcome.MATCH),
        (unicodedata.normalize("NFD", "NGUYỄN VĂN AN"), AN, MatchOutcome.MATCH),
        ("  Nguyễn\tVăn\u00a0\u00a0An\n", AN, MatchOutcome.MATCH),
        ("Nguyễn\u3000Văn\u202fAn", AN, MatchOutcome.MATCH),
        ("ĐỖ", "Đỗ", MatchOutcome.MATCH),
        ("NGUYEN VAN AN", "Nguyen Van An", MatchOutcome.MATCH),
        ("NGUYEN VAN AN", AN, MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        ("Nguyen Van An", AN, MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        (" nguyen\tVAN\u00a0an ", AN, MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        ("NGUYEN VAN AN", unicodedata.normalize("NFD", AN), MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        ("DO THI", DO_THI, MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        ("TRUONG THI HUONG", "Trương Thị Hương", MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        ("Nguyễn Văn Ân", AN, MatchOutcome.MISMATCH),
        ("Nguyen Văn An", AN, MatchOutcome.MISMATCH),
        ("ĐO THI", DO_THI, MatchOutcome.MISMATCH),
        ("Đố Thị", DO_THI, MatchOutcome.MISMATCH),
        (AN, "Nguyen Van An", MatchOutcome.MISMATCH),
        ("NGUYEN VAN BINH", AN, MatchOutcome.MISMATCH),
        ("NGUYEN VANAN", AN, MatchOutcome.MISMATCH),
        ("", AN, MatchOutcome.MISMATCH),
    ],
)
def test_name_outcome(given: str, stored: str, expected: MatchOutcome) -> None:
    """Form, case and spacing never matter; a name without diacritics matches only as such; others differ."""
    assert name_outcome(given, stored) is expected
