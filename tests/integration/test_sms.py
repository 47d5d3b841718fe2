"""The SMS adapter on the secured broker: a gateway's MOs in, the citizen's own record (or nothing) out.

The adapter runs as the connected agency ``sms`` and asks the resolver SELF through the SDK; MOs are
written and MTs read as the broker's super user stands in for the telecom's gateway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_to_end
from dancu_bus.contracts import Citizen
from dancu_bus.operations import platform_codec
from dancu_bus.operations.self_record import e164_digits
from dancu_bus.settings import KafkaSettings, Settings, SmsSettings
from dancu_bus.sms import Encoding, Kind, Mo, Mt, SmsWire, reassemble, run_sms
from tests.integration.audit_env import audited_exchanges
from tests.integration.secured_stack import SecuredStack, Service, running_secured_stack
from tests.keys import sdk_keys

pytestmark = [pytest.mark.integration, pytest.mark.citizen, pytest.mark.timeout(240)]

SMS = "sms"
CODEC = platform_codec()
WIRE = SmsWire(CODEC.schemas)
LIMITS = SmsSettings(phone_limit=5, phone_period_s=600, id_limit=3, id_period_s=3600, metrics_port=0)
SHORT_CODE = "8088"
STRANGER = "84900000001"


def _adapter(stack: SecuredStack, diacritics: bool = True) -> Service:
    settings: Settings = stack.settings_of(SMS).model_copy(
        update={
            "sms": LIMITS.model_copy(update={"diacritics": diacritics}),
            "sdk": stack.admin.sdk.model_copy(update={"answer_keys": sdk_keys(SMS)}),
        }
    )

    async def main(stop: asyncio.Event) -> None:
        await run_sms(settings, CODEC, stop)

    return Service("sms", main)


@pytest.fixture(scope="module")
def stack(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """Resolver and audit as their principals, the sms agency issued its login."""
    folder = tmp_path_factory.mktemp("sms")
    with running_secured_stack(secure_kafka, folder, [SMS], citizens=150) as running:
        yield running


@pytest.fixture(scope="module")
def adapter(stack: SecuredStack) -> Iterator[list[Service]]:
    """The adapter running as agency sms (in a list: a test may replace it)."""
    running = [_adapter(stack)]
    running[0].start()
    try:
        yield running
    finally:
        running[0].stop()


@pytest.fixture(autouse=True)
def _running(adapter: list[Service]) -> None:
    """Every test here needs the adapter."""


def _send(stack: SecuredStack, sender: str, *texts: str) -> list[str]:
    """MOs from ``sender`` as the gateway publishes them; their gateway message ids."""
    producer = Producer(client_config(stack.admin.kafka))
    ids = []
    for text in texts:
        mo = Mo(f"gw-{uuid.uuid4().hex[:16]}", sender, SHORT_CODE, text, datetime.now(UTC))
        producer.produce(stack.names.sms_mo, WIRE.encode_mo(mo), key=sender.encode())
        ids.append(mo.gateway_message_id)
    assert producer.flush(30) == 0
    return ids


def _all_replies(stack: SecuredStack) -> list[Mt]:
    return [WIRE.decode_mt(r.value) for r in read_to_end(stack.admin.kafka, stack.names.sms_mt, 30)]


def _replies(stack: SecuredStack, ids: list[str]) -> dict[str, Mt]:
    """The MT answering each MO, waited for."""
    for _ in range(60):
        found = {mt.in_reply_to: mt for mt in _all_replies(stack) if mt.in_reply_to in ids}
        if len(found) == len(ids):
            return found
        time.sleep(1)
    raise AssertionError(f"{len(ids) - len(found)} of {len(ids)} MOs got no reply")


def _drained(stack: SecuredStack) -> None:
    """Wait until the adapter committed every MO written so far (it commits after writing replies)."""
    topic = stack.names.sms_mo
    consumer = Consumer({**client_config(stack.admin.kafka), "group.id": LIMITS.group_id})
    try:
        partitions = [
            TopicPartition(topic, p) for p in consumer.list_topics(topic, 30).topics[topic].partitions
        ]
        for _ in range(60):
            ends = [consumer.get_watermark_offsets(tp, 10)[1] for tp in partitions]
            committed = [max(tp.offset, 0) for tp in consumer.committed(partitions, 10)]
            if committed == ends:
                return
            time.sleep(1)
    finally:
        consumer.close()
    raise AssertionError("the adapter did not commit every MO")


def _registered(stack: SecuredStack) -> Iterator[tuple[Citizen, str]]:
    for person in stack.people:
        phone = e164_digits(person.phone)
        if phone is not None:
            yield person, phone


def test_the_registered_phone_gets_the_record_in_ucs2_segments_that_reassemble(stack: SecuredStack) -> None:
    """DC <id> from the phone on the record: the record in Vietnamese, UCS-2 segments giving the text back."""
    person, phone = next(_registered(stack))
    whole, address = _send(stack, phone, f"dc  {person.personal_id}", f"Dc {person.personal_id} địa chỉ")
    replies = _replies(stack, [whole, address])
    for mt in replies.values():
        assert (mt.kind, mt.recipient, mt.short_code) == (Kind.RECORD, phone, SHORT_CODE)
        assert person.full_name in mt.text
        assert all(s.encoding is Encoding.UCS2 for s in mt.segments)
        assert reassemble(mt.segments) == mt.text
    long = replies[address]
    assert len(long.segments) > 1 and "Thường trú" in long.text
    assert {s.reference for s in long.segments} == {long.segments[0].reference} != {None}
    assert [s.part for s in long.segments] == list(range(1, len(long.segments) + 1))
    assert person.birth_date.strftime("%d/%m/%Y") in replies[whole].text


def test_another_phone_gets_the_same_bytes_for_an_existing_and_an_unknown_id(stack: SecuredStack) -> None:
    """From a phone not on the record the reply to a real id and to an id nobody has is byte for byte one."""
    taken = {p.personal_id for p in stack.people}
    unknown = next(f"001090{n:06d}" for n in range(999_999, 0, -1) if f"001090{n:06d}" not in taken)
    existing, missing = _send(stack, STRANGER, f"DC {stack.people[1].personal_id}", f"DC {unknown}")
    replies = _replies(stack, [existing, missing])
    one, other = replies[existing], replies[missing]
    assert one.kind is Kind.NOT_BOUND
    assert (one.kind, one.text) == (other.kind, other.text)
    # Segment by segment the same bytes; only the concatenation reference, taken from the MO's id, differs.
    assert [(s.encoding, s.data, s.part, s.total) for s in one.segments] == [
        (s.encoding, s.data, s.part, s.total) for s in other.segments
    ]
    assert stack.people[1].full_name not in one.text


def test_malformed_syntax_gets_the_help_text(stack: SecuredStack) -> None:
    """What is no command is answered with the help, never a lookup."""
    ids = _send(stack, "84900000003", "xin chao", "DC 12345", "DC HELP")
    replies = _replies(stack, ids)
    assert {mt.kind for mt in replies.values()} == {Kind.HELP}
    assert len({mt.text for mt in replies.values()}) == 1


def test_an_undecodable_mo_is_a_dead_letter_and_the_next_one_is_answered(stack: SecuredStack) -> None:
    """Garbage and an MO out of bounds on the MO topic are set aside; the MO after them gets its reply."""
    sender = "84900000007"
    producer = Producer(client_config(stack.admin.kafka))
    producer.produce(stack.names.sms_mo, b"\xc3\x01 not avro", key=sender.encode())
    bad = Mo("x" * 200, sender, SHORT_CODE, "DC HELP", datetime.now(UTC))
    producer.produce(stack.names.sms_mo, WIRE.encode_mo(bad), key=sender.encode())
    assert producer.flush(30) == 0
    (after,) = _send(stack, sender, "DC HELP")
    assert _replies(stack, [after])[after].kind is Kind.HELP
    records = read_to_end(stack.admin.kafka, stack.names.dead_letters, 30)
    letters = [CODEC.decode_dead_letter(r.value) for r in records]
    codes = sorted(d.error_code for d in letters if d.topic == stack.names.sms_mo and d.failed_by == SMS)
    assert codes == ["BAD_VALUE", "UNKNOWN_FINGERPRINT"]


def test_of_a_burst_of_100_at_most_the_phone_limit_reach_the_resolver(stack: SecuredStack) -> None:
    """100 lookups from one phone: 5 are asked and answered, one 'try later', the rest nothing."""
    ids = _send(stack, "84900000004", *(f"DC {p.personal_id}" for p in stack.people[10:110]))
    _drained(stack)
    replies = [mt for mt in _all_replies(stack) if mt.in_reply_to in set(ids)]
    kinds = sorted(mt.kind for mt in replies)
    assert kinds.count(Kind.TRY_LATER) == 1
    assert len(replies) == LIMITS.phone_limit + 1
    asked = [
        request
        for record in read_to_end(stack.admin.kafka, stack.names.request(SMS), 30)
        if (request := CODEC.decode_request(record.value)).case_no in set(ids)
    ]
    assert len(asked) == LIMITS.phone_limit


def test_an_ascii_reply_is_gsm7_and_a_restart_answers_no_mo_twice(
    stack: SecuredStack, adapter: list[Service]
) -> None:
    """Without diacritics the reply is GSM-7 (concatenated when long); after a restart no MO has 2 replies."""
    adapter[0].stop()
    adapter[0] = _adapter(stack, diacritics=False)  # the same group: it goes on from the committed offsets
    adapter[0].start()
    (help_id,) = _send(stack, "84900000006", "DC HELP")
    mt = _replies(stack, [help_id])[help_id]
    assert mt.kind is Kind.HELP and mt.text.isascii()
    assert all(s.encoding is Encoding.GSM7 for s in mt.segments)
    assert reassemble(mt.segments) == mt.text
    answered = [m.in_reply_to for m in _all_replies(stack)]
    assert len(answered) == len(set(answered))


def test_every_lookup_asked_has_its_audit_record_free_with_the_fields_it_disclosed(
    stack: SecuredStack,
) -> None:
    """Each SELF request the adapter sent is audited as agency sms with fee 0 (Art. 8.2), and an answer
    that disclosed fields has exactly those recorded."""
    person, phone = next(_registered(stack))
    ids = _send(stack, phone, f"DC {person.personal_id}")
    _replies(stack, ids)
    audited = audited_exchanges(stack.admin.kafka, SMS, CODEC)
    for request, response, audit in audited.values():
        assert (audit.operation, audit.fee, audit.personal_id) == ("SELF", 0, request.personal_id)
        assert audit.fields_disclosed == response.fields_disclosed
    (mine,) = (audit for request, _, audit in audited.values() if request.case_no in ids)
    assert mine.status == "OK" and "full_name" in mine.fields_disclosed
