"""The codec: single-object framing, round trips, golden bytes, errors, and the reference Avro library."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import pytest
from fastavro.schema import to_parsing_canonical_form

from dancu_bus.codec import MAGIC
from dancu_bus.contracts import AuditPending, FieldMatch, MatchOutcome, Verdict, VerifyResult
from dancu_bus.errors import CodecError
from dancu_bus.operations import platform_codec
from tests.unit import samples

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CODEC = platform_codec()


def rabin_fingerprint(text: str) -> int:
    """CRC-64-AVRO exactly as the Avro specification's reference algorithm computes it."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in text.encode("utf-8"):
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.mark.parametrize(
    ("name", "message", "encode", "decode"),
    [
        ("request_verify", samples.VERIFY_REQUEST, CODEC.encode_request, CODEC.decode_request),
        ("request_lookup", samples.LOOKUP_REQUEST, CODEC.encode_request, CODEC.decode_request),
        ("request_hidden", samples.LOOKUP_HIDDEN, CODEC.encode_request, CODEC.decode_request),
        ("response_verify", samples.OK_RESPONSE, CODEC.encode_response, CODEC.decode_response),
        ("response_lookup", samples.LOOKUP_RESPONSE, CODEC.encode_response, CODEC.decode_response),
        ("audit", samples.AUDIT, CODEC.encode_audit, CODEC.decode_audit),
        ("audit_traced", samples.AUDIT_TRACED, CODEC.encode_audit, CODEC.decode_audit),
        ("audit_fee", samples.AUDIT_SELF, CODEC.encode_audit, CODEC.decode_audit),
        ("audit_hidden", samples.AUDIT_HIDDEN, CODEC.encode_audit, CODEC.decode_audit),
        ("dead_letter", samples.DEAD, CODEC.encode_dead_letter, CODEC.decode_dead_letter),
    ],
)
def test_round_trip_and_golden_bytes(name: str, message: Any, encode: Any, decode: Any) -> None:
    """Each message type encodes to the committed golden bytes and decodes back to an equal value."""
    data = encode(message)
    assert data == (GOLDEN / f"{name}.bin").read_bytes()
    assert decode(data) == message


def test_an_audit_record_written_before_trace_ids_still_decodes() -> None:
    """The golden bytes of contract version 3 (no ``trace_id``) read into today's record, trace id None."""
    old = (GOLDEN / "audit_v3.bin").read_bytes()
    assert old[:10] != CODEC.encode_audit(samples.AUDIT)[:10]  # written with the older schema
    assert CODEC.decode_audit(old) == samples.AUDIT and samples.AUDIT.trace_id is None


def test_a_waiting_request_half_keeps_its_trace_id_across_a_restart() -> None:
    """The state topic's copy of a request half carries the trace id its audit record will have."""
    half = AuditPending(samples.AUDIT_TRACED.exchange_id, samples.SENT, request=samples.AUDIT_TRACED)
    restored = CODEC.decode_pending(CODEC.encode_pending(half))
    assert restored == half and restored.request is not None and restored.request.trace_id == samples.TRACE_ID


def test_a_request_half_keeps_its_hiding_mark_across_a_restart() -> None:
    """The state topic's copy of a hidden request's half carries the mark and its legal basis."""
    half = AuditPending(samples.AUDIT_HIDDEN.exchange_id, samples.SENT, request=samples.AUDIT_HIDDEN)
    restored = CODEC.decode_pending(CODEC.encode_pending(half))
    assert restored.request is not None
    assert (restored.request.hidden_until, restored.request.hiding_legal_basis) == (
        samples.HIDDEN_UNTIL,
        samples.HIDING_BASIS,
    )


def test_reference_avro_reads_the_hiding_mark_and_its_absence() -> None:
    """Another language reads hidden_until as epoch milliseconds and its legal basis; null when not hidden."""
    hidden = _reference_read("vn.dancu.Request", CODEC.encode_request(samples.LOOKUP_HIDDEN))
    plain = _reference_read("vn.dancu.Request", CODEC.encode_request(samples.LOOKUP_REQUEST))
    until_ms = int(samples.HIDDEN_UNTIL.timestamp() * 1000)
    assert hidden["hiding_legal_basis"] == samples.HIDING_BASIS
    assert hidden["hidden_until"] in (until_ms, samples.HIDDEN_UNTIL)
    assert (plain["hidden_until"], plain["hiding_legal_basis"]) == (None, None)


def test_header_is_magic_and_little_endian_rabin_fingerprint() -> None:
    """The 8 bytes after C3 01 are the spec's Rabin fingerprint of the canonical form, little-endian."""
    schema = CODEC.schemas.by_name("vn.dancu.Request")
    canonical = to_parsing_canonical_form(schema.parsed)
    expected = MAGIC + rabin_fingerprint(canonical).to_bytes(8, "little")
    assert CODEC.encode_request(samples.VERIFY_REQUEST)[:10] == expected


def test_kafka_md_fingerprint_example() -> None:
    """The test's Rabin implementation reproduces the documented example value."""
    canonical = '{"name":"A","type":"record","fields":[{"name":"x","type":"long"}]}'
    assert rabin_fingerprint(canonical) == 0x643A5D293AD17708


def _reference_read(file: str, data: bytes) -> dict[str, Any]:
    record = avro.io.DatumReader(_reference_schema(file)).read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert isinstance(record, dict)
    return record


def _reference_schema(name: str) -> avro.schema.Schema:
    # The exported standalone schema: what another language is given (Request and Response are composed
    # of the operations' branches, so their source files alone are not the contract).
    return avro.schema.parse((SCHEMAS / "standalone" / f"{name}.avsc").read_text(encoding="utf-8"))


def test_reference_avro_decodes_our_request() -> None:
    """The Apache Avro reference implementation reads our bytes with the exported schema alone."""
    record = _reference_read("vn.dancu.Request", CODEC.encode_request(samples.VERIFY_REQUEST))
    assert record["request_id"] == samples.VERIFY_REQUEST.request_id
    assert record["body"]["full_name"] == "Nguyễn Thị Ánh"
    assert record["body"]["permanent_address"]["commune_code"] == "00004"


def test_reference_avro_decodes_our_lookup_response() -> None:
    """Nested unions (an Address among string values) read the same in the reference implementation."""
    record = _reference_read("vn.dancu.Response", CODEC.encode_response(samples.LOOKUP_RESPONSE))
    values = [f["value"] for f in record["lookup"]["fields"]]
    assert values[0] == "Lê Văn Bình"
    assert values[1]["scheme"] == "DVHC-2025"


def test_an_answer_matched_without_diacritics_round_trips_and_reads_in_the_reference_avro() -> None:
    """The MATCH_WITHOUT_DIACRITICS verdict and outcome decode back equal, and by name in Apache Avro."""
    fields = (
        FieldMatch("full_name", MatchOutcome.MATCH_WITHOUT_DIACRITICS),
        FieldMatch("birth_date", MatchOutcome.MATCH),
    )
    response = dataclasses.replace(
        samples.OK_RESPONSE, result=VerifyResult(Verdict.MATCH_WITHOUT_DIACRITICS, fields)
    )
    data = CODEC.encode_response(response)
    assert CODEC.decode_response(data) == response
    record = _reference_read("vn.dancu.Response", data)["verify"]
    assert record["verdict"] == "MATCH_WITHOUT_DIACRITICS"
    assert [f["outcome"] for f in record["fields"]] == ["MATCH_WITHOUT_DIACRITICS", "MATCH"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (None, "EMPTY"),
        (b"", "EMPTY"),
        (b"\x00\x00\x00\x00\x01abc", "NOT_SINGLE_OBJECT"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "UNKNOWN_FINGERPRINT"),
        (b"\xc3\x01abc", "NOT_SINGLE_OBJECT"),
    ],
)
def test_bad_bytes_raise_codec_error(data: bytes | None, code: str) -> None:
    """Bytes that are not a known single object raise CodecError with a specific code."""
    with pytest.raises(CodecError) as caught:
        CODEC.decode_request(data)
    assert caught.value.code == code


def test_truncated_body_is_bad_body() -> None:
    """A valid header over a cut-off body is reported as BAD_BODY, not a crash."""
    data = CODEC.encode_request(samples.VERIFY_REQUEST)
    with pytest.raises(CodecError) as caught:
        CODEC.decode_request(data[:40])
    assert caught.value.code == "BAD_BODY"


def test_trailing_bytes_are_refused() -> None:
    """Extra bytes after a complete body are an error, not silently ignored."""
    with pytest.raises(CodecError) as caught:
        CODEC.decode_request(CODEC.encode_request(samples.VERIFY_REQUEST) + b"\x00")
    assert caught.value.code == "TRAILING_BYTES"


def test_other_schema_is_wrong_schema() -> None:
    """A valid message of another schema is refused where a request is expected."""
    with pytest.raises(CodecError) as caught:
        CODEC.decode_request(CODEC.encode_audit(samples.AUDIT))
    assert caught.value.code == "WRONG_SCHEMA"


def test_value_that_does_not_fit_is_codec_error() -> None:
    """Encoding a value of the wrong type raises CodecError naming the schema."""
    with pytest.raises(CodecError) as caught:
        CODEC.schemas.encode("vn.dancu.Address", {"scheme": 1})
    assert caught.value.code == "DOES_NOT_FIT_SCHEMA"
