"""The demo's citizens (Art. 8, 9): a lookup by SMS from the phone on the record, and who read my data.

The demo plays the telecom's SMS gateway and the public service portal's gateway, as the broker's
super user: it writes an MO and reads its MT reply segment by segment, then asks the portal adapter
for the citizen's own record and for the exchanges about them today, after the audit index caught up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, TypeVar

from dancu_bus.admin.reader import TopicRecord, read_topic
from dancu_bus.admin.writer import write_records
from dancu_bus.audit.indexer import IndexOptions, run_index
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
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.sms import Kind, Mo, Mt, SmsWire
from dancu_bus.timestamps import VIETNAM
from dancu_bus.topic_names import TopicNames

__all__ = [
    "CHANNELS",
    "SHORT_CODE",
    "ask_portal",
    "audited_channels",
    "history_lines",
    "show_citizens",
    "sms_lookup",
]

SHORT_CODE = "8088"
CHANNELS = frozenset({"sms", "portal"})  # the citizens' channels, agencies in deploy/agencies.yaml
_WAIT_S = 60.0
_T = TypeVar("_T")
_A = TypeVar("_A")


async def show_citizens(
    settings: Settings, admin: KafkaSettings, codec: Codec, person: Citizen, out: TextIO
) -> int:
    """An SMS lookup and the portal's access history of ``person``; 0 when both were answered in full."""
    since = datetime.now(UTC) - timedelta(days=1)
    mt = await _retried(lambda: asyncio.to_thread(sms_lookup, admin, codec, person, out), _sms_unavailable)
    own = await _retried(
        lambda: asyncio.to_thread(ask_portal, admin, codec, person, Service.CITIZEN_INFO), _portal_unavailable
    )
    if own is not None:
        shown = ", ".join(f["name"] for f in own["fields"]) or own["reason_code"]
        print(
            f"portal: CITIZEN_INFO (VNeID, level 2) for {person.personal_id}: {own['status']} [{shown}]",
            file=out,
        )
    # The history reads the audit index: wait for the channels' audit records, then index the topic.
    await asyncio.to_thread(audited_channels, admin, codec, person.personal_id)
    await run_index(
        settings.model_copy(update={"kafka": admin}), codec, IndexOptions(once=True, timeout_s=60)
    )
    history = await asyncio.to_thread(ask_portal, admin, codec, person, Service.ACCESS_HISTORY, since)
    if history is None or history["status"] != "OK":
        print(f"portal: ACCESS_HISTORY unanswered: {history}", file=out)
        return 1
    print(f"portal: ACCESS_HISTORY of {person.personal_id} (who read my data), newest first:", file=out)
    for line in history_lines(history):
        print(line, file=out)
    channels = {e["agency"] for e in history["history"]}
    ok = mt is not None and mt.kind is Kind.RECORD and own is not None and channels >= CHANNELS
    return 0 if ok else 1


async def _retried(ask: Callable[[], Awaitable[_A | None]], unavailable: Callable[[_A], bool]) -> _A | None:
    """``ask`` again (three times at most, 5 s apart) while its answer says the bus cannot serve yet."""
    answer = None
    for _ in range(3):
        answer = await ask()
        if answer is None or not unavailable(answer):
            return answer
        await asyncio.sleep(5)
    return answer


def _sms_unavailable(mt: Mt) -> bool:
    return mt.kind is Kind.UNAVAILABLE


def _portal_unavailable(answer: dict[str, Any]) -> bool:
    return bool(answer["reason_code"] == "AUDIT_UNAVAILABLE")


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
