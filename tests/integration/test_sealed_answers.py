"""LOOKUP answers on the brokers' disks hold no personal value in clear; the asking agency alone opens them.

On the secured stack (TLS, each service its own principal): a LOOKUP response record read back as the
broker's super user holds none of the disclosed values, in any spelling; the SDK with the agency's
key gets them; with another agency's key it fails with an error naming the key; after a rotation,
answers sealed to the earlier key still open by its id.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.reader import read_to_end
from dancu_bus.codec import load_schemas
from dancu_bus.contracts import Address, Citizen
from dancu_bus.keys import AnswerKey, generate_key_pair
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import Client, ClientConfig, LookupQuery, SealedAnswerError
from dancu_bus.secret_files import write_private
from dancu_bus.settings import KafkaSettings
from tests.contexts import PUBLIC_SERVICE
from tests.integration.secured_stack import SecuredStack, running_secured_stack
from tests.keys import SAMPLE_KEYS, sdk_keys

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.timeout(300)]

PROVINCE, BANK = "demo-province", "demo-bank"
FIELDS = ("full_name", "birth_date", "household_id", "permanent_address")
CODEC = platform_codec()


@pytest.fixture(scope="module")
def stack(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """The services as their principals; the province with its own login and sample answer key."""
    with running_secured_stack(secure_kafka, tmp_path_factory.mktemp("sealed"), [PROVINCE, BANK]) as running:
        yield running


def _client(stack: SecuredStack, keys: Path | None) -> Client:
    return Client(ClientConfig(PROVINCE, stack.logins[PROVINCE], timeout_s=60, answer_keys=keys), CODEC)


def _in_clear(person: Citizen) -> list[str]:
    """Every spelling of the values a LOOKUP of ``person`` discloses that could sit in a record's bytes."""
    born = person.birth_date
    address = person.permanent_address
    spellings = [
        person.full_name,
        unicodedata.normalize("NFC", person.full_name),
        unicodedata.normalize("NFD", person.full_name),
        born.isoformat(),
        born.strftime("%d/%m/%Y"),
        person.household_id,
    ]
    return spellings + ([address.detail] if address.detail else [])


def _stored(stack: SecuredStack, request_id: str) -> bytes:
    """The value of ``request_id``'s response record as the broker keeps it, read as its super user."""
    topic = stack.names.response(PROVINCE)
    for _ in range(30):
        for record in read_to_end(stack.admin.kafka, topic, 30):
            if record.key == request_id.encode() and record.value is not None:
                return record.value
        time.sleep(1)
    raise AssertionError(f"no response record for {request_id} on {topic}")


def test_a_lookup_answer_on_the_broker_holds_no_disclosed_value(stack: SecuredStack) -> None:
    """Name (NFC, NFD), birth date, household id, address: none in the record; the SDK opens them all."""
    person = stack.people[7]
    with _client(stack, sdk_keys(PROVINCE)) as province:
        answer = province.lookup(LookupQuery(person.personal_id, FIELDS), PUBLIC_SERVICE)
    assert answer.ok and answer.found
    assert answer.fields["full_name"].value == person.full_name
    assert answer.fields["birth_date"].value == person.birth_date
    assert answer.fields["household_id"].value == person.household_id
    assert isinstance(answer.fields["permanent_address"].value, Address)
    data = _stored(stack, answer.request_id)
    for spelling in _in_clear(person):
        assert spelling.encode() not in data, spelling
    on_disk = CODEC.decode_response(data)
    assert on_disk.lookup is not None and on_disk.lookup.sealed is not None
    assert on_disk.lookup.sealed.key_id == SAMPLE_KEYS[PROVINCE].public.id
    assert sorted((f.name, f.value, f.sealed) for f in on_disk.lookup.fields) == [
        (name, None, True) for name in sorted(FIELDS)
    ]
    assert set(on_disk.fields_disclosed) == set(FIELDS)  # what the audit records: names, never values


def test_another_agencys_key_does_not_open_the_answer_and_says_why(stack: SecuredStack) -> None:
    """The province's answer with the bank's key file: SealedAnswerError naming the key it needs."""
    person = stack.people[8]
    with _client(stack, sdk_keys(BANK)) as wrong, pytest.raises(SealedAnswerError) as refused:
        wrong.lookup(LookupQuery(person.personal_id, FIELDS), PUBLIC_SERVICE)
    message = str(refused.value)
    assert f"sealed to key {SAMPLE_KEYS[PROVINCE].public.id!r}" in message
    assert str(sdk_keys(BANK)) in message and f"holds {SAMPLE_KEYS[BANK].public.id}" in message


def test_after_a_key_rotation_earlier_answers_still_open_by_their_key_id(
    stack: SecuredStack, tmp_path: Path
) -> None:
    """A new key registered: new answers are sealed to it; an answer from before opens with the old key."""
    person = stack.people[9]
    since = datetime.now(UTC) - timedelta(seconds=5)
    with _client(stack, sdk_keys(PROVINCE)) as province:
        before = province.lookup(LookupQuery(person.personal_id, FIELDS), PUBLIC_SERVICE)
    public, private = generate_key_pair("demo-province-2")
    key = AnswerKey(id="demo-province-2", jwk=public, registered_on=date.today(), document_ref="QD-KEY-2")
    AgencyAdmin(stack.admin.kafka, RegistryCodec(load_schemas(OPERATIONS))).register_key(
        PROVINCE, key, "cuc-truong"
    )
    old = SAMPLE_KEYS[PROVINCE].private_file
    both = tmp_path / "province.jwks"
    keys = json.loads(old.read_text())["keys"] + json.loads(private.get_secret_value())["keys"]
    write_private(both, json.dumps({"keys": keys}))
    with _client(stack, both) as province:
        deadline = time.monotonic() + 30  # the registry change reaches the running resolver
        while True:
            after = province.lookup(LookupQuery(person.personal_id, FIELDS), PUBLIC_SERVICE)
            on_disk = CODEC.decode_response(_stored(stack, after.request_id))
            assert on_disk.lookup is not None and on_disk.lookup.sealed is not None
            if on_disk.lookup.sealed.key_id == "demo-province-2" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert on_disk.lookup.sealed.key_id == "demo-province-2"
        assert after.fields["full_name"].value == person.full_name
        earlier = province.collect([before.request_id], since, wait_s=30)
    assert earlier.missing == []
    response = earlier.responses[before.request_id]
    assert response.lookup is not None and response.lookup.sealed is None  # opened with the old key
    assert {f.name: f.value for f in response.lookup.fields}["full_name"] == person.full_name
