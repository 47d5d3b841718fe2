"""The demo's citizens (Art. 8, 9): a lookup by SMS from the phone on the record, and who read my data.

The demo plays the telecom's SMS gateway and the public service portal's gateway, as the broker's
super user: it writes an MO and reads its MT reply segment by segment, then asks the portal adapter
for the citizen's own record and for the exchanges about them today, after the audit index caught up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, TypeVar

from dancu_bus.admin.reader import TopicRecord, read_topic
from dancu_bus.admin.writer import write_records
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen
from dancu_bus.operations.self_record import e164_digits
from dancu_bus.portal import (
    PORTAL_REQUEST,
    PORTAL_RESPONSE,
    AccountType,
    HistoryAsk,
    PortalRequest,
    Service,
    request_record,
)
from dancu_bus.settings import KafkaSettings
from dancu_bus.sms import Mo, Mt, SmsWire
from dancu_bus.timestamps import VIETNAM
from dancu_bus.topic_names import TopicNames

__all__ = ["CHANNELS", "SHORT_CODE", "ask_portal", "audited_channels", "history_lines", "sms_lookup"]

SHORT_CODE = "8088"
CHANNELS = frozenset({"sms", "portal"})  # the citizens' channels, agencies in deploy/agencies.yaml
_WAIT_S = 60.0
_T = TypeVar("_T")


def sms_lookup(admin: KafkaSettings, codec: Codec, person: Citizen, out: TextIO) -> Mt | None:
    """Send ``DC <id> DIACHI`` from the phone on the person's record; print the reply and its segments.

    None when the record has no phone the gateway could send from, or no reply came within a minute.
    """
    sender = e164_digits(person.phone)
    if sender is None:
        print(f"sms: {person.personal_id} has no mobile number on the record; no SMS lookup", file=out)
        return None
    wire, names = SmsWire(codec.schemas), TopicNames(admin.topic_prefix)
    mo = Mo(f"demo-{uuid.uuid4().hex[:12]}", sender, SHORT_CODE, f"DC {person.personal_id} DIACHI", _now())
    write_records(admin, names.sms_mo, [(sender.encode(), wire.encode_mo(mo))])
    print(f"sms: MO from +{sender} to {SHORT_CODE}: {mo.text!r}", file=out)
    mt = _first(admin, names.sms_mt, lambda value: _reply_to(wire, value, mo.gateway_message_id))
    if mt is None:
        print("sms: no reply within a minute", file=out)
        return None
    first = mt.segments[0]
    per_segment = "153 septets" if first.encoding.value == "GSM7" else "67 characters"
    print(
        f"sms: MT {mt.kind.value} to +{mt.recipient}, {len(mt.text)} characters in {len(mt.segments)} "
        f"{first.encoding.value} segment(s) (concatenated: {per_segment} each)",
        file=out,
    )
    for segment in mt.segments:
        text = segment.data.decode("utf-16-be") if first.encoding.value == "UCS2" else segment.data.decode()
        print(f"  [{segment.part}/{segment.total}] {text.replace(chr(10), ' ↵ ')}", file=out)
    return mt


def _reply_to(wire: SmsWire, value: bytes, gateway_message_id: str) -> Mt | None:
    mt = wire.decode_mt(value)
    return mt if mt.in_reply_to == gateway_message_id else None


def ask_portal(
    admin: KafkaSettings, codec: Codec, person: Citizen, service: Service, start: datetime | None = None
) -> dict[str, Any] | None:
    """One request of a VNeID level-2 session bound to ``person``; its decoded answer, or None."""
    now = _now()
    ask = HistoryAsk(start, now + timedelta(minutes=1), None, 20) if start is not None else None
    request = PortalRequest(
        str(uuid.uuid4()),
        f"demo-{uuid.uuid4().hex[:12]}",
        AccountType.VNEID,
        2,
        person.personal_id,
        service,
        person.personal_id,
        ask,
        now,
    )
    names = TopicNames(admin.topic_prefix)
    record = request_record(request)
    value = codec.schemas.encode(PORTAL_REQUEST, record)
    write_records(admin, names.portal_req, [(request.session_id.encode(), value)])

    def answer(value: bytes) -> dict[str, Any] | None:
        name, decoded = codec.schemas.decode(value)
        return decoded if name == PORTAL_RESPONSE and decoded["request_id"] == request.request_id else None

    return _first(admin, names.portal_res, answer)


def audited_channels(admin: KafkaSettings, codec: Codec, personal_id: str) -> bool:
    """Wait (a minute at most) until the audit topic holds a record of each channel about ``personal_id``."""
    seen: set[str] = set()

    def done(records: Sequence[TopicRecord]) -> bool:
        for record in records:
            if record.value is not None:
                audit = codec.decode_audit(record.value)
                if audit.personal_id == personal_id and audit.agency in CHANNELS:
                    seen.add(audit.agency)
        return seen >= CHANNELS

    read_topic(admin, TopicNames(admin.topic_prefix).audit, done, _WAIT_S)
    return seen >= CHANNELS


def history_lines(answer: dict[str, Any]) -> list[str]:
    """The access history's entries, one line each: when (Vietnam time), who, what, why, what was seen."""
    lines = []
    for entry in answer["history"]:
        when = entry["received_at"].astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S")
        code = f" ({entry['agency_code']})" if entry["agency_code"] else ""
        outcome = entry["status"] + (f" {entry['reason_code']}" if entry["reason_code"] else "")
        fields = ", ".join(entry["fields_disclosed"]) or "-"
        lines.append(
            f"  {when}  {entry['agency_name']}{code}  {entry['operation']} {entry['purpose_code']}"
            f" ({entry['legal_basis']})  {outcome}  fields: {fields}"
        )
    return lines


def _now() -> datetime:
    return datetime.now(UTC)


def _first(admin: KafkaSettings, topic: str, pick: Callable[[bytes], _T | None]) -> _T | None:
    """The first record of ``topic`` that ``pick`` gives a value for, waited for a minute at most."""
    found: list[_T] = []
    read = 0

    def done(records: Sequence[TopicRecord]) -> bool:
        nonlocal read
        for record in records[read:]:
            if record.value is not None and (value := pick(record.value)) is not None:
                found.append(value)
        read = len(records)
        return bool(found)

    read_topic(admin, topic, done, _WAIT_S)
    return found[0] if found else None
