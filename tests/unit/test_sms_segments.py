"""SMS segments: GSM-7 when the text allows, UCS-2 otherwise, concatenated at 153/67, cut at the maximum."""

from __future__ import annotations

import pytest

from dancu_bus.sms.segments import Encoding, encoding_of, reassemble, segments

VIETNAMESE = "Thông tin công dân: Họ tên Nguyễn Thị Ánh, ngày sinh 01/02/1990, thường trú Phường Trúc Bạch. "


def test_a_short_ascii_text_is_one_gsm7_sms_without_udh() -> None:
    """A text of at most 160 GSM-7 septets is one SMS with no concatenation reference."""
    (only,) = segments("A" * 160, reference=7, max_segments=4)
    assert (only.encoding, only.reference, only.part, only.total) == (Encoding.GSM7, None, 1, 1)
    assert only.data == b"A" * 160


def test_a_long_ascii_text_is_concatenated_gsm7_of_153_septets() -> None:
    """161 septets take two segments, 153 + 8, each with the reference, its part and the total."""
    parts = segments("B" * 161, reference=300, max_segments=4)
    assert [(len(p.data), p.reference, p.part, p.total) for p in parts] == [(153, 44, 1, 2), (8, 44, 2, 2)]
    assert all(p.encoding is Encoding.GSM7 for p in parts)
    assert reassemble(parts) == "B" * 161


def test_gsm7_extension_characters_count_two_septets_and_are_never_split() -> None:
    """'€' is escape + code: 80 of them are 160 septets (one SMS); an escape never ends a segment."""
    (only,) = segments("€" * 80, 1, 4)
    assert len(only.data) == 160
    parts = segments("A" * 152 + "€" + "B" * 10, 1, 4)
    assert [len(p.data) for p in parts] == [152, 12]  # 152 + 2 septets would be 154 > 153
    assert all(not p.data.endswith(b"\x1b") for p in parts)
    assert reassemble(parts) == "A" * 152 + "€" + "B" * 10


def test_vietnamese_is_ucs2_in_segments_of_67_that_reassemble() -> None:
    """Diacritics GSM-7 lacks make it UTF-16BE; segments of 67 characters reassemble to the text."""
    text = VIETNAMESE * 2
    assert encoding_of(text) is Encoding.UCS2
    parts = segments(text, 9, 8)
    assert len(parts) > 1
    assert all(p.encoding is Encoding.UCS2 and len(p.data) <= 134 for p in parts)
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert reassemble(parts) == text


def test_seventy_ucs2_characters_are_one_sms() -> None:
    """At most 70 UCS-2 characters fit one SMS; 71 take two."""
    assert len(segments("ư" * 70, 1, 4)) == 1
    assert [len(p.data) // 2 for p in segments("ư" * 71, 1, 4)] == [67, 4]


def test_a_surrogate_pair_is_never_split() -> None:
    """A character outside the BMP (two UTF-16 code units) moves whole to the next segment."""
    text = "ư" * 66 + "😀" + "ư" * 10
    parts = segments(text, 1, 4)
    assert len(parts[0].data) == 132  # 66 characters: the pair did not fit beside them
    for part in parts:
        part.data.decode("utf-16-be")  # each segment alone is well-formed UTF-16
    assert reassemble(parts) == text


@pytest.mark.parametrize(("text", "ellipsis"), [("word " * 200, "..."), (VIETNAMESE * 10, "…")])
def test_a_text_beyond_the_maximum_is_cut_with_an_ellipsis(text: str, ellipsis: str) -> None:
    """Cut to at most max_segments, ending with the ellipsis of its encoding (GSM-7 has no '…')."""
    parts = segments(text, 1, 3)
    assert len(parts) == 3
    shown = reassemble(parts)
    assert shown.endswith(ellipsis)
    assert text.startswith(shown.removesuffix(ellipsis))
    assert len(shown) > len(text) // 10  # it is the longest start that fits, not an empty one


def test_one_segment_at_most_holds_160_septets() -> None:
    """With max_segments 1 a long text is one SMS of at most 160 septets."""
    (only,) = segments("x" * 500, 1, 1)
    assert len(only.data) == 160 and only.data.endswith(b"...")
