"""The hostile battery: what a connected agency can put on its own request topic, and the one right answer.

Each probe is a few records as the agency's producer would send them (value, key, headers, codec,
the timestamp it claims) and, per record, what must come of it: a response with a given reason code
or verdict, or a dead letter with a given error code. ``judge`` compares what came back (responses,
dead letters, audit records) with that, and with the facts of each record's own request. Pure.

Think like the attacker when adding one: every value an agency controls (ids, strings, headers, sizes,
timestamps, codecs, order and repetition) at its worst, and what it must not do to others or the log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord, Citizen, DeadLetter, LookupQuery, Request, Response, VerifyQuery
from dancu_bus.keys import PrivateKeys
from dancu_bus.operations import OPERATIONS
from dancu_bus.sdk.requests import Context, build_request
from dancu_bus.text import bounded
from dancu_bus.timestamps import from_epoch_ms
from dancu_bus.transport.dead_letters import KEPT_KEY_BYTES, KEPT_VALUE_BYTES, open_original

__all__ = ["Arrival", "Asking", "Expected", "Outcome", "Probe", "Sent", "battery", "judge"]

_LIFETIME_S = 60.0
_MB = 1024 * 1024
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass(frozen=True, slots=True)
class Sent:
    """One record as the agency produces it."""

    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    codec: str = "none"
    timestamp_ms: int | None = None  # the CreateTime the producer claims (the broker replaces it)
    pause_before_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Expected:
    """What must come of one record: a response (OK, or REJECTED with ``reason``) or a dead letter."""

    reason: str | None = None
    verdict: str | None = None
    dead_letter: str | None = None
    disclosed: bool = False  # an OK LOOKUP: its answer carries fields
    clear_of: tuple[str, ...] = ()  # texts the dead letter's record must not hold in clear

    @property
    def answered(self) -> bool:
        """Whether a response (and so an audit record) is expected, not a dead letter."""
        return self.dead_letter is None


@dataclass(frozen=True, slots=True)
class Probe:
    """A named attack: records sent in order, and the expected end of each."""

    name: str
    doc: str
    sent: tuple[Sent, ...]
    expected: tuple[Expected, ...]


@dataclass(frozen=True, slots=True)
class Arrival:
    """Where the broker put a produced record: partition, offset and its (LogAppendTime) timestamp."""

    partition: int
    offset: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of one record: its arrival, and its response, dead letter and audit record if any."""

    arrival: Arrival | None
    response: Response | None = None
    response_headers: tuple[tuple[str, bytes], ...] = ()
    dead_letter: DeadLetter | None = None
    audit: AuditRecord | None = None
    error: str | None = None  # the producer's, when the broker refused the record
    dead_letter_record: bytes = b""  # the dead letter's key, value and headers as the broker keeps them


@dataclass(frozen=True, slots=True)
class Asking:
    """Who the probes ask as, and about whom: the agency, its purposes, two people on record."""

    codec: Codec = field(repr=False)
    agency: str
    other_agency: str
    verify: Context
    lookup: Context | None
    verify_fields: frozenset[str]  # the scope of the ``verify`` purpose
    person: Citizen
    other: Citizen
    without_phone: Citizen | None = None


def battery(asking: Asking) -> Iterator[Probe]:
    """Every probe, in the order they run, each built only when asked for (its requests are fresh)."""
    yield from _codecs(asking)
    for build in _BUILDERS:
        yield build(asking)
    yield from _nothing_compared(asking)


def _verify(asking: Asking, person: Citizen | None = None, **changes: object) -> Request:
    who = person or asking.person
    query = VerifyQuery(who.personal_id, who.full_name, who.birth_date)
    request = build_request(asking.agency, asking.verify, query, _LIFETIME_S, OPERATIONS)
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


def _send(asking: Asking, request: Request, **options: object) -> Sent:
    value = asking.codec.encode_foreign_request(request)  # hostile: whatever operation string it likes
    return Sent(value, request.request_id.encode(), **options)  # type: ignore[arg-type]


def _codecs(asking: Asking) -> list[Probe]:
    return [
        Probe(
            f"codec-{codec}",
            f"a valid VERIFY in a {codec} batch is answered (no consumer may stop on a codec)",
            (_send(asking, _verify(asking), codec=codec),),
            (Expected(verdict="MATCH"),),
        )
        for codec in ("zstd", "lz4", "snappy", "gzip")
    ]


def _large_header(asking: Asking) -> Probe:
    headers = (("traceparent", b"0" * (3 * _MB)),)
    return Probe(
        "large-header",
        "a 3 MB header (compressed to pass the broker) counts towards the size limit and is not echoed",
        (_send(asking, _verify(asking), headers=headers, codec="zstd"),),
        (Expected(reason="REQUEST_TOO_LARGE"),),
    )


def _many_headers(asking: Asking) -> Probe:
    headers = (("traceparent", TRACEPARENT), *((f"x-{n}", b"v" * 8) for n in range(2000)))
    return Probe(
        "many-headers",
        "two thousand small headers: answered, and only the trace context reaches the response",
        (_send(asking, _verify(asking), headers=headers),),
        (Expected(verdict="MATCH"),),
    )


def _id_reused_back_to_back(asking: Asking) -> Probe:
    first = _lookup(asking, asking.person) if asking.lookup is not None else _verify(asking, asking.person)
    second = _verify(asking, asking.other, request_id=first.request_id)
    return Probe(
        "id-reused-back-to-back",
        "a LOOKUP of A then a VERIFY of B under one request id: two exchanges, each audited as itself",
        (_send(asking, first), _send(asking, second)),
        (Expected(disclosed=asking.lookup is not None, verdict=None if asking.lookup else "MATCH"),
         Expected(reason="DUPLICATE_REQUEST")),
    )  # fmt: skip


def _lookup(asking: Asking, person: Citizen) -> Request:
    assert asking.lookup is not None
    return build_request(
        asking.agency, asking.lookup, LookupQuery(person.personal_id), _LIFETIME_S, OPERATIONS
    )


def _id_reused_after_expiry(asking: Asking) -> Probe:
    now = datetime.now(UTC)
    first = _verify(asking, expires_at=now + timedelta(seconds=2))
    second = _verify(asking, asking.other, request_id=first.request_id)
    return Probe(
        "id-reused-after-expiry",
        "a request id used again once the first request expired: both answered, both audited",
        (_send(asking, first), _send(asking, second, pause_before_s=3.0)),
        (Expected(verdict="MATCH"), Expected(verdict="MATCH")),
    )


def _exact_resend(asking: Asking) -> Probe:
    sent = _send(asking, _verify(asking))
    return Probe(
        "exact-resend",
        "the same record resent (a client restarted after a crash): the resend is refused, both audited",
        (sent, sent),
        (Expected(verdict="MATCH"), Expected(reason="DUPLICATE_REQUEST")),
    )


HOSTILE_OPERATIONS = (
    "VERIFY ",
    "verify",
    "Nguyễn Văn An 001090012345 1990-01-01",
    "\x1b[31mRED\x1b[0m",
    "LOOKUP\u202e",
    "x" * 10_000,
    *(f"OP-{n}" for n in range(40)),
)


def _operation_labels(asking: Asking) -> Probe:
    requests = [_verify(asking, operation=operation) for operation in HOSTILE_OPERATIONS]
    return Probe(
        "operation-labels",
        "unknown operations (a name, an id, control characters, 10,000 characters) are refused and never"
        " become metric labels",
        tuple(_send(asking, r) for r in requests),
        tuple(Expected(reason="UNKNOWN_OPERATION") for _ in requests),
    )


def _producer_timestamps(asking: Asking) -> Probe:
    year_2001 = int(datetime(2001, 9, 9, tzinfo=UTC).timestamp() * 1000)
    return Probe(
        "producer-timestamps",
        "records claiming 1970 and 2001: the log's time is the broker's",
        (
            _send(asking, _verify(asking), timestamp_ms=1),
            _send(asking, _verify(asking), timestamp_ms=year_2001),
        ),
        (Expected(verdict="MATCH"), Expected(verdict="MATCH")),
    )


def _clock_skew(asking: Asking) -> Probe:
    now = datetime.now(UTC)
    return Probe(
        "sent-at-skew",
        "a sent_at a day before the broker received it is refused with its own reason",
        (_send(asking, _verify(asking, sent_at=now - timedelta(days=1))),),
        (Expected(reason="CLOCK_SKEW"),),
    )


def _nothing_to_verify(asking: Asking) -> Probe:
    request = _verify(asking)
    bare = dataclasses.replace(request, body=VerifyQuery(asking.person.personal_id))
    return Probe(
        "verify-nothing",
        "a VERIFY with no field to compare (an existence oracle) is refused",
        (_send(asking, bare),),
        (Expected(reason="NOTHING_TO_VERIFY"),),
    )


def _nothing_compared(asking: Asking) -> list[Probe]:
    person = asking.without_phone
    if person is None or "phone" not in asking.verify_fields:
        return []
    request = _verify(asking, person)
    only_phone = dataclasses.replace(request, body=VerifyQuery(person.personal_id, phone="0912345678"))
    return [
        Probe(
            "verify-not-on-record",
            "a VERIFY whose only field is not on record compares nothing: INCONCLUSIVE, never MATCH",
            (_send(asking, only_phone),),
            (Expected(verdict="INCONCLUSIVE"),),
        )
    ]


def _legal_basis(asking: Asking) -> Probe:
    return Probe(
        "legal-basis",
        "a legal basis other than the registered one is refused",
        (_send(asking, _verify(asking, legal_basis="x")),),
        (Expected(reason="LEGAL_BASIS_MISMATCH"),),
    )


def _envelope_text(asking: Asking) -> Probe:
    return Probe(
        "envelope-text",
        "an officer id of a million characters and a case number with control and bidi characters",
        (
            _send(asking, _verify(asking, officer_id="o" * 1_000_000), codec="zstd"),
            _send(asking, _verify(asking, case_no="HS-\x1b[2J\u202e1")),
        ),
        (Expected(reason="INVALID_OFFICER_ID"), Expected(reason="INVALID_CASE_NO")),
    )


def _claims_another_agency(asking: Asking) -> Probe:
    return Probe(
        "claims-another-agency",
        "a body naming another agency is refused, and the answer names the topic's agency",
        (_send(asking, _verify(asking, agency=asking.other_agency)),),
        (Expected(reason="AGENCY_MISMATCH"),),
    )


def _expired(asking: Asking) -> Probe:
    now = datetime.now(UTC)
    request = _verify(asking, sent_at=now - timedelta(seconds=2), expires_at=now - timedelta(seconds=1))
    return Probe(
        "expired",
        "a request past its deadline is EXPIRED",
        (_send(asking, request),),
        (Expected(reason="EXPIRED"),),
    )


def _undecodable(asking: Asking) -> Probe:
    return Probe(
        "undecodable",
        "bytes that are no request go to the dead-letter topic with the reason",
        (Sent(b"\x00\xffnot avro", _key("undecodable")),),
        (Expected(dead_letter="NOT_SINGLE_OBJECT"),),
    )


def _large_noise(asking: Asking) -> Probe:
    return Probe(
        "large-noise",
        "5 MB of noise: its dead letter fits the broker (the first 64 KiB, the size and the SHA-256)",
        (Sent(b"\x00" * (5 * _MB), _key("noise"), codec="zstd"),),
        (Expected(dead_letter="NOT_SINGLE_OBJECT"),),
    )


def _tombstone(asking: Asking) -> Probe:
    return Probe(
        "tombstone",
        "a record with no value is a dead letter, not a crash",
        (Sent(None, _key("tombstone")),),
        (Expected(dead_letter="EMPTY"),),
    )


def _decompression_bomb(asking: Asking) -> Probe:
    return Probe(
        "decompression-bomb",
        "32 MB of zeros in a few kilobytes of zstd: read once, dead-lettered within bounds",
        (Sent(b"\x00" * (32 * _MB), _key("bomb"), codec="zstd"),),
        (Expected(dead_letter="NOT_SINGLE_OBJECT"),),
    )


def _personal_data_in_a_dead_letter(asking: Asking) -> Probe:
    """A citizen's name and id in the key, in headers and in the bytes of a record that is no request."""
    name, personal_id = asking.person.full_name, asking.person.personal_id
    decomposed = unicodedata.normalize("NFD", name)
    headers = ((name, personal_id.encode()), ("x-holder", decomposed.encode()))
    value = f"{name};{personal_id};{decomposed}".encode()
    return Probe(
        "personal-data-in-dead-letter",
        "a name and an id in a record's key, headers and bytes: its dead letter holds neither in clear",
        (Sent(value, personal_id.encode(), headers=headers),),
        (Expected(dead_letter="NOT_SINGLE_OBJECT", clear_of=(name, decomposed, personal_id)),),
    )


def _hostile_names(asking: Asking) -> Probe:
    names = ("Robert'); DROP TABLE citizens;--", "' OR '1'='1", "x\x00y\x1b[31m\u202eredro\r\n\t")
    requests = [_verify(asking, body=VerifyQuery(asking.person.personal_id, name)) for name in names]
    return Probe(
        "hostile-names",
        "names with SQL and control characters are compared like any other: MISMATCH, the store untouched",
        tuple(_send(asking, r) for r in requests),
        tuple(Expected(verdict="MISMATCH") for _ in requests),
    )


def _odd_keys(asking: Asking) -> Probe:
    keys = (b"", None, b"\x00\xff not the request id")
    return Probe(
        "odd-keys",
        "the request id is in the value: an empty, null or foreign key changes nothing",
        tuple(dataclasses.replace(_send(asking, _verify(asking)), key=key) for key in keys),
        tuple(Expected(verdict="MATCH") for _ in keys),
    )


def _hand_written(asking: Asking) -> Probe:
    """Bytes no well-behaved encoder produces, written field by field (schemas/request.avsc order)."""
    header = asking.codec.schemas.by_name("vn.dancu.Request").header
    valid = _request_bytes(asking, header)
    variants = {
        "BAD_BODY": (
            valid[: len(valid) // 2],
            _request_bytes(asking, header, _Forged(name=b"Nguy\xff\xfe\xc3n")),
            _request_bytes(asking, header, _Forged(birth_days=3_000_000)),
            _request_bytes(asking, header, _Forged(sent_ms=2**62)),
            _request_bytes(asking, header, _Forged(body_branch=7)),
            _request_bytes(asking, header, _Forged(request_id=b"not-a-uuid")),
        ),
        "UNKNOWN_FINGERPRINT": (valid[:2] + bytes(8) + valid[10:],),
        "WRONG_SCHEMA": (asking.codec.encode_dead_letter(_sample_dead_letter()),),
    }
    sent = [
        (Sent(value, _key(code)), Expected(dead_letter=code))
        for code, values in variants.items()
        for value in values
    ]
    return Probe(
        "hand-written-avro",
        "truncated bodies, invalid UTF-8, dates beyond any calendar, a union branch that does not exist,"
        " a wrong fingerprint, a request id that is no UUID: each a dead letter with its reason",
        tuple(s for s, _ in sent),
        tuple(e for _, e in sent),
    )


@dataclass(frozen=True, slots=True)
class _Forged:
    """What a hand-written VERIFY request writes in place of the valid value; None or the default: valid."""

    request_id: bytes | None = None
    name: bytes | None = None
    birth_days: int = 7305  # 1990-01-01
    sent_ms: int | None = None
    body_branch: int = 1


_NOTHING_FORGED = _Forged()


def _request_bytes(asking: Asking, header: bytes, forged: _Forged = _NOTHING_FORGED) -> bytes:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    context = asking.verify
    texts = (
        forged.request_id or str(uuid.uuid4()).encode(),
        asking.agency.encode(),
        context.officer_id.encode(),
        context.case_no.encode(),
        context.purpose_code.encode(),
        context.legal_basis.encode(),
        b"VERIFY",
    )
    envelope = b"".join(_avro_string(text) for text in texts)
    times = _zigzag(now_ms if forged.sent_ms is None else forged.sent_ms) + _zigzag(now_ms + 60_000)
    person = asking.person.personal_id.encode()
    full_name = forged.name if forged.name is not None else asking.person.full_name.encode()
    body = (
        _avro_string(person) + _zigzag(1) + _avro_string(full_name) + _zigzag(1) + _zigzag(forged.birth_days)
    )
    return header + envelope + times + _zigzag(forged.body_branch) + body + b"\x00" * 4


def _sample_dead_letter() -> DeadLetter:
    """A well-formed record of another schema than Request."""
    now = datetime.now(UTC)
    return DeadLetter("t", 0, 0, 0, now, None, None, -1, None, (), 0, "X", "x", "hostile", now)


def _zigzag(number: int) -> bytes:
    """An Avro int or long: zig-zag, then 7 bits per byte, low first."""
    value = (number << 1) ^ (number >> 63)
    out = bytearray()
    while value & ~0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _avro_string(raw: bytes) -> bytes:
    """An Avro string or bytes: its length, then the bytes as given (valid UTF-8 or not)."""
    return _zigzag(len(raw)) + raw


def _key(kind: str) -> bytes:
    return f"hostile-{kind}-{uuid.uuid4()}".encode()


_BUILDERS: tuple[Callable[[Asking], Probe], ...] = (
    _large_header,
    _many_headers,
    _id_reused_back_to_back,
    _id_reused_after_expiry,
    _exact_resend,
    _operation_labels,
    _producer_timestamps,
    _clock_skew,
    _nothing_to_verify,
    _legal_basis,
    _envelope_text,
    _claims_another_agency,
    _expired,
    _hostile_names,
    _odd_keys,
    _undecodable,
    _hand_written,
    _large_noise,
    _tombstone,
    _decompression_bomb,
    _personal_data_in_a_dead_letter,
)


def judge(
    probe: Probe, outcomes: Sequence[Outcome], codec: Codec, operator_keys: PrivateKeys | None = None
) -> list[str]:
    """What is wrong with ``outcomes`` for ``probe``: one line per failure, none when all is right.

    With the operators' keys, what a dead letter sealed is opened and checked too.
    """
    failures: list[str] = []
    for number, (sent, expected, outcome) in enumerate(
        zip(probe.sent, probe.expected, outcomes, strict=True)
    ):
        where = f"record {number + 1}"
        if outcome.arrival is None:
            failures.append(f"{where}: the broker refused it: {outcome.error}")
            continue
        found = (
            _dead_letter_problems(sent, expected, outcome, codec, operator_keys)
            if expected.dead_letter
            else _answer_problems(sent, expected, outcome, codec)
        )
        failures += [f"{where}: {problem}" for problem in found]
    return failures


def _answer_problems(sent: Sent, expected: Expected, outcome: Outcome, codec: Codec) -> list[str]:
    response = outcome.response
    if response is None:
        return ["no response"]
    problems = []
    if response.reason_code != expected.reason:
        problems.append(f"answered {response.reason_code or 'OK'}, expected {expected.reason or 'OK'}")
    verdict = response.verify.verdict.value if response.verify is not None else None
    if expected.verdict is not None and verdict != expected.verdict:
        problems.append(f"verdict {verdict}, expected {expected.verdict}")
    if expected.disclosed and not response.fields_disclosed:
        problems.append("no field disclosed")
    headers = dict(outcome.response_headers)
    allowed = {
        "correlation_id",
        "content-type",
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "traceparent",
    }
    if set(headers) - allowed or len(headers.get("traceparent", b"")) > len(TRACEPARENT):
        problems.append(f"the response carries agency headers: {sorted(set(headers) - allowed)[:3]}")
    return problems + _audit_problems(sent, outcome, codec)


def _audit_problems(sent: Sent, outcome: Outcome, codec: Codec) -> list[str]:
    audit, response, arrival = outcome.audit, outcome.response, outcome.arrival
    assert response is not None and arrival is not None
    if audit is None:
        return ["no audit record of its exchange"]
    request = codec.decode_request(sent.value)
    facts = {
        "exchange_id": (audit.exchange_id, response.exchange_id),
        "request_id": (audit.request_id, request.request_id),
        "operation": (audit.operation, bounded(request.operation, 64)),
        "personal_id": (audit.personal_id, request.personal_id),
        "status": (audit.status, response.status.value),
        "reason_code": (audit.reason_code, response.reason_code),
        "fields_disclosed": (audit.fields_disclosed, response.fields_disclosed),
        "request_offset": (audit.request_offset, arrival.offset),
        "received_at": (audit.received_at, from_epoch_ms(arrival.timestamp_ms)),
    }
    return [f"audit {name} is {got!r}, not {want!r}" for name, (got, want) in facts.items() if got != want]


def _dead_letter_problems(
    sent: Sent, expected: Expected, outcome: Outcome, codec: Codec, operator_keys: PrivateKeys | None
) -> list[str]:
    letter = outcome.dead_letter
    if letter is None:
        return [f"no dead letter (expected {expected.dead_letter})"]
    problems = []
    if letter.error_code != expected.dead_letter:
        problems.append(f"dead letter {letter.error_code}, expected {expected.dead_letter}")
    value = sent.value
    if letter.original_value is not None or letter.original_key is not None or letter.headers:
        problems.append("the dead letter keeps the sender's key, value or headers in clear")
    if letter.value_size != (-1 if value is None else len(value)):
        problems.append(f"dead letter says {letter.value_size} bytes, not {len(value or b'')}")
    if value is not None and letter.value_sha256 != hashlib.sha256(value).hexdigest():
        problems.append("dead letter's SHA-256 is not the value's")
    problems += [
        f"the dead letter's record holds {text!r} in clear"
        for text in expected.clear_of
        if text.encode() in outcome.dead_letter_record
    ]
    if operator_keys is not None:
        problems += _sealed_problems(sent, letter, codec, operator_keys)
    if outcome.response is not None or outcome.audit is not None:
        problems.append("a dead-lettered record was also answered or audited")
    return problems


def _sealed_problems(sent: Sent, letter: DeadLetter, codec: Codec, keys: PrivateKeys) -> list[str]:
    """The sealed original holds the first 64 KiB of the value and the key, and opens."""
    try:
        original = open_original(letter, keys, codec)
    except ValueError as exc:
        return [f"the dead letter's sealed original does not open: {exc}"]
    if original is None:
        return ["the dead letter sealed nothing, though the operators have a key"]
    value = sent.value
    if original.value != (None if value is None else value[:KEPT_VALUE_BYTES]):
        return [f"the sealed original keeps {len(original.value or b'')} bytes, not the bound"]
    if original.key != (None if sent.key is None else sent.key[:KEPT_KEY_BYTES]):
        return ["the sealed original's key is not the record's"]
    return []
