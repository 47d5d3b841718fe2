"""How a VERIFY compares a person's name with the one on record. Pure.

Two spellings of one name match whatever their Unicode form, letter case or spacing (``text.folded``).
A name written without any diacritics (``NGUYEN VAN AN``, as legacy systems that keep names in
uppercase ASCII hold it) that equals the record once the record's diacritics are dropped too is
``MATCH_WITHOUT_DIACRITICS``, never ``MATCH``: the asking agency learns that it must not take it
for an exact match. A name that carries diacritics other than the record's (``Nguyễn Văn Ân`` for
``Nguyễn Văn An``) is another name: ``MISMATCH``.
"""

from __future__ import annotations

from dancu_bus.contracts import MatchOutcome
from dancu_bus.text import folded, without_diacritics

__all__ = ["NAME_FIELDS", "name_outcome"]

# The verifiable fields that hold a person's name and are compared by ``name_outcome``.
NAME_FIELDS = frozenset({"full_name"})


def name_outcome(given: str, stored: str) -> MatchOutcome:
    """MATCH, MATCH_WITHOUT_DIACRITICS or MISMATCH: how the name ``given`` compares with ``stored``."""
    typed, recorded = folded(given), folded(stored)
    if typed == recorded:
        return MatchOutcome.MATCH
    bare = without_diacritics(typed)
    if bare == typed and bare == without_diacritics(recorded):
        return MatchOutcome.MATCH_WITHOUT_DIACRITICS
    return MatchOutcome.MISMATCH
