"""Maps the contract dataclasses to and from Avro records; the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from dancu_bus.codec.framing import SchemaSet
from dancu_bus.codec.operations import OperationSet, OperationWire
from dancu_bus.contracts import (
    Address,
    AuditPending,
    AuditRecord,
    DeadLetter,
    DeadLetterOriginal,
    DisclosedField,
    ItemStatus,
    Request,
    Response,
    ResponseHalf,
    ResponseStatus,
    Sealed,
)
from dancu_bus.errors import CodecError
from dancu_bus.timestamps import aware

__all__ = [
    "AUDIT",
    "AUDIT_PENDING",
    "DEAD_LETTER",
    "REQUEST",
    "RESPONSE",
    "SEALED_FIELDS",
    "Codec",
    "address_from",
    "address_record",
    "disclosed_from",
    "disclosed_record",
    "sealed_from",
    "sealed_record",
]

REQUEST = "vn.dancu.Request"
RESPONSE = "vn.dancu.Response"
AUDIT = "vn.dancu.AuditRecord"
AUDIT_PENDING = "vn.dancu.AuditPending"
DEAD_LETTER = "vn.dancu.DeadLetter"
SEALED_FIELDS = "vn.dancu.SealedFields"
DEAD_LETTER_ORIGINAL = "vn.dancu.DeadLetterOriginal"
_ADDRESS = "vn.dancu.Address"
_SEALED = "vn.dancu.Sealed"
_RESPONSE_HALF = "vn.dancu.ResponseHalf"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Codec:
    """Encodes and decodes every message type of the contract."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self._operations = _Operations(schemas.operations)

    @property
    def operations(self) -> OperationSet:
        """The operations the request and response schemas were composed of."""
        return self.schemas.operations

    def encode_request(self, request: Request) -> bytes:
        """Request → bytes; CodecError unless its operation is registered and owns its body."""
        wire = self._operations.by_name.get(request.operation)
        if wire is None:
            known = ", ".join(self._operations.by_name)
            raise CodecError("UNKNOWN_OPERATION", f"{request.operation[:32]!r} is not registered ({known})")
        if request.body is not None and not wire.owns_body(request.body):
            raise CodecError(
                "BODY_NOT_OF_OPERATION", f"a {type(request.body).__name__} is not a {request.operation} body"
            )
        return self.encode_foreign_request(request)

    def encode_foreign_request(self, request: Request) -> bytes:
        """Request → bytes as any agency could write them: the operation string unchecked.

        For the demonstration and the hostile-agency probes, which send what the platform must refuse;
        the body is still written as the record of the operation that owns its type.
        """
        body = request.body
        if body is None:
            return self.schemas.encode(REQUEST, _request_record(request, None))
        wire = self._operations.for_body(body)
        return self.schemas.encode(
            REQUEST, _request_record(request, (_body_name(wire), wire.body_record(body)))
        )

    def decode_request(self, data: bytes | None) -> Request:
        """Bytes → Request, or CodecError; an unregistered ``operation`` string is read, to be answered."""
        return self.schemas.decode_as(REQUEST, data, lambda r: _request_from(r, self._operations))

    def encode_response(self, response: Response) -> bytes:
        """Response → bytes."""
        return self.schemas.encode(RESPONSE, _response_record(response, self._operations))

    def decode_response(self, data: bytes | None) -> Response:
        """Bytes → Response, or CodecError."""
        return self.schemas.decode_as(RESPONSE, data, lambda r: _response_from(r, self._operations))

    def encode_sealed_fields(self, exchange_id: str, fields: tuple[DisclosedField, ...]) -> bytes:
        """The plaintext of a LOOKUP answer's sealed part: its fields whole, for ``exchange_id``."""
        record = {"exchange_id": exchange_id, "fields": [disclosed_record(f) for f in fields]}
        return self.schemas.encode(SEALED_FIELDS, record)

    def decode_sealed_fields(self, data: bytes) -> tuple[str, tuple[DisclosedField, ...]]:
        """Bytes → (exchange id, fields), or CodecError."""
        return self.schemas.decode_as(
            SEALED_FIELDS,
            data,
            lambda r: (str(r["exchange_id"]), tuple(disclosed_from(f) for f in r["fields"])),
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


def _millis(moment: datetime) -> int | datetime:
    """An aware timestamp as the milliseconds fastavro would write for it; a naive one left to fastavro.

    fastavro converts a datetime several times slower than it writes a long; the arithmetic is its own.
    """
    if moment.tzinfo is None:
        return moment
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def address_record(address: Address) -> dict[str, Any]:
    return {
        "scheme": address.scheme,
        "province_code": address.province_code,
        "district_code": address.district_code,
        "commune_code": address.commune_code,
        "detail": address.detail,
    }


def address_from(record: Mapping[str, Any]) -> Address:
    return Address(
        scheme=record["scheme"],
        province_code=record["province_code"],
        commune_code=record["commune_code"],
        district_code=record["district_code"],
        detail=record["detail"],
    )


def _body_name(wire: OperationWire) -> str:
    return _named(wire.body_schema)


def _named(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    return name if "." in name else f"{schema.get('namespace', 'vn.dancu')}.{name}"


class _Operations:
    """The codec's view of its operations: by name, by body branch, by result field and branch."""

    def __init__(self, operations: OperationSet) -> None:
        self.wires = tuple(operations.wires())
        self.by_name = {w.name: w for w in self.wires}
        self.by_body = {_body_name(w): w for w in self.wires}
        self.in_result = {_named(w.result_schema): w for w in self.wires if w.result_schema is not None}
        self.own_fields = {w.result_field: w for w in self.wires if w.result_schema is None}

    def for_body(self, body: object) -> OperationWire:
        for wire in self.wires:
            if wire.owns_body(body):
                return wire
        raise CodecError("UNKNOWN_OPERATION", f"no registered operation has a {type(body).__name__} body")

    def for_result(self, result: object) -> OperationWire:
        for wire in self.wires:
            if wire.owns_result(result):
                return wire
        raise CodecError("UNKNOWN_OPERATION", f"no registered operation has a {type(result).__name__} result")


def _request_record(request: Request, body: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
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
        # (name, record) names the union branch: fastavro otherwise finds it by validating the record
        # against each branch, which took longer than writing it.
        "body": body,
        "hidden_until": None if request.hidden_until is None else _millis(request.hidden_until),
        "hiding_legal_basis": request.hiding_legal_basis,
    }


def _request_from(record: Mapping[str, Any], operations: _Operations) -> Request:
    return Request(
        request_id=str(record["request_id"]),
        agency=record["agency"],
        officer_id=record["officer_id"],
        case_no=record["case_no"],
        purpose_code=record["purpose_code"],
        legal_basis=record["legal_basis"],
        operation=record["operation"],
        sent_at=aware(record["sent_at"]),
        expires_at=aware(record["expires_at"]),
        body=None
        if (body := _branch_from(record["body"], operations.by_body)) is None
        else body[0].body_from(body[1]),
        hidden_until=None if (until := record.get("hidden_until")) is None else aware(until),
        hiding_legal_basis=record.get("hiding_legal_basis"),
    )


def _branch_from(
    value: Any, wires: Mapping[str, OperationWire]
) -> tuple[OperationWire, Mapping[str, Any]] | None:
    """The operation whose record a union of operations' records holds, and the record.

    fastavro gives a (name, record) pair for a union of several records, the record alone for one.
    """
    if value is None:
        return None
    if isinstance(value, tuple):
        name, record = value
        return wires[name], record
    (wire,) = wires.values()
    return wire, value


def _response_record(response: Response, operations: _Operations) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": response.request_id,
        "exchange_id": response.exchange_id,
        "agency": response.agency,
        "operation": response.operation,
        "status": response.status.value,
        "reason_code": response.reason_code,
        "message_vi": response.message_vi,
        "message_en": response.message_en,
        "answered_at": _millis(response.answered_at),
        "result": None,
        **dict.fromkeys(operations.own_fields),
    }
    result = response.result
    if result is not None:
        wire = operations.for_result(result)
        schema = wire.result_schema
        name = _named(schema) if schema is not None else wire.result_name
        record[wire.result_field] = (name, wire.result_record(result))
    return record


def sealed_record(sealed: Sealed | None) -> tuple[str, dict[str, str]] | None:
    """A sealed part as the branch of its ``["null", "vn.dancu.Sealed"]`` field."""
    return None if sealed is None else (_SEALED, {"key_id": sealed.key_id, "jwe": sealed.jwe})


def sealed_from(record: Mapping[str, Any] | None) -> Sealed | None:
    """A sealed part from its Avro record."""
    return None if record is None else Sealed(record["key_id"], record["jwe"])


def disclosed_record(disclosed: DisclosedField) -> dict[str, Any]:
    value = disclosed.value
    return {
        "name": disclosed.name,
        "value": (_ADDRESS, address_record(value)) if isinstance(value, Address) else value,
        "source": disclosed.source,
        "updated_on": disclosed.updated_on,
        "converted_from": (_ADDRESS, address_record(origin))
        if (origin := disclosed.converted_from)
        else None,
        "alternatives": [address_record(a) for a in disclosed.alternatives],
        "sealed": disclosed.sealed,
    }


def _response_from(record: Mapping[str, Any], operations: _Operations) -> Response:
    return Response(
        request_id=str(record["request_id"]),
        exchange_id=str(record["exchange_id"]),
        agency=record["agency"],
        operation=record["operation"],
        status=ResponseStatus(record["status"]),
        answered_at=aware(record["answered_at"]),
        reason_code=record["reason_code"],
        message_vi=record["message_vi"],
        message_en=record["message_en"],
        result=_result_from(record, operations),
    )


def _result_from(record: Mapping[str, Any], operations: _Operations) -> object | None:
    """The one result a response carries: in an operation's own field, or in ``result``."""
    for field, wire in operations.own_fields.items():
        if record.get(field) is not None:
            result: object = wire.result_from(record[field])
            return result
    found = _branch_from(record.get("result"), operations.in_result)
    return None if found is None else cast(object, found[0].result_from(found[1]))


def disclosed_from(record: Mapping[str, Any]) -> DisclosedField:
    value = record["value"]
    updated: date = record["updated_on"]
    return DisclosedField(
        name=record["name"],
        value=address_from(value) if isinstance(value, dict) else value,
        source=record["source"],
        updated_on=updated,
        converted_from=address_from(origin) if (origin := record["converted_from"]) else None,
        alternatives=tuple(address_from(a) for a in record["alternatives"]),
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
        "criteria": list(audit.criteria),
        "trace_id": audit.trace_id,
        "fee": audit.fee,
        "hidden_until": audit.hidden_until,
        "hiding_legal_basis": audit.hiding_legal_basis,
    }


def _audit_from(record: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        exchange_id=record["exchange_id"],
        request_id=record["request_id"],
        received_at=aware(record["received_at"]),
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
        answered_at=aware(record["answered_at"]),
        request_topic=record["request_topic"],
        request_partition=record["request_partition"],
        request_offset=record["request_offset"],
        prev_exchange_id=record["prev_exchange_id"],
        prev_hash=record["prev_hash"],
        hash=record["hash"],
        criteria=tuple(record["criteria"]),
        trace_id=record["trace_id"],
        fee=record["fee"],
        hidden_until=None if (until := record.get("hidden_until")) is None else aware(until),
        hiding_legal_basis=record.get("hiding_legal_basis"),
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
        "sealed": sealed_record(letter.sealed),
    }


def _dead_letter_from(record: Mapping[str, Any]) -> DeadLetter:
    return DeadLetter(
        topic=record["topic"],
        partition=record["partition"],
        offset=record["offset"],
        last_offset=record["last_offset"],
        timestamp=aware(record["timestamp"]),
        original_key=record["original_key"],
        original_value=record["original_value"],
        value_size=record["value_size"],
        value_sha256=record["value_sha256"],
        headers=tuple((h["key"], h["value"]) for h in record["headers"]),
        headers_dropped=record["headers_dropped"],
        error_code=record["error_code"],
        error=record["error"],
        failed_by=record["failed_by"],
        failed_at=aware(record["failed_at"]),
        key_size=record["key_size"],
        sealed=sealed_from(record["sealed"]),
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
                "items": [{"status": i.status, "reason_code": i.reason_code} for i in response.items],
            },
        ),
        "unanswered_recorded": pending.unanswered_recorded,
        "items": list(pending.items),
    }


def _pending_from(record: Mapping[str, Any]) -> AuditPending:
    request, response = record["request"], record["response"]
    return AuditPending(
        exchange_id=record["exchange_id"],
        seen_at=aware(record["seen_at"]),
        request=None if request is None else _audit_from(request),
        response=None
        if response is None
        else ResponseHalf(
            agency=response["agency"],
            request_id=response["request_id"],
            status=response["status"],
            reason_code=response["reason_code"],
            fields_disclosed=tuple(response["fields_disclosed"]),
            answered_at=aware(response["answered_at"]),
            items=tuple(ItemStatus(i["status"], i["reason_code"]) for i in response["items"]),
        ),
        unanswered_recorded=record["unanswered_recorded"],
        items=tuple(record["items"]),
    )
