"""Text an agency sent, made safe to check, to quote in an answer and to keep in the log. Pure.

An agency controls every string of its request; none may reach a response, a log line or the audit
unbounded or with characters that rewrite what a reader sees (control characters, bidirectional
overrides). ``printable`` says whether a value may be accepted at all; ``bounded`` keeps a value
that must be recorded whatever it is (the audit records what was asked) to a fixed length that
still identifies it; ``quoted`` shows a value inside a message. ``folded`` and ``without_diacritics``
give the forms names are compared in.
"""

from __future__ import annotations

import hashlib
import unicodedata

__all__ = ["bounded", "folded", "printable", "quoted", "shown", "spreadsheet_safe", "without_diacritics"]

# Unicode general categories that never belong in an identifier or a legal reference: controls,
# format characters (bidirectional overrides among them), surrogates, private use, unassigned,
# and separators other than the ordinary space.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# Đ/đ is a letter of its own (a stroke, not a combining mark), so Unicode does not decompose it; legacy
# systems that keep names in ASCII write it D/d.
_STROKED_D = str.maketrans({"đ": "d", "Đ": "D"})


def printable(text: str) -> bool:
    """Whether ``text`` has only letters, marks, digits, punctuation, symbols and spaces."""
    return not any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def folded(text: str) -> str:
    """``text`` as compared: Unicode NFC, case-folded, runs of white space made one space, trimmed.

    So a name or a legal reference matches whatever Unicode form, letter case or spacing it was typed in.
    """
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def without_diacritics(text: str) -> str:
    """``text`` with its tone marks and other diacritics dropped and đ/Đ written d/D, in NFC.

    ``Đỗ Thị Ánh`` becomes ``Do Thi Anh``: how a system that keeps only ASCII letters spells it.
    """
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", bare.translate(_STROKED_D))


def bounded(text: str, limit: int) -> str:
    """``text`` itself when at most ``limit`` characters; else its start, its length and its SHA-256.

    The result is at most ``limit`` + 96 characters, and two different long values stay different.
    """
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"{text[:limit]}…[{len(text)} characters, sha256 {digest}]"


def quoted(text: str, limit: int = 64) -> str:
    """``text`` for a message: escaped like a Python literal (controls visible), cut to ``limit``."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else f"{shown}… ({len(text)} characters)"


def shown(text: str, limit: int = 32) -> str:
    """``text`` as it is when short and printable (a code, an id), else ``quoted``."""
    return text if len(text) <= limit and printable(text) else quoted(text, limit)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` for a CSV cell a spreadsheet will open: one that would start a formula gets a leading '."""
    return "'" + text if text.startswith(_FORMULA_START) else text
