"""What a citizen's SMS asks: ``DC <personal id>``, ``DC <personal id> <field group>``, ``DC HELP``. Pure.

Tolerant of what phones and people do to text: letter case, runs of spaces, diacritics (a group typed
``địa chỉ`` is ``DIACHI``), full-width digits; anything else is ``Help`` (the help text, no lookup).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from dancu_bus.text import without_diacritics

__all__ = ["KEYWORD", "MAX_TEXT", "Help", "Lookup", "Parsed", "fold_group", "parse"]

KEYWORD = "DC"  # dân cư (population): the service's keyword on the short code
MAX_TEXT = 160  # a command is short; what is longer is not one, and is not read further
_ID_DIGITS = 12


@dataclass(frozen=True, slots=True)
class Help:
    """Send the help text: ``DC HELP``, or a message that is no command."""

    asked: bool  # True for ``DC HELP``; False when the message was not understood


@dataclass(frozen=True, slots=True)
class Lookup:
    """Look up the sender's own record by personal id, all of the channel's fields or one group's."""

    personal_id: str
    group: str | None


Parsed = Help | Lookup


def fold_group(name: str) -> str:
    """A group name as compared: no diacritics, upper case, no spaces (``địa chỉ`` → ``DIACHI``)."""
    return "".join(without_diacritics(unicodedata.normalize("NFKC", name)).upper().split())


def parse(text: str, groups: Collection[str]) -> Parsed:
    """The command in ``text``; ``groups`` are the configured group names (folded as ``fold_group``)."""
    if len(text) > MAX_TEXT:
        return Help(asked=False)
    words = without_diacritics(unicodedata.normalize("NFKC", text)).upper().split()
    if not words or not words[0].startswith(KEYWORD):
        return Help(asked=False)
    glued = words[0][len(KEYWORD) :]  # "DC001090012345": the space after the keyword forgotten
    rest = ([glued] if glued else []) + words[1:]
    if rest == ["HELP"] or rest == ["HD"]:  # HD: hướng dẫn (help)
        return Help(asked=True)
    if not rest or not _is_id(rest[0]):
        return Help(asked=False)
    return _with_group(rest[0], "".join(rest[1:]), groups)


def _with_group(personal_id: str, typed: str, groups: Collection[str]) -> Parsed:
    if not typed:
        return Lookup(personal_id, None)
    known = {fold_group(g): g for g in groups}
    group = known.get(typed)
    return Help(asked=False) if group is None else Lookup(personal_id, group)


def _is_id(word: str) -> bool:
    return len(word) == _ID_DIGITS and word.isascii() and word.isdigit()
