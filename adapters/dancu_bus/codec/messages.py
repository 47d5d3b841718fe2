"""Maps the contract dataclasses to and from Avro records; the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from dancu_bus.codec.framing import SchemaSet
from dancu_bus.contracts import (
    Address,
    AuditPending,
    AuditRecord,
    DeadLetter,
    DeadLetterOriginal,
    DisclosedField,
    FieldMatch,
    LookupQuery,
    LookupResult,
    MatchOutcome,
    Request,
    Response,
    ResponseHalf,
    ResponseStatus,
    Sealed,
    Verdict,
    VerifyQuery,
    VerifyResult,
)

__all__ = ["AUDIT", "AUDIT_PENDING", "DEAD_LETTER", "REQUEST", "RESPONSE", "SEALED_FIELDS", "Codec"]

REQUEST = "vn.dancu.Request"
RESPONSE = "vn.dancu.Response"
AUDIT = "vn.dancu.AuditRecord"
AUDIT_PENDING = "vn.dancu.AuditPending"
DEAD_LETTER = "vn.dancu.DeadLetter"
SEALED_FIELDS = "vn.dancu.SealedFields"
DEAD_LETTER_ORIGINAL = "vn.dancu.DeadLetterOriginal"
_VERIFY_BODY = "vn.dancu.VerifyBody"
_LOOKUP_BODY = "vn.dancu.LookupBody"
_VERIFY_RESULT = "vn.dancu.VerifyResult"
_LOOKUP_RESULT = "vn.dancu.LookupResult"
_ADDRESS = "vn.dancu.Address"
_RESPONSE_HALF = "vn.dancu.ResponseHalf"
_SEALED = "vn.dancu.Sealed"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Codec:
    """Encodes and decodes every message type of the contract."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas

    def encode_request(self, request: Request) -> bytes:
        """Request → bytes."""
        return self.schemas.encode(REQUEST, _request_record(request))

    def decode_request(self, data: bytes | None) -> Request:
        """Bytes → Request, or CodecError."""
        return self.schemas.decode_as(REQUEST, data, _request_from)

    def encode_response(self, response: Response) -> bytes:
        """Response → bytes."""
        return self.schemas.encode(RESPONSE, _response_record(response))

    def decode_response(self, data: bytes | None) -> Response:
        """Bytes → Response, or CodecError."""
        return self.schemas.decode_as(RESPONSE, data, _response_from)

    def encode_sealed_fields(self, exchange_id: str, fields: tuple[DisclosedField, ...]) -> bytes:
        """The plaintext of a LOOKUP answer's sealed part: its fields whole, for ``exchange_id``."""
        record = {"exchange_id": exchange_id, "fields": [_disclosed_record(f) for f in fields]}
        return self.schemas.encode(SEALED_FIELDS, record)

    def decode_sealed_fields(self, data: bytes) -> tuple[str, tuple[DisclosedField, ...]]:
        """Bytes → (exchange id, fields), or CodecError."""
        return self.schemas.decode_as(
            SEALED_FIELDS,
            data,
            lambda r: (str(r["exchange_id"]), tuple(_disclosed_from(f) for f in r["fields"])),
        )

    def encode_original(self, original: DeadLetterOriginal) -> bytes:
        """The plaintext of a dead letter's sealed part."""
        record = {
            "key": original.key,
            "value": original.value,
            "headers": [{"key": k, "value": v} for k, v in original.headers],
            "error": original.error,
        }
        return self.schemas.encode(DEAD_LETTER_ORIGINAL, record)

    def decode_original(self, data: bytes) -> DeadLetterOriginal:
        """Bytes → DeadLetterOriginal, or CodecError."""
        return self.schemas.decode_as(
            DEAD_LETTER_ORIGINAL,
            data,
            lambda r: DeadLetterOriginal(
                r["key"], r["value"], tuple((h["key"], h["value"]) for h in r["headers"]), r["error"]
            ),
        )

    def encode_audit(self, record: AuditRecord) -> bytes:
        """AuditRecord → bytes."""
        return self.schemas.encode(AUDIT, _audit_record(record))

    def decode_audit(self, data: bytes | None) -> AuditRecord:
        """Bytes → AuditRecord, or CodecError."""
        return self.schemas.decode_as(AUDIT, data, _audit_from)

    def encode_pending(self, pending: AuditPending) -> bytes:
        """AuditPending → bytes."""
        return self.schemas.encode(AUDIT_PENDING, _pending_record(pending))

    def decode_pending(self, data: bytes | None) -> AuditPending:
        """Bytes → AuditPending, or CodecError."""
        return self.schemas.decode_as(AUDIT_PENDING, data, _pending_from)

    def encode_dead_letter(self, letter: DeadLetter) -> bytes:
        """DeadLetter → bytes."""
        return self.schemas.encode(DEAD_LETTER, _dead_letter_record(letter))

    def decode_dead_letter(self, data: bytes | None) -> DeadLetter:
        """Bytes → DeadLetter, or CodecError."""
        return self.schemas.decode_as(DEAD_LETTER, data, _dead_letter_from)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _millis(moment: datetime) -> int | datetime:
    """An aware timestamp as the milliseconds fastavro would write for it; a naive one left to fastavro.

    fastavro converts a datetime several times slower than it writes a long; the arithmetic is its own.
    """
    if moment.tzinfo is None:
        return moment
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _address_record(address: Address) -> dict[str, Any]:
    return {
        "scheme": address.scheme,
        "province_code": address.province_code,
        "district_code": address.district_code,
        "commune_code": address.commune_code,
        "detail": address.detail,
    }


def _address_from(record: Mapping[str, Any]) -> Address:
    return Address(
        scheme=record["scheme"],
        province_code=record["province_code"],
        commune_code=record["commune_code"],
        district_code=record["district_code"],
        detail=record["detail"],
    )


def _request_record(request: Request) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "agency": request.agency,
        "officer_id": request.officer_id,
        "case_no": request.case_no,
        "purpose_code": request.purpose_code,
        "legal_basis": request.legal_basis,
        "operation": request.operation,
        "sent_at": _millis(request.sent_at),
        "expires_at": _millis(request.expires_at),
        "body": _body_record(request.body),
    }


def _body_record(body: VerifyQuery | LookupQuery | None) -> tuple[str, dict[str, Any]] | None:
    if body is None:
        return None
    if isinstance(body, LookupQuery):
        return _LOOKUP_BODY, {
            "personal_id": body.personal_id,
            "fields": list(body.fields),
            "address_scheme": body.address_scheme,
        }
    address = body.permanent_address
    return _VERIFY_BODY, {
        "personal_id": body.personal_id,
        "full_name": body.full_name,
        "birth_date": body.birth_date,
        "sex": body.sex,
        "ethnic_group": body.ethnic_group,
        "phone": body.phone,
        "permanent_address": _address_record(address) if address is not None else None,
    }


def _request_from(record: Mapping[str, Any]) -> Request:
    return Request(
        request_id=str(record["request_id"]),
        agency=record["agency"],
        officer_id=record["officer_id"],
        case_no=record["case_no"],
        purpose_code=record["purpose_code"],
        legal_basis=record["legal_basis"],
        operation=record["operation"],
        sent_at=_utc(record["sent_at"]),
        expires_at=_utc(record["expires_at"]),
        body=_body_from(record["body"]),
    )


def _body_from(body: tuple[str, Mapping[str, Any]] | None) -> VerifyQuery | LookupQuery | None:
    if body is None:
        return None
    name, value = body
    if name == _LOOKUP_BODY:
        return LookupQuery(
            personal_id=value["personal_id"],
            fields=tuple(value["fields"]),
            address_scheme=value["address_scheme"],
        )
    address = value["permanent_address"]
    return VerifyQuery(
        personal_id=value["personal_id"],
        full_name=value["full_name"],
        birth_date=value["birth_date"],
        sex=value["sex"],
        ethnic_group=value["ethnic_group"],
        phone=value["phone"],
        permanent_address=_address_from(address) if address is not None else None,
    )


def _response_record(response: Response) -> dict[str, Any]:
    verify = response.verify
    lookup = response.lookup
    return {
        "request_id": response.request_id,
        "exchange_id": response.exchange_id,
        "agency": response.agency,
        "operation": response.operation,
        "status": response.status.value,
        "reason_code": response.reason_code,
        "message_vi": response.message_vi,
        "message_en": response.message_en,
        "answered_at": _millis(response.answered_at),
        # (name, record) names the union branch: fastavro otherwise finds it by validating the record
        # against each branch, which took longer than writing it.
        "verify": None
        if verify is None
        else (
            _VERIFY_RESULT,
            {
                "verdict": verify.verdict.value,
                "fields": [{"field": m.field, "outcome": m.outcome.value} for m in verify.fields],
            },
        ),
        "lookup": None
        if lookup is None
        else (
            _LOOKUP_RESULT,
            {
                "found": lookup.found,
                "fields": [_disclosed_record(f) for f in lookup.fields],
                "sealed": None
                if (sealed := lookup.sealed) is None
                else (_SEALED, {"key_id": sealed.key_id, "jwe": sealed.jwe}),
            },
        ),
    }


def _disclosed_record(disclosed: DisclosedField) -> dict[str, Any]:
    value = disclosed.value
    return {
        "name": disclosed.name,
        "value": (_ADDRESS, _address_record(value)) if isinstance(value, Address) else value,
        "source": disclosed.source,
        "updated_on": disclosed.updated_on,
        "converted_from": (_ADDRESS, _address_record(origin))
        if (origin := disclosed.converted_from)
        else None,
        "alternatives": [_address_record(a) for a in disclosed.alternatives],
        "sealed": disclosed.sealed,
    }


def _response_from(record: Mapping[str, Any]) -> Response:
    verify = record["verify"]
    lookup = record["lookup"]
    return Response(
        request_id=str(record["request_id"]),
        exchange_id=str(record["exchange_id"]),
        agency=record["agency"],
        operation=record["operation"],
        status=ResponseStatus(record["status"]),
        answered_at=_utc(record["answered_at"]),
        reason_code=record["reason_code"],
        message_vi=record["message_vi"],
        message_en=record["message_en"],
        verify=None
        if verify is None
        else VerifyResult(
            verdict=Verdict(verify["verdict"]),
            fields=tuple(_field_match(m["field"], m["outcome"]) for m in verify["fields"]),
        ),
        lookup=None
        if lookup is None
        else LookupResult(
            found=lookup["found"],
            fields=tuple(_disclosed_from(f) for f in lookup["fields"]),
            sealed=None if (sealed := lookup["sealed"]) is None else Sealed(sealed["key_id"], sealed["jwe"]),
        ),
    )


@cache
def _field_match(field: str, outcome: str) -> FieldMatch:
    # Immutable and few (fields × outcomes): one shared instance each instead of one per response.
    return FieldMatch(field, MatchOutcome(outcome))


def _disclosed_from(record: Mapping[str, Any]) -> DisclosedField:
    value = record["value"]
    updated: date = record["updated_on"]
    return DisclosedField(
        name=record["name"],
        value=_address_from(value) if isinstance(value, dict) else value,
        source=record["source"],
        updated_on=updated,
        converted_from=_address_from(origin) if (origin := record["converted_from"]) else None,
        alternatives=tuple(_address_from(a) for a in record["alternatives"]),
        sealed=record["sealed"],
    )


def _audit_record(audit: AuditRecord) -> dict[str, Any]:
    return {
        "exchange_id": audit.exchange_id,
        "request_id": audit.request_id,
        "received_at": audit.received_at,
        "agency": audit.agency,
        "claimed_agency": audit.claimed_agency,
        "officer_id": audit.officer_id,
        "case_no": audit.case_no,
        "purpose_code": audit.purpose_code,
        "legal_basis": audit.legal_basis,
        "operation": audit.operation,
        "personal_id": audit.personal_id,
        "status": audit.status,
        "reason_code": audit.reason_code,
        "fields_disclosed": list(audit.fields_disclosed),
        "answered_at": audit.answered_at,
        "request_topic": audit.request_topic,
        "request_partition": audit.request_partition,
        "request_offset": audit.request_offset,
        "prev_exchange_id": audit.prev_exchange_id,
        "prev_hash": audit.prev_hash,
        "hash": audit.hash,
    }


def _audit_from(record: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        exchange_id=record["exchange_id"],
        request_id=record["request_id"],
        received_at=_utc(record["received_at"]),
        agency=record["agency"],
        claimed_agency=record["claimed_agency"],
        officer_id=record["officer_id"],
        case_no=record["case_no"],
        purpose_code=record["purpose_code"],
        legal_basis=record["legal_basis"],
        operation=record["operation"],
        personal_id=record["personal_id"],
        status=record["status"],
        reason_code=record["reason_code"],
        fields_disclosed=tuple(record["fields_disclosed"]),
        answered_at=_utc(record["answered_at"]),
        request_topic=record["request_topic"],
        request_partition=record["request_partition"],
        request_offset=record["request_offset"],
        prev_exchange_id=record["prev_exchange_id"],
        prev_hash=record["prev_hash"],
        hash=record["hash"],
    )


def _dead_letter_record(letter: DeadLetter) -> dict[str, Any]:
    return {
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "last_offset": letter.last_offset,
        "timestamp": letter.timestamp,
        "original_key": letter.original_key,
        "original_value": letter.original_value,
        "value_size": letter.value_size,
        "value_sha256": letter.value_sha256,
        "headers": [{"key": k, "value": v} for k, v in letter.headers],
        "headers_dropped": letter.headers_dropped,
        "error_code": letter.error_code,
        "error": letter.error,
        "failed_by": letter.failed_by,
        "failed_at": letter.failed_at,
        "key_size": letter.key_size,
        "sealed": None if (sealed := letter.sealed) is None else {"key_id": sealed.key_id, "jwe": sealed.jwe},
    }


def _dead_letter_from(record: Mapping[str, Any]) -> DeadLetter:
    return DeadLetter(
        topic=record["topic"],
        partition=record["partition"],
        offset=record["offset"],
        last_offset=record["last_offset"],
        timestamp=_utc(record["timestamp"]),
        original_key=record["original_key"],
        original_value=record["original_value"],
        value_size=record["value_size"],
        value_sha256=record["value_sha256"],
        headers=tuple((h["key"], h["value"]) for h in record["headers"]),
        headers_dropped=record["headers_dropped"],
        error_code=record["error_code"],
        error=record["error"],
        failed_by=record["failed_by"],
        failed_at=_utc(record["failed_at"]),
        key_size=record["key_size"],
        sealed=None if (sealed := record["sealed"]) is None else Sealed(sealed["key_id"], sealed["jwe"]),
    )


def _pending_record(pending: AuditPending) -> dict[str, Any]:
    request, response = pending.request, pending.response
    return {
        "exchange_id": pending.exchange_id,
        "seen_at": _millis(pending.seen_at),
        "request": None if request is None else (AUDIT, _audit_record(request)),
        "response": None
        if response is None
        else (
            _RESPONSE_HALF,
            {
                "agency": response.agency,
                "request_id": response.request_id,
                "status": response.status,
                "reason_code": response.reason_code,
                "fields_disclosed": list(response.fields_disclosed),
                "answered_at": _millis(response.answered_at),
            },
        ),
        "unanswered_recorded": pending.unanswered_recorded,
    }


def _pending_from(record: Mapping[str, Any]) -> AuditPending:
    request, response = record["request"], record["response"]
    return AuditPending(
        exchange_id=record["exchange_id"],
        seen_at=_utc(record["seen_at"]),
        request=None if request is None else _audit_from(request),
        response=None
        if response is None
        else ResponseHalf(
            agency=response["agency"],
            request_id=response["request_id"],
            status=response["status"],
            reason_code=response["reason_code"],
            fields_disclosed=tuple(response["fields_disclosed"]),
            answered_at=_utc(response["answered_at"]),
        ),
        unanswered_recorded=record["unanswered_recorded"],
    )
