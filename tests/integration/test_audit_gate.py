"""No exchange without a log, on the secured stack: with the audit consumer stopped, the resolver refuses
new requests AUDIT_UNAVAILABLE once the bound has passed (and from the start when restarted meanwhile),
and serves again after the audit restarts and catches up; every request has exactly one answer and one
audit record, and the chain verifies.

The resolver runs as its own principal, so this also pins the ACLs the gate needs (Describe on the audit
group, Read on the response topics): without them the gate would stay closed.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dancu_bus.admin.reader import read_to_end
from dancu_bus.demo import read_audit
from dancu_bus.operations import platform_codec
from dancu_bus.sdk import Client, ClientConfig, VerifyAnswer, VerifyQuery
from dancu_bus.settings import KafkaSettings, Settings
from tests.contexts import KYC
from tests.integration.audit_env import verify, wait_until_ready
from tests.integration.secured_stack import SecuredStack, running_secured_stack

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.audit, pytest.mark.timeout(240)]

BANK = "demo-bank"
CODEC = platform_codec()
BOUND_S = 3.0


def _tune(settings: Settings) -> Settings:
    """A bound of 3 s, the lag read every half second."""
    resolver = settings.resolver.model_copy(update={"audit_max_lag_s": BOUND_S})
    return settings.model_copy(update={"resolver": resolver, "lag_interval_s": 0.5})


@pytest.fixture
def stack(secure_kafka: KafkaSettings, tmp_path: Path) -> Iterator[SecuredStack]:
    """The services as their principals, the bank with its own login."""
    with running_secured_stack(secure_kafka, tmp_path, [BANK], tune=_tune) as running:
        yield running


def _get(port: int, path: str) -> tuple[int, str]:
    """Status and body of a GET on the resolver's health and metrics server."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _gauge(port: int, name: str) -> float:
    """A gauge without labels from the resolver's /metrics."""
    (line,) = [line for line in _get(port, "/metrics")[1].splitlines() if line.startswith(f"{name} ")]
    return float(line.split()[1])


def _until_ready_says(port: int, reason: str, timeout_s: float) -> None:
    """Wait until the resolver's /readyz answers 503 with ``reason`` in its body."""
    deadline = time.monotonic() + timeout_s
    seen: tuple[int, str] | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # not listening yet
            seen = _get(port, "/readyz")
            if seen[0] == 503 and reason in seen[1]:
                return
        time.sleep(0.2)
    raise AssertionError(f"/readyz never said {reason!r} in {timeout_s:g} s: {seen}")


def _until(
    ask: Callable[[], VerifyAnswer], wanted: Callable[[VerifyAnswer], bool], timeout_s: float
) -> list[VerifyAnswer]:
    """Ask one request after another until one is answered as ``wanted``; every answer, in order."""
    answers: list[VerifyAnswer] = []
    deadline = time.monotonic() + timeout_s
    while not answers or not wanted(answers[-1]):
        assert time.monotonic() < deadline, f"no such answer in {timeout_s:g} s: {answers[-3:]}"
        answers.append(ask())
        time.sleep(0.1)
    return answers


def refused(answer: VerifyAnswer) -> bool:
    """Whether the answer is the audit gate's refusal."""
    return answer.reason_code == "AUDIT_UNAVAILABLE"


def served(answer: VerifyAnswer) -> bool:
    """Whether the request was answered OK."""
    return answer.ok


def test_requests_are_refused_while_the_audit_is_stopped_and_served_once_it_caught_up(
    stack: SecuredStack,
) -> None:
    """Served, refused AUDIT_UNAVAILABLE after the bound, served again; one answer and one record each."""
    port = stack.admin.resolver.metrics_port
    wait_until_ready(port)
    people = iter(stack.people)
    config = ClientConfig(BANK, stack.logins[BANK], timeout_s=30)
    with Client(config, CODEC) as bank:

        def ask() -> VerifyAnswer:
            person = next(people)
            return bank.verify(VerifyQuery(person.personal_id, person.full_name), KYC)

        # The audit takes its partitions over one by one after it starts: once the first exchange is in
        # the log, the bank's is taken over (exchanges waiting meanwhile may close the gate a moment).
        answers = [ask()]
        assert read_audit(stack.admin.kafka, CODEC, [answers[0].request_id], timeout_s=60)
        answers += _until(ask, served, timeout_s=30)
        answers += [ask() for _ in range(3)]
        assert all(served(a) for a in answers[-4:]), answers[-4:]
        assert _gauge(port, "dancu_resolver_audit_gate_closed") == 0
        stack.audit.stop()
        answers += _until(ask, refused, timeout_s=30)
        answers += [ask() for _ in range(3)]
        assert all(refused(a) for a in answers[-4:]), answers[-4:]
        status, why = _get(port, "/readyz")
        assert status == 503 and "refusing new requests AUDIT_UNAVAILABLE" in why, why
        assert _gauge(port, "dancu_resolver_audit_gate_closed") == 1
        assert _gauge(port, "dancu_resolver_audit_lag_seconds") > BOUND_S
        # A restart while the audit is down does not reopen the gate: it refuses from the start.
        stack.resolver.stop()
        stack.resolver.start()
        _until_ready_says(port, "refusing new requests AUDIT_UNAVAILABLE", timeout_s=60)
        answers += [ask() for _ in range(2)]
        assert all(refused(a) for a in answers[-2:]), answers[-2:]
        stack.audit.start()
        answers += _until(ask, served, timeout_s=90)
        answers += [ask() for _ in range(3)]
        assert all(served(a) for a in answers[-4:]), answers[-4:]
    assert not any(a.reason_code not in (None, "AUDIT_UNAVAILABLE") for a in answers), answers
    assert _gauge(port, "dancu_resolver_audit_gate_closed") == 0

    ids = [a.request_id for a in answers]
    responses = Counter(
        r.key.decode() for r in read_to_end(stack.admin.kafka, stack.names.response(BANK), 60) if r.key
    )
    assert responses == Counter(ids)  # every request answered, none twice
    outcomes = _audited(stack, set(ids), timeout_s=60)
    assert outcomes == {a.request_id: [a.reason_code] for a in answers}  # one record each, as answered
    code, out = verify(stack.admin)
    assert code == 0, out


def _audited(stack: SecuredStack, ids: set[str], timeout_s: float) -> dict[str, list[str | None]]:
    """Each request's audit records' reason codes, once every one of ``ids`` is in the audit topic."""
    deadline = time.monotonic() + timeout_s
    while True:
        found: dict[str, list[str | None]] = {}
        for record in read_to_end(stack.admin.kafka, stack.names.audit, 30):
            if record.value is not None:
                audit = CODEC.decode_audit(record.value)
                found.setdefault(audit.request_id, []).append(audit.reason_code)
        if ids <= found.keys() or time.monotonic() > deadline:
            return found
        time.sleep(1)
