"""The requests of each workload, and the dancu-bus round trip through the SDK that times them.

VERIFY is the telecom's SIM-owner check (demo-telecom, purpose SIM-OWNER: id number, full name, birth
date), mostly of its own subscribers as recorded, a few with a misspelt name or an unknown number.
LOOKUP is the bank's KYC lookup (demo-bank, purpose KYC-LOOKUP). Requests are built as they are sent,
as a client reading its subscriber list would; the clock of each starts when the SDK is handed it.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass

from deployment import BENCH_KEYS
from population import Person
from timing import Outcome, paced

from dancu_bus.contracts import LookupQuery, Request, Response, VerifyQuery
from dancu_bus.sdk import Client, ClientConfig, Context
from dancu_bus.settings import KafkaSettings

__all__ = ["WORKLOADS", "Workload", "sdk_batch_round_trip", "sdk_round_trip"]

SIM_OWNER = Context("bench-officer", "HS-BENCH-SIM", "SIM-OWNER", "Nghị định 163/2024/NĐ-CP, Điều 17")
KYC_LOOKUP = Context("bench-officer", "HS-BENCH-KYC", "KYC-LOOKUP", "Luật Các tổ chức tín dụng 2024, Điều 11")


@dataclass(frozen=True)
class Workload:
    """Which agency asks, under which purpose, and what."""

    name: str
    agency: str
    context: Context
    operation: str

    def queries(self, people: list[Person], n: int, seed: int = 6) -> Iterator[VerifyQuery | LookupQuery]:
        """``n`` queries about people drawn at random from the sample."""
        rng = random.Random(seed)
        for _ in range(n):
            person = people[int(rng.random() * len(people))]
            yield (
                _verify(person, rng.random())
                if self.operation == "VERIFY"
                else LookupQuery(person.personal_id)
            )


def _verify(person: Person, roll: float) -> VerifyQuery:
    if roll < 0.03:  # a subscriber registered with a misspelt name: MISMATCH
        return VerifyQuery(
            person.personal_id, full_name=person.full_name + " Thị", birth_date=person.birth_date
        )
    if roll < 0.05:  # a number not on record: NOT_FOUND (the serial's last digit changed)
        unknown = person.personal_id[:-1] + str((int(person.personal_id[-1]) + 5) % 10)
        return VerifyQuery(unknown, full_name=person.full_name, birth_date=person.birth_date)
    return VerifyQuery(person.personal_id, full_name=person.full_name, birth_date=person.birth_date)


WORKLOADS = {
    "verify": Workload("bulk VERIFY (SIM owner)", "demo-telecom", SIM_OWNER, "VERIFY"),
    "lookup": Workload("bulk LOOKUP (KYC)", "demo-bank", KYC_LOOKUP, "LOOKUP"),
}


@dataclass
class SdkRun:
    """The outcome of the dancu-bus round trip and a count of verdicts and refusals seen."""

    outcome: Outcome
    answers: Counter[str]


def sdk_round_trip(
    kafka: KafkaSettings, workload: Workload, people: list[Person], n: int, rate: float | None
) -> SdkRun:
    """Send ``n`` requests with ``Client.send_many`` (at ``rate`` per second, or at once) and time them."""
    keys = BENCH_KEYS[workload.agency].private_file if workload.agency in BENCH_KEYS else None
    config = ClientConfig(workload.agency, kafka=kafka, timeout_s=120.0, answer_keys=keys)
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    with Client(config) as client:
        sent_at: dict[str, float] = {}
        requests = _stamped(client, workload, people, n, rate, sent_at)
        started = time.perf_counter()
        for response in client.send_requests(requests):
            latencies.append((time.perf_counter() - sent_at.pop(response.request_id)) * 1000)
            answers[_answer(response)] += 1
        elapsed = time.perf_counter() - started
    return SdkRun(Outcome(n, elapsed, latencies), answers)


def sdk_batch_round_trip(kafka: KafkaSettings, workload: Workload, people: list[Person], n: int) -> SdkRun:
    """Verify ``n`` rows with ``Client.verify_many`` (VERIFY_BATCH records of 1,000) and time them.

    An item's latency runs from the moment ``verify_many`` takes its row to the moment its answer is
    yielded; rows are taken in order and answered in order, so one queue of moments pairs them.
    """
    config = ClientConfig(workload.agency, kafka=kafka, timeout_s=120.0)
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    taken: deque[float] = deque()

    def rows() -> Iterator[VerifyQuery]:
        for query in workload.queries(people, n):
            taken.append(time.perf_counter())
            yield query  # type: ignore[misc]

    with Client(config) as client:
        started = time.perf_counter()
        for answer in client.verify_many(rows(), workload.context):
            latencies.append((time.perf_counter() - taken.popleft()) * 1000)
            verdict = answer.verdict.value if answer.verdict is not None else None
            answers[verdict or f"REJECTED {answer.reason_code}"] += 1
        elapsed = time.perf_counter() - started
    return SdkRun(Outcome(n, elapsed, latencies), answers)


def _stamped(
    client: Client,
    workload: Workload,
    people: list[Person],
    n: int,
    rate: float | None,
    sent_at: dict[str, float],
) -> Iterator[Request]:
    """Requests built one by one, each stamped with the moment it is handed to the SDK."""
    for query in paced(workload.queries(people, n), rate):
        request = client.build(query, workload.context)
        sent_at[request.request_id] = time.perf_counter()
        yield request


def _answer(response: Response) -> str:
    if response.reason_code is not None:
        return f"REJECTED {response.reason_code}"
    if response.verify is not None:
        return response.verify.verdict.value
    return "FOUND" if response.lookup is not None and response.lookup.found else "NOT_FOUND"
