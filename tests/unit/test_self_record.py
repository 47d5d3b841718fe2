"""SELF's pure policy: field sets by channel, level and group; the phone binding; NOT_BOUND; masking."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from dancu_bus.agencies import Purpose
from dancu_bus.contracts import DISCLOSABLE_FIELDS, Address, Citizen, Provenance
from dancu_bus.errors import ConfigError
from dancu_bus.operations import OPERATIONS, SELF, platform_operations
from dancu_bus.operations.self_record import (
    ACCOUNT,
    DEFAULT_SELF_FIELDS,
    PHONE,
    PORTAL_LEGAL_BASIS,
    PORTAL_PURPOSE,
    SELF_FIELDS,
    SMS_LEGAL_BASIS,
    SMS_PURPOSE,
    SelfFields,
    SelfQuery,
    SelfResult,
    answer_self,
    check_self,
    e164_digits,
    masked,
)
from dancu_bus.reasons import MESSAGES, Reason, Rejection
from tests.keys import sample_directory

ID = "001099012345"
BORN = Provenance("BO-TU-PHAP-HO-TICH", date(1999, 3, 4))
CITIZEN = Citizen(
    personal_id=ID,
    full_name="Nguyễn Thị Ánh",
    birth_date=date(1999, 3, 4),
    sex="2",
    ethnic_group="01",
    religion="00",
    nationality="VN",
    permanent_address=Address("DVHC-2025", "01", "00004", detail="12 Hàng Bạc"),
    household_id="HK0000123456",
    household_relation="01",
    phone="0912345678",
    status="ALIVE",
    provenance={name: BORN for name in DISCLOSABLE_FIELDS},
)
FIELDS = SelfFields.parse()
EVERYTHING = Purpose(legal_basis="x", operations=frozenset({"SELF"}), fields=frozenset(DISCLOSABLE_FIELDS))


def sms(phone: str | None = "84912345678", group: str | None = None, **changes: object) -> SelfQuery:
    """An SMS's SELF from ``phone``."""
    return dataclasses.replace(SelfQuery(ID, PHONE, phone=phone, field_group=group), **changes)  # type: ignore[arg-type]


def portal(level: int = 2, account: str | None = ID, **changes: object) -> SelfQuery:
    """A portal session's SELF at ``level``, its account bound to ``account``."""
    query = SelfQuery(ID, ACCOUNT, account_id=account, assurance_level=level)
    return dataclasses.replace(query, **changes)  # type: ignore[arg-type]


def names(result: SelfResult | Rejection) -> tuple[str, ...]:
    """The names of the fields an answer holds (fails on a refusal)."""
    assert isinstance(result, SelfResult), result
    return tuple(f.name for f in result.fields)


@pytest.mark.parametrize(
    ("query", "key"),
    [
        (sms(), "SMS"),
        (sms(group="CCCD"), "SMS.CCCD"),
        (sms(group="cccd"), "SMS.CCCD"),
        (sms(group="DiaChi"), "SMS.DIACHI"),
        (portal(1), "PORTAL.1"),
        (portal(2), "PORTAL.2"),
    ],
)
def test_the_key_of_a_field_set_is_the_channel_then_the_level_or_group(query: SelfQuery, key: str) -> None:
    """SMS without a group, SMS.<GROUP> (any case), PORTAL.<level>."""
    assert FIELDS.key(query) == key


def test_the_default_sets_are_short_for_sms_reduced_at_level_1_and_whole_at_level_2() -> None:
    """Level 2 sees every field; level 1 and SMS strictly fewer; SMS's CCCD masks the id."""
    assert (
        names(answer_self(portal(2), "portal", CITIZEN, FIELDS.within(portal(2), EVERYTHING))) == SELF_FIELDS
    )
    level_1 = names(answer_self(portal(1), "portal", CITIZEN, FIELDS.within(portal(1), EVERYTHING)))
    assert set(level_1) < set(SELF_FIELDS) and "household_id" not in level_1
    short = names(answer_self(sms(), "sms", CITIZEN, FIELDS.within(sms(), EVERYTHING)))
    assert short == DEFAULT_SELF_FIELDS["SMS"] and len(short) < len(level_1)
    cccd = answer_self(sms(group="CCCD"), "sms", CITIZEN, FIELDS.within(sms(group="CCCD"), EVERYTHING))
    assert isinstance(cccd, SelfResult)
    assert cccd.fields[0].name == "personal_id" and cccd.fields[0].value == "001******345"


def test_configured_sets_replace_the_defaults_and_the_purpose_bounds_them() -> None:
    """A configured set is answered as given, masked where it says; a field outside the registered
    purpose's scope is left out whatever the settings say (the personal id is always the citizen's own)."""
    fields = SelfFields.parse({"PORTAL.1": ["full_name", "phone:masked", "personal_id"], "SMS": ["status"]})
    narrow = Purpose(
        legal_basis="x", operations=frozenset({"SELF"}), fields=frozenset({"full_name", "status"})
    )
    result = answer_self(portal(1), "portal", CITIZEN, fields.within(portal(1), EVERYTHING))
    assert isinstance(result, SelfResult)
    assert [(f.name, f.value) for f in result.fields] == [
        ("full_name", "Nguyễn Thị Ánh"),
        ("phone", "09******78"),
        ("personal_id", ID),
    ]
    assert names(answer_self(portal(1), "portal", CITIZEN, fields.within(portal(1), narrow))) == (
        "full_name",
        "personal_id",
    )
    assert fields.of(portal(2)) is None  # not configured: no set at all, not the defaults


@pytest.mark.parametrize(
    ("configured", "match"),
    [
        ({"EMAIL": ["full_name"]}, "key 'EMAIL'"),
        ({"PORTAL.3": ["full_name"]}, "key 'PORTAL.3'"),
        ({"SMS.dia chi": ["full_name"]}, "group 'dia chi'"),
        ({"SMS": ["password"]}, "'password' is no field"),
        ({"SMS": ["birth_date:masked"]}, "birth_date cannot be masked"),
    ],
)
def test_a_bad_field_set_is_a_config_error_naming_it(configured: dict[str, list[str]], match: str) -> None:
    """The resolver refuses to start on a key or field it does not know, naming it."""
    with pytest.raises(ConfigError, match=match):
        platform_operations(configured)


@pytest.mark.parametrize(
    ("phone", "digits"),
    [
        ("0912345678", "84912345678"),
        ("84912345678", "84912345678"),
        ("+84 912 345 678", "84912345678"),
        ("+84-912.345.678", "84912345678"),
        ("0084912345678", "84912345678"),
        ("(091) 234-5678", "84912345678"),
        ("", None),
        (None, None),
        ("09123abc78", None),
        ("٠٩١٢٣٤٥٦٧٨", None),  # Arabic-Indic digits are digits to str.isdigit, not to a phone
        ("0" * 30, None),
    ],
)
def test_phones_compare_as_e164_digits(phone: str | None, digits: str | None) -> None:
    """A national 0, 00, +, spaces and punctuation all read as the same E.164 digits; junk is no phone."""
    assert e164_digits(phone) == digits


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("001099012345", "001******345"),
        ("0912345678", "09******78"),
        ("abcd", "a**d"),
        ("abc", "a*c"),
        ("ab", "**"),
        ("a", "*"),
        ("", ""),
    ],
)
def test_masking_keeps_a_quarter_at_each_end(text: str, shown: str) -> None:
    """The middle is hidden, a quarter (at least one character) kept at each end; short texts whole."""
    assert masked(text) == shown


def test_the_registered_phone_gets_the_record_in_any_of_its_forms() -> None:
    """The record says 0912345678; the gateway's 84912345678 and +84 912 345 678 are that phone."""
    for phone in ("84912345678", "+84 912 345 678", "0912345678"):
        assert names(answer_self(sms(phone), "sms", CITIZEN, FIELDS.within(sms(), EVERYTHING)))


def test_a_wrong_phone_and_a_missing_id_get_the_same_refusal() -> None:
    """NOT_BOUND, with no detail, whether the phone differs, the record has none, or nobody has the id."""
    chosen = FIELDS.within(sms(), EVERYTHING)
    refusals = [
        answer_self(sms("84999999999"), "sms", CITIZEN, chosen),
        answer_self(sms(), "sms", dataclasses.replace(CITIZEN, phone=None), chosen),
        answer_self(sms(), "sms", None, chosen),
    ]
    assert refusals == [Rejection(Reason.NOT_BOUND)] * 3
    assert answer_self(portal(), "portal", None, FIELDS.within(portal(), EVERYTHING)) == Rejection(
        Reason.NOT_BOUND
    )


def test_the_not_bound_message_reveals_nothing() -> None:
    """Its text names neither a phone nor an id nor whether a record exists."""
    message = MESSAGES[Reason.NOT_BOUND]
    for word in ("không tồn tại", "not found", "does not exist", "số điện thoại", "phone"):
        assert word not in message.vi.lower() and word not in message.en.lower()


def test_only_the_adapter_of_a_binding_may_use_it() -> None:
    """A PHONE binding from the portal, or an ACCOUNT binding from sms, is refused before any record."""
    refused = answer_self(sms(), "portal", CITIZEN, FIELDS.within(sms(), EVERYTHING))
    assert isinstance(refused, Rejection) and refused.reason is Reason.MALFORMED_REQUEST
    refused = answer_self(portal(), "sms", CITIZEN, FIELDS.within(portal(), EVERYTHING))
    assert isinstance(refused, Rejection) and refused.reason is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (sms(), None),
        (sms(group="CCCD"), None),
        (portal(1), None),
        (sms(personal_id="12345"), Reason.INVALID_PERSONAL_ID),
        (sms(bound_by="EMAIL"), Reason.MALFORMED_REQUEST),
        (sms(assurance_level=2), Reason.MALFORMED_REQUEST),
        (portal(3), Reason.MALFORMED_REQUEST),
        (portal(0), Reason.MALFORMED_REQUEST),
        (sms(phone=None), Reason.MALFORMED_REQUEST),
        (sms(phone="8" * 21), Reason.MALFORMED_REQUEST),
        (sms(group="DIA CHI"), Reason.MALFORMED_REQUEST),
        (sms(group="NOSUCH"), Reason.UNKNOWN_FIELD),
        (portal(account=None), Reason.MALFORMED_REQUEST),
        (portal(field_group="CCCD"), Reason.MALFORMED_REQUEST),
        (portal(account="001099012346"), Reason.NOT_OWN_RECORD),
    ],
)
def test_what_the_query_alone_is_refused_for(query: SelfQuery, reason: Reason | None) -> None:
    """Ids, bindings, levels, phones and groups are checked before the store; another person's id
    through a portal account is NOT_OWN_RECORD."""
    refusal = check_self(query, FIELDS)
    assert (refusal.reason if refusal is not None else None) is reason


def test_self_is_registered_sealed_free_and_for_the_two_adapters_only() -> None:
    """Registered last (the union order is wire), sealed, granted to sms and portal, fee 0; others no fee."""
    assert OPERATIONS.names()[-1] == "SELF" and OPERATIONS.of("SELF") is SELF
    assert SELF.sealed and SELF.granted_to == frozenset({"sms", "portal"})
    assert SELF.fee == 0 and OPERATIONS.fee_of(sms()) == 0
    assert [op.fee for op in OPERATIONS if op is not SELF] == [None] * (len(OPERATIONS.names()) - 1)
    assert OPERATIONS.fee_of(None) is None


def test_the_sample_adapters_are_registered_under_the_purposes_they_ask_with() -> None:
    """deploy/agencies.yaml's sms and portal ask SELF under the purpose codes and legal bases the
    adapters send, each purpose covering every field its channel's default sets name."""
    directory = sample_directory()
    for agency, code, basis, channel in (
        ("sms", SMS_PURPOSE, SMS_LEGAL_BASIS, "SMS"),
        ("portal", PORTAL_PURPOSE, PORTAL_LEGAL_BASIS, "PORTAL"),
    ):
        registered = directory.get(agency)
        assert registered is not None and registered.answer_key is not None
        purpose = registered.purpose_for(code, "SELF")
        assert purpose is not None and purpose.legal_basis == basis
        named = {
            f.split(":")[0] for k, fs in DEFAULT_SELF_FIELDS.items() if k.startswith(channel) for f in fs
        }
        assert named - {"personal_id"} <= purpose.fields
