"""The gateway's messages on the wire: ``vn.dancu.SmsMo`` in, ``vn.dancu.SmsMt`` out, with their bounds.

Every field of an MO is the gateway's text and untrusted: a value out of its bounds (a number that is
no E.164 number, an id or short code too long, a control character where none belongs) makes the MO
unusable (CodecError BAD_VALUE, a dead letter), never an unbounded key, label or reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dancu_bus.codec import SchemaSet
from dancu_bus.operations.self_record import e164_digits
from dancu_bus.sms.replies import Kind
from dancu_bus.sms.segments import Encoding, Segment
from dancu_bus.text import printable

__all__ = ["MAX_MESSAGE_ID", "MAX_TEXT", "MO_SCHEMA", "MT_SCHEMA", "Mo", "Mt", "SmsWire"]

MO_SCHEMA = "vn.dancu.SmsMo"
MT_SCHEMA = "vn.dancu.SmsMt"
MAX_MESSAGE_ID = 64
MAX_SHORT_CODE = 16
MAX_TEXT = 1600  # ten concatenated SMS of 160: what a gateway may hand over as one message
_PHONE_DIGITS = range(8, 16)  # E.164: at most 15 digits, country code included


@dataclass(frozen=True, slots=True)
class Mo:
    """An incoming SMS, its fields within bounds; ``sender`` as E.164 digits."""

    gateway_message_id: str
    sender: str
    short_code: str
    text: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Mt:
    """A reply: its text and the segments that carry it."""

    message_id: str
    recipient: str
    short_code: str
    in_reply_to: str
    kind: Kind
    text: str
    segments: tuple[Segment, ...]
    sent_at: datetime


class SmsWire:
    """Encodes and decodes MO and MT records with the platform's schemas (single-object Avro)."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas

    def decode_mo(self, data: bytes | None) -> Mo:
        """The MO in ``data``; CodecError (its code says why) when it is none or out of bounds."""
        return self._schemas.decode_as(MO_SCHEMA, data, _mo_from)

    def encode_mo(self, mo: Mo) -> bytes:
        """An MO as a gateway writes it (tests, the demo)."""
        record = {
            "gateway_message_id": mo.gateway_message_id,
            "sender": mo.sender,
            "short_code": mo.short_code,
            "text": mo.text,
            "received_at": mo.received_at,
        }
        return self._schemas.encode(MO_SCHEMA, record)

    def encode_mt(self, mt: Mt) -> bytes:
        """A reply's record."""
        return self._schemas.encode(MT_SCHEMA, _mt_record(mt))

    def decode_mt(self, data: bytes | None) -> Mt:
        """A reply, as the gateway reads it."""
        return self._schemas.decode_as(MT_SCHEMA, data, _mt_from)


def _mo_from(record: Mapping[str, Any]) -> Mo:
    message_id, short_code, text = record["gateway_message_id"], record["short_code"], record["text"]
    sender = e164_digits(record["sender"]) if len(record["sender"]) <= 32 else None
    if sender is None or len(sender) not in _PHONE_DIGITS:
        raise ValueError("the sender is no E.164 number")
    if not 0 < len(message_id) <= MAX_MESSAGE_ID or not printable(message_id):
        raise ValueError(f"the gateway message id is empty, longer than {MAX_MESSAGE_ID} or not printable")
    if not 0 < len(short_code) <= MAX_SHORT_CODE or not (short_code.isascii() and short_code.isdigit()):
        raise ValueError(f"the short code is not 1 to {MAX_SHORT_CODE} digits")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the text is longer than {MAX_TEXT} characters")
    return Mo(message_id, sender, short_code, text, record["received_at"])


def _mt_record(mt: Mt) -> dict[str, Any]:
    return {
        "message_id": mt.message_id,
        "recipient": mt.recipient,
        "short_code": mt.short_code,
        "in_reply_to": mt.in_reply_to,
        "kind": mt.kind.value,
        "text": mt.text,
        "segments": [
            {
                "encoding": s.encoding.value,
                "data": s.data,
                "reference": s.reference,
                "part": s.part,
                "total": s.total,
            }
            for s in mt.segments
        ],
        "sent_at": mt.sent_at,
    }


def _mt_from(record: Mapping[str, Any]) -> Mt:
    segments = tuple(
        Segment(Encoding(s["encoding"]), s["data"], s["reference"], s["part"], s["total"])
        for s in record["segments"]
    )
    return Mt(
        message_id=str(record["message_id"]),
        recipient=record["recipient"],
        short_code=record["short_code"],
        in_reply_to=record["in_reply_to"],
        kind=Kind(record["kind"]),
        text=record["text"],
        segments=segments,
        sent_at=record["sent_at"],
    )
