"""SELF: a citizen's own record (Art. 8, 9), asked by a channel adapter on the citizen's behalf.

The SMS adapter (agency ``sms``) binds the asker to the record by phone: it answers only when the
sender's number is the phone on the citizen's record. The portal adapter (agency ``portal``) binds
by account: the authenticated account's personal id must be the one asked about (``NOT_OWN_RECORD``
otherwise, still an exchange, refused and audited).

Which fields are answered is the resolver's decision (``SelfFields``, from
``DANCU_RESOLVER__SELF_FIELDS``), keyed by channel and assurance level or SMS field group — never the
request's. A wrong phone and an id nobody has get the same refusal, ``NOT_BOUND``, with one fixed
message: the answer says nothing about whether the id exists. Answers are sealed to the asking
adapter's answer key, as LOOKUP's are; the audit records the exchange with fee 0 (Art. 8.2: free).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView
from dancu_bus.codec import Codec
from dancu_bus.codec.messages import disclosed_from, disclosed_record, sealed_from, sealed_record
from dancu_bus.contracts import DISCLOSABLE_FIELDS, Citizen, DisclosedField, Sealed
from dancu_bus.contracts import Operation as Name
from dancu_bus.errors import ConfigError
from dancu_bus.operations.base import FOUND, Asking, SealedOperation, id_refusal, schema_branches
from dancu_bus.operations.lookup import open_fields, seal_fields
from dancu_bus.reasons import Reason, Rejection

__all__ = [
    "ACCOUNT",
    "DEFAULT_SELF_FIELDS",
    "PHONE",
    "PORTAL_LEGAL_BASIS",
    "PORTAL_PURPOSE",
    "SELF",
    "SELF_FIELDS",
    "SMS_LEGAL_BASIS",
    "SMS_PURPOSE",
    "SelfFields",
    "SelfQuery",
    "SelfRecord",
    "SelfResult",
    "answer_self",
    "check_self",
    "e164_digits",
    "masked",
]

PHONE = "PHONE"
ACCOUNT = "ACCOUNT"
# The purposes the adapters ask under, as deploy/agencies.yaml registers them for ``sms`` and ``portal``.
SMS_PURPOSE = "ART8-SELF"
SMS_LEGAL_BASIS = "Thông tư kết nối Cơ sở dữ liệu quốc gia về dân cư, Điều 8"
PORTAL_PURPOSE = "ART9-SELF"
PORTAL_LEGAL_BASIS = "Thông tư kết nối Cơ sở dữ liệu quốc gia về dân cư, Điều 9"
# The channel each binding is (the first part of a ``SelfFields`` key) and the one agency using it.
_CHANNEL = {PHONE: "SMS", ACCOUNT: "PORTAL"}
_AGENCY = {PHONE: "sms", ACCOUNT: "portal"}
_LEVELS = {PHONE: (0,), ACCOUNT: (1, 2)}
# A field of a set given as ``name:masked`` is answered with the middle of its text hidden.
_MASKED = ":masked"
# SELF may answer the personal id too (masked, an SMS's CCCD group): the citizen's own, which they typed.
SELF_FIELDS: tuple[str, ...] = ("personal_id", *DISCLOSABLE_FIELDS)
_MASKABLE = frozenset({"personal_id", "full_name", "phone", "household_id"})
_GROUP_LIMIT = 16
_PHONE_LIMIT = 20

DEFAULT_SELF_FIELDS: Mapping[str, tuple[str, ...]] = {
    "SMS": ("full_name", "birth_date", "sex", "status"),
    "SMS.HOTEN": ("full_name", "birth_date"),
    "SMS.CCCD": ("personal_id:masked", "full_name", "birth_date", "status"),
    "SMS.DIACHI": ("full_name", "permanent_address"),
    "PORTAL.1": ("full_name", "birth_date", "sex", "nationality", "status"),
    "PORTAL.2": SELF_FIELDS,
}
"""The field sets when ``DANCU_RESOLVER__SELF_FIELDS`` names none: a short one for SMS, a reduced one at
portal level 1, the whole record at level 2."""


@dataclass(frozen=True, slots=True)
class SelfQuery:
    """A citizen's own record, asked by the adapter of the channel the citizen used."""

    personal_id: str
    bound_by: str
    phone: str | None = None
    account_id: str | None = None
    assurance_level: int = 0
    field_group: str | None = None


@dataclass(frozen=True, slots=True)
class SelfResult:
    """The citizen's own record, the channel's field set; on the wire, their values sealed."""

    found: bool
    fields: tuple[DisclosedField, ...] = ()
    sealed: Sealed | None = None

    @property
    def fields_disclosed(self) -> tuple[str, ...]:
        """Names of the fields whose values it carries (in clear, or sealed)."""
        return tuple(f.name for f in self.fields if f.value is not None or f.sealed)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    masked: bool


@dataclass(frozen=True, slots=True)
class SelfFields:
    """The field set of each channel key: ``SMS``, ``SMS.<group>``, ``PORTAL.<level>``."""

    sets: Mapping[str, tuple[_Field, ...]]

    @classmethod
    def parse(cls, configured: Mapping[str, Iterable[str]] | None = None) -> SelfFields:
        """The sets configured (``DEFAULT_SELF_FIELDS`` when None); ConfigError names a bad key or field."""
        given = DEFAULT_SELF_FIELDS if configured is None else configured
        return cls({_key(key): tuple(_field(key, spec) for spec in specs) for key, specs in given.items()})

    def key(self, query: SelfQuery) -> str:
        """The key of the query's set: its channel, then its level (portal) or its group (SMS)."""
        channel = _CHANNEL[query.bound_by]
        if query.bound_by == ACCOUNT:
            return f"{channel}.{query.assurance_level}"
        return f"{channel}.{query.field_group.upper()}" if query.field_group else channel

    def of(self, query: SelfQuery) -> tuple[_Field, ...] | None:
        """The query's field set; None when none is configured for its key."""
        return self.sets.get(self.key(query))

    def within(self, query: SelfQuery, purpose: Purpose) -> tuple[_Field, ...]:
        """The query's field set within the purpose's scope (the registry's); the personal id, the
        citizen's own that they typed, is in every scope."""
        chosen = self.of(query) or ()
        return tuple(f for f in chosen if f.name in purpose.fields or f.name == "personal_id")


def _key(key: str) -> str:
    channel, _, rest = key.partition(".")
    if channel not in _CHANNEL.values() or (channel == "PORTAL" and rest not in ("1", "2")):
        raise ConfigError(
            f"DANCU_RESOLVER__SELF_FIELDS: key {key!r} is not SMS, SMS.<group>, PORTAL.1 or PORTAL.2"
        )
    if channel == "SMS" and rest and not (rest.isalnum() and rest.isupper() and len(rest) <= _GROUP_LIMIT):
        raise ConfigError(f"DANCU_RESOLVER__SELF_FIELDS: SMS group {rest!r} is not upper-case A-Z0-9 (≤ 16)")
    return key


def _field(key: str, spec: str) -> _Field:
    name, masked = spec.removesuffix(_MASKED), spec.endswith(_MASKED)
    if name not in SELF_FIELDS:
        known = ", ".join(SELF_FIELDS)
        raise ConfigError(
            f"DANCU_RESOLVER__SELF_FIELDS[{key}]: {name!r} is no field of a record; known: {known}"
        )
    if masked and name not in _MASKABLE:
        maskable = ", ".join(sorted(_MASKABLE))
        raise ConfigError(f"DANCU_RESOLVER__SELF_FIELDS[{key}]: {name} cannot be masked; only {maskable}")
    return _Field(name, masked)


class SelfRecord(SealedOperation[SelfQuery, SelfResult]):
    """The SELF operation, with the resolver's field sets."""

    name = Name.SELF
    query_type = SelfQuery
    result_type = SelfResult
    body_schema = schema_branches("self")["body"]
    result_schema = schema_branches("self")["result"]
    result_name = "vn.dancu.SelfResult"
    content_type = "application/vnd.dancu.sealed-fields+avro"
    granted_to = frozenset(_AGENCY.values())
    # Art. 8.2: a citizen's lookup of their own record is free; the audit records the fee.
    fee = 0

    def __init__(self, fields: SelfFields | None = None) -> None:
        self.fields = fields or SelfFields.parse()

    def personal_ids(self, query: SelfQuery) -> tuple[str, ...]:
        """The citizen asking."""
        return (query.personal_id,)

    def body_record(self, body: SelfQuery) -> dict[str, Any]:
        """SelfQuery → its Avro body."""
        return {
            "personal_id": body.personal_id,
            "bound_by": body.bound_by,
            "phone": body.phone,
            "account_id": body.account_id,
            "assurance_level": body.assurance_level,
            "field_group": body.field_group,
        }

    def body_from(self, record: Mapping[str, Any]) -> SelfQuery:
        """Its Avro body → SelfQuery."""
        return SelfQuery(
            personal_id=record["personal_id"],
            bound_by=record["bound_by"],
            phone=record["phone"],
            account_id=record["account_id"],
            assurance_level=record["assurance_level"],
            field_group=record["field_group"],
        )

    def result_record(self, result: SelfResult) -> dict[str, Any]:
        """SelfResult → its Avro record."""
        return {
            "found": result.found,
            "fields": [disclosed_record(f) for f in result.fields],
            "sealed": sealed_record(result.sealed),
        }

    def result_from(self, record: Mapping[str, Any]) -> SelfResult:
        """Its Avro record → SelfResult."""
        return SelfResult(
            found=record["found"],
            fields=tuple(disclosed_from(f) for f in record["fields"]),
            sealed=sealed_from(record["sealed"]),
        )

    def seal_values(
        self, result: SelfResult, exchange_id: str, codec: Codec
    ) -> tuple[bytes, SelfResult] | None:
        """The fields whole, as a SealedFields object; in clear, their names, sources and dates."""
        split = seal_fields(result.fields, exchange_id, codec)
        return None if split is None else (split[0], replace(result, fields=split[1]))

    def sealed_part(self, result: SelfResult) -> Sealed | None:
        """The JWE of its values."""
        return result.sealed

    def with_sealed(self, result: SelfResult, sealed: Sealed) -> SelfResult:
        """The result carrying its sealed values."""
        return replace(result, sealed=sealed)

    def open_values(self, result: SelfResult, plaintext: bytes, codec: Codec) -> tuple[str, SelfResult]:
        """The fields back, which must be the fields the answer names."""
        exchange, fields = open_fields(result.fields, plaintext, codec)
        return exchange, replace(result, fields=fields, sealed=None)

    def check(self, query: SelfQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A well-formed id, a known binding with its level and group, and the account's own record."""
        return check_self(query, self.fields)

    def verdicts(self, result: SelfResult) -> Mapping[str, int]:
        """FOUND: a citizen got their record (a refusal, NOT_BOUND, is counted as a refusal)."""
        return {FOUND: 1}

    async def answer(self, query: SelfQuery, asking: Asking) -> SelfResult | Rejection:
        """The channel's field set of the citizen's record, or NOT_BOUND when the asker is not bound to it."""
        citizen = asking.citizens.get(query.personal_id)
        return answer_self(query, asking.agency, citizen, self.fields.within(query, asking.purpose))


SELF = SelfRecord()


def check_self(query: SelfQuery, fields: SelfFields) -> Rejection | None:
    """What the query alone is refused for: the id, the binding, its level and group, the account."""
    refusal = id_refusal(query.personal_id)
    if refusal is not None:
        return refusal
    malformed = _binding_problem(query)
    if malformed is not None:
        return Rejection(Reason.MALFORMED_REQUEST, malformed)
    if query.bound_by == ACCOUNT and query.account_id != query.personal_id:
        return Rejection(Reason.NOT_OWN_RECORD)
    if fields.of(query) is None:
        return Rejection(Reason.UNKNOWN_FIELD, "no such field group")
    return None


def _binding_problem(query: SelfQuery) -> str | None:
    """What is wrong with the binding and the parts of the query it needs, or None."""
    if query.bound_by not in _CHANNEL:
        return f"bound_by must be {PHONE} or {ACCOUNT}"
    if query.assurance_level not in _LEVELS[query.bound_by]:
        levels = " or ".join(str(level) for level in _LEVELS[query.bound_by])
        return f"assurance_level of {query.bound_by} must be {levels}"
    return _phone_problem(query) if query.bound_by == PHONE else _account_problem(query)


def _phone_problem(query: SelfQuery) -> str | None:
    if query.phone is None or not 0 < len(query.phone) <= _PHONE_LIMIT:
        return f"a {PHONE} binding needs the sender's phone (at most {_PHONE_LIMIT} characters)"
    group = query.field_group
    if group is not None and not (group.isascii() and group.isalnum() and len(group) <= _GROUP_LIMIT):
        return f"field_group must be at most {_GROUP_LIMIT} letters or digits"
    return None


def _account_problem(query: SelfQuery) -> str | None:
    if query.account_id is None:
        return f"an {ACCOUNT} binding needs the account's personal id"
    return "field_group is for SMS only" if query.field_group is not None else None


def answer_self(
    query: SelfQuery, agency: str, citizen: Citizen | None, chosen: tuple[_Field, ...]
) -> SelfResult | Rejection:
    """The ``chosen`` fields of the record for an admitted query; NOT_BOUND, the same refusal whether
    the asker is not bound to the record or nobody has the id."""
    if agency != _AGENCY[query.bound_by]:
        return Rejection(Reason.MALFORMED_REQUEST, f"agency {agency} does not bind by {query.bound_by}")
    if citizen is None or not _bound(query, citizen):
        return Rejection(Reason.NOT_BOUND)
    return SelfResult(found=True, fields=tuple(_disclose(citizen, f) for f in chosen))


def _bound(query: SelfQuery, citizen: Citizen) -> bool:
    """Whether the asker is the citizen: the phone on record, or the account's own id."""
    if query.bound_by == ACCOUNT:
        return query.account_id == citizen.personal_id
    on_record, sender = e164_digits(citizen.phone), e164_digits(query.phone)
    return on_record is not None and on_record == sender


def e164_digits(phone: str | None) -> str | None:
    """A Vietnamese phone number as E.164 digits (0912345678, +84 912 345 678 → 84912345678); None if none.

    Spaces, dots, dashes, brackets and a leading ``+`` are dropped; ``00`` (international prefix) and
    a national ``0`` are read as Vietnam's 84. Anything else not a digit makes it no number.
    """
    if phone is None:
        return None
    digits = phone.strip().removeprefix("+")
    for separator in " .-()":
        digits = digits.replace(separator, "")
    if not digits.isascii() or not digits.isdigit() or len(digits) > _PHONE_LIMIT:
        return None
    if digits.startswith("00"):
        return digits[2:] or None
    return "84" + digits[1:] if digits.startswith("0") else digits


def masked(text: str) -> str:
    """The text with its middle hidden: a quarter of it (at least one character) kept at each end.

    ``001099012345`` → ``001******345``; a text of one or two characters is hidden whole.
    """
    if len(text) <= 2:
        return "*" * len(text)
    keep = max(1, len(text) // 4)
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def _disclose(citizen: Citizen, chosen: _Field) -> DisclosedField:
    value = getattr(citizen, chosen.name)
    # The personal id is issued with the birth registration: its provenance is the birth date's.
    provenance = citizen.provenance.get(chosen.name) or citizen.provenance["birth_date"]
    if chosen.masked and isinstance(value, str):
        value = masked(value)
    return DisclosedField(
        name=chosen.name, value=value, source=provenance.source, updated_on=provenance.updated_on
    )
