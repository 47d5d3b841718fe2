"""An SMS reply as the network carries it: GSM-7 or UCS-2, in concatenated segments. Pure.

GSM-7 (the GSM 03.38 default alphabet, encoded by the ``gsm0338`` library) when every character of the
text has a code in it, else UCS-2 (UTF-16BE). One SMS holds 160 septets or 70 UCS-2 characters; a
longer text goes in concatenated segments of 153 septets or 67 characters, each with the 8-bit
concatenation reference, its part number and the total (the UDH ``00 03 ref total part``). A GSM-7
extension character (``€ [ ] { } ~ ^ \\ |``) is an escape and a code, two septets that are never split;
a UCS-2 segment never ends between the two halves of a surrogate pair. A text that needs more than
``max_segments`` is cut, and ends with an ellipsis, so that it fits them.

GSM-7 bytes are one septet per byte, unpacked, as SMPP carries them (``data_coding`` 0); the gateway
or the SMSC packs them for the radio.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import gsm0338

__all__ = ["Encoding", "Segment", "encoding_of", "reassemble", "segments"]

_GSM = gsm0338.Codec()
_ESCAPE = 0x1B
_SINGLE = {"GSM7": 160, "UCS2": 70}  # septets, or UTF-16 code units
_CONCATENATED = {"GSM7": 153, "UCS2": 67}  # a 6-byte UDH takes 7 septets, or 3 characters
_ELLIPSIS = {"GSM7": "...", "UCS2": "…"}  # GSM 03.38 has no "…"


class Encoding(StrEnum):
    """The data coding of a segment."""

    GSM7 = "GSM7"
    UCS2 = "UCS2"


@dataclass(frozen=True, slots=True)
class Segment:
    """One SMS of a reply: its coded bytes and, when the reply takes several, where it stands in it."""

    encoding: Encoding
    data: bytes
    reference: int | None  # the concatenation reference (0-255), None for a single SMS
    part: int  # 1-based
    total: int


def encoding_of(text: str) -> Encoding:
    """GSM-7 when the library encodes every character of ``text``, else UCS-2."""
    try:
        _gsm(text)
    except UnicodeEncodeError:
        return Encoding.UCS2
    return Encoding.GSM7


def segments(text: str, reference: int, max_segments: int) -> tuple[Segment, ...]:
    """``text`` (in NFC) as the SMS that carry it, cut with an ellipsis to at most ``max_segments``."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = unicodedata.normalize("NFC", text)
    encoding = encoding_of(text)
    units = _units(text, encoding)
    chunks = _split(units, encoding)
    if len(chunks) > max_segments:
        chunks = _split(_cut(text, encoding, max_segments), encoding)
    total = len(chunks)
    ref = None if total == 1 else reference % 256
    return tuple(Segment(encoding, b"".join(c), ref, i, total) for i, c in enumerate(chunks, 1))


def reassemble(parts: tuple[Segment, ...]) -> str:
    """The text the segments carry, in part order (how a phone shows them)."""
    ordered = sorted(parts, key=lambda s: s.part)
    return "".join(_decode(s) for s in ordered)


def _decode(segment: Segment) -> str:
    if segment.encoding is Encoding.GSM7:
        decoded: Any = _GSM.decode(segment.data)[0]
        return str(decoded)
    return segment.data.decode("utf-16-be")


def _gsm(text: str) -> bytes:
    encoded: Any = _GSM.encode(text)[0]
    return bytes(encoded)


def _units(text: str, encoding: Encoding) -> list[bytes]:
    """The text in indivisible units: a septet (or escape + septet), or a character's UTF-16BE code units.

    Each unit is ``len(unit)`` septets in GSM-7; in UCS-2 ``len(unit) // 2`` code units (2 for a
    character outside the BMP: its surrogate pair is one unit, so it is never split).
    """
    if encoding is Encoding.UCS2:
        return [c.encode("utf-16-be") for c in text]
    return [_gsm(c) for c in text]


def _size(unit: bytes, encoding: Encoding) -> int:
    return len(unit) if encoding is Encoding.GSM7 else len(unit) // 2


def _split(units: list[bytes], encoding: Encoding) -> list[list[bytes]]:
    """One chunk when all fit one SMS; else chunks of at most the concatenated segment's size."""
    if sum(_size(u, encoding) for u in units) <= _SINGLE[encoding]:
        return [units]
    room = _CONCATENATED[encoding]
    chunks: list[list[bytes]] = [[]]
    used = 0
    for unit in units:
        size = _size(unit, encoding)
        if used + size > room:
            chunks.append([])
            used = 0
        chunks[-1].append(unit)
        used += size
    return chunks


def _cut(text: str, encoding: Encoding, max_segments: int) -> list[bytes]:
    """The longest start of ``text`` that, with the ellipsis, fits ``max_segments`` (binary search)."""
    ellipsis = _units(_ELLIPSIS[encoding], encoding)
    units = _units(text, encoding)
    low, high = 0, len(units)  # units[:low] + ellipsis fits; units[:high + 1] + ellipsis does not
    while low < high:
        middle = (low + high + 1) // 2
        if len(_split(units[:middle] + ellipsis, encoding)) <= max_segments:
            low = middle
        else:
            high = middle - 1
    return _trimmed(units[:low], encoding) + ellipsis


def _trimmed(units: list[bytes], encoding: Encoding) -> list[bytes]:
    """Without the spaces at the cut, so the ellipsis follows a word."""
    space = _units(" ", encoding)[0]
    while units and units[-1] == space:
        units = units[:-1]
    return units
