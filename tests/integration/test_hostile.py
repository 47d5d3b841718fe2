"""A connected agency attacks with its own login and topic only, on the secured broker (issue 10).

The module runs the ``dancu-bus check hostile`` battery once as the bank, while the telecom is served
through the SDK, and each test pins one finding of the issue on its results: the specific answer or
dead letter, the telecom served within ten times its own p99 before the battery (at least 2 s), and
the audit record of every exchange. Further tests stop and start the services around the battery's
kind of traffic (a record no client of the stack can read, the audit's bookkeeping across restarts).
"""

from __future__ import annotations

import argparse
import io
import time
import unicodedata
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiokafka.codec
import pytest
from confluent_kafka import Producer

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_to_end
from dancu_bus.cli.check import run_hostile
from dancu_bus.cli.dead_letters import run_show
from dancu_bus.cli.main import build_parser
from dancu_bus.contracts import AuditRecord, DeadLetter
from dancu_bus.hostile import Asking, Logins, ProbeResult, Target, Witness, battery, run_battery
from dancu_bus.hostile.labels import closed_sets, foreign_labels
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import Client, ClientConfig, VerifyQuery
from dancu_bus.sdk.requests import build_request
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.transport.dead_letters import open_original
from tests.contexts import KYC, KYC_LOOKUP, NOTARY, SIM
from tests.integration.secured_stack import SecuredStack, running_secured_stack
from tests.keys import OPERATOR_KEYS, OPERATOR_KEYS_FILE, sdk_keys

pytestmark = [pytest.mark.hostile, pytest.mark.security, pytest.mark.timeout(900)]

BANK, TELECOM, NOTARY_OFFICE = "demo-bank", "demo-telecom", "demo-notary"
CODEC = platform_codec()
UNANSWERED_AFTER_S = 4.0


def _tune(settings: Settings) -> Settings:
    """A short UNANSWERED bound and tick, so the audit's bookkeeping shows within a test."""
    audit = settings.audit.model_copy(update={"unanswered_after_s": UNANSWERED_AFTER_S, "tick_s": 0.5})
    return settings.model_copy(update={"audit": audit})


@pytest.fixture(scope="module")
def stack(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """The services as their principals; the bank and the telecom with their own logins."""
    data = tmp_path_factory.mktemp("hostile")
    with running_secured_stack(secure_kafka, data, [BANK, TELECOM, NOTARY_OFFICE], tune=_tune) as running:
        yield running


def _asking(stack: SecuredStack) -> Asking:
    people = stack.people
    without = next(p for p in people if p.phone is None)
    scope = frozenset({"full_name", "birth_date", "sex", "phone", "permanent_address"})
    return Asking(CODEC, BANK, TELECOM, KYC, KYC_LOOKUP, scope, people[0], people[1], without)


def _battery(stack: SecuredStack, only: set[str] | None = None) -> dict[str, ProbeResult]:
    logins = Logins(stack.logins[BANK], stack.logins[TELECOM], stack.admin.kafka, OPERATOR_KEYS)
    witness = Witness(TELECOM, SIM, stack.people[2])
    probes = (p for p in battery(_asking(stack)) if only is None or p.name in only)
    results = run_battery(logins, Target(stack.names, CODEC, BANK), witness, probes)
    return {r.probe.name: r for r in results}


@pytest.fixture(scope="module")
def results(stack: SecuredStack) -> dict[str, ProbeResult]:
    """The whole battery, run once as the bank."""
    return _battery(stack)


def _passed(results: dict[str, ProbeResult], *names: str) -> None:
    """Each named probe got its expected answers and audit records, and the telecom stayed served."""
    for name in names:
        result = results[name]
        assert not result.failures, f"{name}: {result.failures}"
        assert result.stayed_up, (
            f"{name}: the telecom was served {result.others} (bound {result.bound_ms} ms)"
        )


def test_compressed_records_of_every_codec_are_answered_and_audited(results: dict[str, ProbeResult]) -> None:
    """A valid request in a zstd, lz4, snappy or gzip batch is answered MATCH and audited (item 1)."""
    _passed(results, "codec-zstd", "codec-lz4", "codec-snappy", "codec-gzip")
    for codec in ("zstd", "lz4", "snappy", "gzip"):
        (outcome,) = results[f"codec-{codec}"].outcomes
        assert outcome.response is not None and outcome.response.verify is not None
        assert outcome.response.verify.verdict.value == "MATCH" and outcome.audit is not None


def test_a_large_header_is_refused_as_part_of_the_record_and_never_echoed(
    results: dict[str, ProbeResult],
) -> None:
    """A 3 MB traceparent makes the record REQUEST_TOO_LARGE; 2,000 headers reach no response (item 2)."""
    _passed(results, "large-header", "many-headers")
    (large,) = results["large-header"].outcomes
    assert large.response is not None and large.response.reason_code == "REQUEST_TOO_LARGE"
    assert "traceparent" not in dict(large.response_headers)
    (many,) = results["many-headers"].outcomes
    assert set(dict(many.response_headers)) == {
        "correlation_id", "content-type", "ce_specversion", "ce_id", "ce_type", "ce_source", "traceparent"
    }  # fmt: skip


def test_one_request_id_twice_is_two_true_audit_records(
    results: dict[str, ProbeResult], stack: SecuredStack
) -> None:
    """LOOKUP of A then VERIFY of B under one id: A's disclosure and B's refusal are each audited (item 3)."""
    _passed(results, "id-reused-back-to-back")
    first, second = results["id-reused-back-to-back"].outcomes
    assert first.audit is not None and second.audit is not None
    assert (first.audit.operation, first.audit.personal_id) == ("LOOKUP", stack.people[0].personal_id)
    assert first.audit.status == "OK" and set(first.audit.fields_disclosed) == set(KYC_LOOKUP_FIELDS)
    assert (second.audit.operation, second.audit.personal_id) == ("VERIFY", stack.people[1].personal_id)
    assert (second.audit.status, second.audit.reason_code) == ("REJECTED", "DUPLICATE_REQUEST")
    assert (
        first.audit.request_id == second.audit.request_id
        and first.audit.exchange_id != second.audit.exchange_id
    )
    assert second.response is not None and first.audit.exchange_id in (second.response.message_en or "")


KYC_LOOKUP_FIELDS = ("full_name", "birth_date", "permanent_address")


def test_a_reused_or_resent_id_never_erases_an_audit_record(
    results: dict[str, ProbeResult], stack: SecuredStack
) -> None:
    """A resend and an id reused after expiry each keep both exchanges' records on the topic (item 4)."""
    _passed(results, "exact-resend", "id-reused-after-expiry")
    resent = results["exact-resend"].outcomes
    reused = results["id-reused-after-expiry"].outcomes
    assert [o.response.reason_code for o in resent if o.response] == [None, "DUPLICATE_REQUEST"]
    assert [o.response.reason_code for o in reused if o.response] == [None, None]
    keys = {o.audit.exchange_id.encode() for o in (*resent, *reused) if o.audit is not None}
    assert len(keys) == 4
    on_topic = [r.key for r in read_to_end(stack.admin.kafka, stack.names.audit, 60)]
    assert all(on_topic.count(key) == 1 for key in keys)


def test_metric_labels_never_carry_agency_text(results: dict[str, ProbeResult], stack: SecuredStack) -> None:
    """Fifty hostile operations are UNKNOWN_OPERATION and all count under operation="other" (item 5)."""
    _passed(results, "operation-labels")
    port = stack.admin.resolver.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as served:
        text = served.read().decode()
    assert foreign_labels(text, closed_sets([BANK, TELECOM, "demo-province", "demo-notary"])) == []
    assert 'operation="other",reason="UNKNOWN_OPERATION",status="REJECTED"' in text and "Nguyễn" not in text


def test_the_logs_clock_is_the_brokers(results: dict[str, ProbeResult]) -> None:
    """Records claiming 1970 and 2001 are audited at broker time; a skewed sent_at is refused (item 6)."""
    _passed(results, "producer-timestamps", "sent-at-skew")
    for outcome in results["producer-timestamps"].outcomes:
        assert outcome.audit is not None and outcome.arrival is not None
        assert abs(outcome.audit.received_at.timestamp() - time.time()) < 600
        assert int(outcome.audit.received_at.timestamp() * 1000) == outcome.arrival.timestamp_ms
    (skewed,) = results["sent-at-skew"].outcomes
    assert skewed.response is not None and skewed.response.reason_code == "CLOCK_SKEW"


def test_answers_say_no_more_than_they_should(results: dict[str, ProbeResult]) -> None:
    """Nothing to compare is refused, nothing compared is no MATCH; basis, texts, agency checked (item 7)."""
    names = (
        "verify-nothing",
        "verify-not-on-record",
        "legal-basis",
        "envelope-text",
        "claims-another-agency",
    )
    _passed(results, *names)
    (mismatch,) = results["claims-another-agency"].outcomes
    assert mismatch.response is not None and mismatch.response.agency == BANK
    officer, case = results["envelope-text"].outcomes
    assert officer.response is not None and len(officer.response.message_en or "") < 400
    assert officer.audit is not None and "1000000 characters, sha256" in officer.audit.officer_id
    assert case.response is not None and "\x1b" not in (case.response.message_en or "")


def test_bytes_that_are_no_request_end_in_bounded_dead_letters(results: dict[str, ProbeResult]) -> None:
    """Noise, a tombstone and a decompression bomb are dead letters that fit the broker; nothing audited.

    Of the bomb's 32 MB the dead letter seals the first 64 KiB to the operators' key; none in clear.
    """
    _passed(results, "undecodable", "large-noise", "tombstone", "decompression-bomb")
    (bomb,) = results["decompression-bomb"].outcomes
    letter = bomb.dead_letter
    assert letter is not None and letter.value_size == 32 * 1024 * 1024 and bomb.audit is None
    assert letter.original_value is None and len(bomb.dead_letter_record) < 200 * 1024
    original = open_original(letter, OPERATOR_KEYS, CODEC)
    assert original is not None and original.value == b"\x00" * 64 * 1024


def test_a_name_and_an_id_in_a_hostile_record_are_not_in_its_dead_letter(
    results: dict[str, ProbeResult], stack: SecuredStack
) -> None:
    """The citizen's name (NFC and NFD) and id in the key, headers and bytes: neither in the dead letter's
    record as the broker keeps it, read here as its super user; the operators' key opens them."""
    _passed(results, "personal-data-in-dead-letter")
    (outcome,) = results["personal-data-in-dead-letter"].outcomes
    person = stack.people[0]
    for secret in (person.full_name, unicodedata.normalize("NFD", person.full_name), person.personal_id):
        assert secret.encode() not in outcome.dead_letter_record
    assert outcome.dead_letter is not None
    original = open_original(outcome.dead_letter, OPERATOR_KEYS, CODEC)
    assert original is not None and original.key == person.personal_id.encode()
    assert person.full_name.encode() in (original.value or b"")


def test_hostile_text_and_hand_written_bytes_get_their_own_answers(results: dict[str, ProbeResult]) -> None:
    """SQL and control characters in names are mismatches, odd keys change nothing, bad Avro is dead."""
    _passed(results, "hostile-names", "odd-keys", "hand-written-avro")
    codes = [o.dead_letter.error_code for o in results["hand-written-avro"].outcomes if o.dead_letter]
    assert codes == ["BAD_BODY"] * 6 + ["UNKNOWN_FINGERPRINT", "WRONG_SCHEMA"]


def test_a_flooding_agency_is_held_to_its_quota_while_others_are_served(stack: SecuredStack) -> None:
    """The notary (5/s) flooding gets QUOTA_EXCEEDED, and the bank's requests meanwhile are all served."""
    people = stack.people
    with (
        Client(ClientConfig(NOTARY_OFFICE, stack.logins[NOTARY_OFFICE], timeout_s=60), CODEC) as notary,
        Client(
            ClientConfig(BANK, stack.logins[BANK], timeout_s=60, answer_keys=sdk_keys(BANK)), CODEC
        ) as bank,
    ):
        flood = [notary.build(VerifyQuery(p.personal_id, p.full_name), NOTARY) for p in people[:300]]
        with ThreadPoolExecutor(1) as flooding:
            answered = flooding.submit(lambda: list(notary.send_requests(flood)))
            served = list(
                bank.send_requests(
                    bank.build(VerifyQuery(p.personal_id, p.full_name), KYC) for p in people[:100]
                )
            )
            refused = [r.reason_code for r in answered.result(timeout=120)]
    assert refused.count("QUOTA_EXCEEDED") >= 200 and set(refused) <= {None, "QUOTA_EXCEEDED"}
    assert len(served) == 100 and all(r.status.value == "OK" for r in served)


def test_the_audit_has_nothing_left_waiting_after_the_battery(
    results: dict[str, ProbeResult], stack: SecuredStack
) -> None:
    """Every exchange of the battery is recorded: the audit's pending gauge is back at zero (item 8)."""
    assert results
    port = stack.admin.audit.metrics_port
    deadline = time.monotonic() + 30
    while _gauge(port, "dancu_audit_pending") != 0.0:
        assert time.monotonic() < deadline, "halves of exchanges still waiting"
        time.sleep(0.5)


def _gauge(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as served:
        for line in served.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    return None


def test_a_request_without_answer_is_recorded_unanswered_at_its_bound_then_answered(
    stack: SecuredStack,
) -> None:
    """Resolver stopped: UNANSWERED at the bound; once answered, a record of the answer (item 8)."""
    person = stack.people[4]
    stack.resolver.stop()
    try:
        request = build_request(BANK, KYC, VerifyQuery(person.personal_id, person.full_name), 120)
        producer = Producer(client_config(stack.logins[BANK]))
        producer.produce(stack.names.request(BANK), CODEC.encode_request(request), key=b"k")
        assert producer.flush(30) == 0
        unanswered = _audited(stack, request.request_id, "UNANSWERED")
    finally:
        stack.resolver.start()
    answered = _audited(stack, request.request_id, "OK")
    assert answered.exchange_id == unanswered.exchange_id


def _audited(stack: SecuredStack, request_id: str, status: str, timeout_s: float = 120) -> AuditRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in read_to_end(stack.admin.kafka, stack.names.audit, 60):
            if record.value is not None:
                audit = CODEC.decode_audit(record.value)
                if audit.request_id == request_id and audit.status == status:
                    return audit
        time.sleep(1)
    raise AssertionError(f"no {status} record of {request_id} within {timeout_s:g} s")


def test_an_audit_restart_mid_stream_records_every_exchange_exactly_once(stack: SecuredStack) -> None:
    """A clean stop and start of the audit consumer mid-traffic: each answer recorded once (item 8).

    A request whose answer took longer than this module's short UNANSWERED bound also has an UNANSWERED
    record before it (same exchange, superseded under compaction); no exchange has two answers recorded.
    """
    people = stack.people[10:410]
    with Client(
        ClientConfig(BANK, stack.logins[BANK], timeout_s=120, answer_keys=sdk_keys(BANK)), CODEC
    ) as bank:
        requests = [bank.build(VerifyQuery(p.personal_id, p.full_name), KYC) for p in people]
        stream = bank.send_requests(requests)
        answered = [next(stream) for _ in range(150)]
        stack.audit.stop()
        stack.audit.start()
        answered += list(stream)
    assert len(answered) == len(requests)
    wanted = {r.request_id for r in requests}
    deadline = time.monotonic() + 120
    while True:
        records = read_to_end(stack.admin.kafka, stack.names.audit, 60)
        ours = [
            a for a in (CODEC.decode_audit(r.value) for r in records if r.value) if a.request_id in wanted
        ]
        answers = Counter(a.request_id for a in ours if a.status != "UNANSWERED")
        if set(answers) == wanted or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert set(answers) == wanted and set(answers.values()) == {1}  # every one, none twice
    assert len({a.exchange_id for a in ours}) == len(wanted)  # one exchange each


def test_a_batch_no_consumer_can_read_is_stepped_over(
    stack: SecuredStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without aiokafka's zstd library, the audit dead-letters a zstd batch by offsets (item 1); the resolver,
    on librdkafka with every codec built in, reads it."""
    monkeypatch.setattr(aiokafka.codec, "has_zstd", lambda: False)
    key = f"unreadable-{uuid.uuid4()}".encode()
    producer = Producer({**client_config(stack.logins[BANK]), "compression.type": "zstd", "linger.ms": 50})
    for _ in range(3):
        producer.produce(stack.names.request(BANK), b"x" * 200, key=key)
    assert producer.flush(30) == 0
    letters = _dead_letters(stack, "UNREADABLE_BATCH", {"audit"})
    assert {letter.failed_by for letter in letters} == {"audit"}
    assert all(letter.last_offset - letter.offset == 2 for letter in letters)
    # The failing client's words (which name the codec) are sealed with the original, for operators.
    originals = [open_original(letter, OPERATOR_KEYS, CODEC) for letter in letters]
    assert all(original is not None and "zstd" in original.error for original in originals)
    monkeypatch.undo()
    served = _battery(stack, {"codec-lz4"})  # the services went on, and serve compressed records again
    _passed(served, "codec-lz4")


def _dead_letters(stack: SecuredStack, code: str, by: set[str], timeout_s: float = 60) -> list[DeadLetter]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        letters = [
            CODEC.decode_dead_letter(r.value)
            for r in read_to_end(stack.admin.kafka, stack.names.dead_letters, 60)
        ]
        found = [letter for letter in letters if letter.error_code == code]
        if {letter.failed_by for letter in found} >= by:
            return found
        time.sleep(1)
    raise AssertionError(f"no {code} dead letters from {sorted(by)} within {timeout_s:g} s")


def test_check_hostile_exits_0_on_a_clean_stack(stack: SecuredStack, tmp_path: Path) -> None:
    """The command an operator runs: every probe passes, the table is printed, labels are clean."""
    secrets = {}
    for agency in (BANK, TELECOM):
        secrets[agency] = tmp_path / f"{agency}.secret"
        password = stack.logins[agency].password
        assert password is not None
        secrets[agency].write_text(password.get_secret_value())
        secrets[agency].chmod(0o600)
    port = stack.admin.resolver.metrics_port
    argv = ["check", "hostile", "--agency", BANK, "--witness", TELECOM]
    argv += ["--agency-password-file", str(secrets[BANK]), "--witness-password-file", str(secrets[TELECOM])]
    argv += ["--resolver-metrics", f"http://127.0.0.1:{port}/metrics"]
    argv += ["--operator-keys", str(OPERATOR_KEYS_FILE)]
    args = build_parser().parse_args(argv)
    assert isinstance(args, argparse.Namespace)
    out = io.StringIO()
    assert run_hostile(args, stack.admin, out) == 0, out.getvalue()
    table = out.getvalue()
    print(table)  # the issue note quotes it
    assert "probes, 0 failed" in table and "codec-zstd" in table and "decompression-bomb" in table
    assert "metric label" not in table


def test_operators_read_dead_letters_and_open_them_only_with_their_key(
    results: dict[str, ProbeResult], stack: SecuredStack
) -> None:
    """`dead-letters show`: without the key no name or id of the hostile record; with it, both, escaped."""
    _passed(results, "personal-data-in-dead-letter")
    person = stack.people[0]
    shown: dict[bool, str] = {}
    for with_keys in (False, True):
        argv = ["dead-letters", "show", "--last", "200"]
        argv += ["--keys", str(OPERATOR_KEYS_FILE)] if with_keys else []
        out = io.StringIO()
        assert run_show(build_parser().parse_args(argv), stack.admin, out) == 0
        shown[with_keys] = out.getvalue()
    assert "NOT_SINGLE_OBJECT by resolver: the value is not an Avro single object" in shown[False]
    assert person.personal_id not in shown[False] and person.full_name not in shown[False]
    assert f"key {person.personal_id};" in shown[True] and "sealed to operators-1" in shown[True]
