"""Runs fault scenarios on a broker (or cluster) of the harness's own and counts, on the wire, what came out.

Per scenario: a fresh topic prefix, a seeded SQLite store, one ``dancu-bus resolver`` and one
``dancu-bus audit run`` process; requests produced at a steady rate by an idempotent producer while
the fault is injected; then, once every request is answered and audited (or nothing moves for a
while), every service is stopped with SIGTERM and the topics are read to their end ``read_committed``:
responses counted per request id (duplicates: more than one committed response; missing: none),
audit records counted per request id after the replays compaction will merge, and the audit
topic's hash chains checked with ``audit verify``'s own function.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, Self, TypeVar

from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.audit import verify_log
from dancu_bus.dev.traffic import KeyTally, PacedProducer
from dancu_bus.faults.application import Job
from dancu_bus.faults.scenarios import Progress, Scenario
from dancu_bus.faults.stage import AGENCIES, Stage, prepare_stage
from dancu_bus.settings import KafkaSettings, Settings

__all__ = ["Deployment", "FaultOptions", "Harness", "Row", "render"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Deployment(Protocol[T_co]):
    """The Kafka the scenarios run on (one broker, or a cluster): started on fresh storage, stopped after."""

    @property
    def target(self) -> T_co:
        """What a scenario's fault acts on: the broker's or the cluster's settings."""

    @property
    def kafka(self) -> KafkaSettings:
        """How the harness and its services reach it."""

    @property
    def replication_factor(self) -> int | None:
        """The stage's topics' replication factor; None: topics.yaml's own."""

    def start(self) -> None:
        """Start it on fresh storage (BrokerError when it cannot; nothing is left running then)."""

    def stop(self) -> None:
        """Stop what ``start`` started and delete its storage."""


@dataclass(frozen=True)
class FaultOptions:
    """How much traffic each scenario sends, how fast, and how long a stalled stream is waited for."""

    requests: int = 50_000
    # Production is spread over this long, so that every fault lands while requests still arrive.
    seconds: float = 15.0
    stall_s: float = 90.0
    keep_workdirs: bool = False


@dataclass(frozen=True)
class Row:
    """One scenario's outcome, as counted on the wire."""

    scenario: str
    fault_at: int
    sent: int
    received: int
    duplicates: int
    missing: int
    audit_records: int
    audited_twice: int
    chain_intact: bool
    seconds: float
    # Through the SDK: queries the application asked more than once on the bus, and runs that failed
    # (a RequestTimeout or any other error ended them).
    asked_twice: int = 0
    failed_runs: int = 0

    @property
    def passed(self) -> bool:
        """No duplicate, nothing missing, every exchange audited exactly once, every chain intact."""
        audited_once = self.audit_records == self.sent and not self.audited_twice
        through_sdk = not self.asked_twice and not self.failed_runs
        return not self.duplicates and not self.missing and audited_once and self.chain_intact and through_sdk


class Harness(Generic[T]):
    """A deployment of its own (started on entry, stopped on exit) and the scenarios on it."""

    def __init__(
        self, deployment: Deployment[T], settings: Settings, workdir: Path, options: FaultOptions
    ) -> None:
        self._deployment = deployment
        self._settings = settings
        self._workdir = workdir
        self._options = options

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the harness's broker or cluster on fresh storage (BrokerError when it cannot)."""
        self._deployment.start()

    def stop(self) -> None:
        """Stop the broker or cluster ``start`` started and delete its storage."""
        self._deployment.stop()

    def run(self, scenario: Scenario[T]) -> Row:
        """Run one scenario from a clean stage; its row, counted after every service stopped."""
        began = time.monotonic()
        deployment = self._deployment
        stage = prepare_stage(
            self._settings, deployment.kafka, self._workdir, replication_factor=deployment.replication_factor
        )
        passed = False
        try:
            stage.start("resolver")
            stage.start("audit")
            if scenario.through_sdk:
                fault_at, failed = self._through_sdk(stage, scenario)
                stage.stop_all()
                row = _count_sdk(stage, scenario.title, failed, time.monotonic() - began)
            else:
                ids, fault_at = self._stream(stage, scenario)
                stage.stop_all()
                row = _count(stage, scenario.title, ids, time.monotonic() - began)
            row = dataclasses.replace(row, fault_at=fault_at)
            passed = row.passed
            return row
        finally:
            stage.tear_down(keep_workdir=self._options.keep_workdirs or not passed)

    @staticmethod
    def _audited_request(stage: Stage) -> Callable[[bytes | None, bytes | None], bytes | None]:
        """The request id an audit record is of (its key is the exchange's, not the request's)."""

        def request_of(_key: bytes | None, value: bytes | None) -> bytes | None:
            return None if value is None else stage.codec.decode_audit(value).request_id.encode()

        return request_of

    def _stream(self, stage: Stage, scenario: Scenario[T]) -> tuple[list[bytes], int]:
        """Produce the requests, inject the fault meanwhile, wait for the answers; ids sent, fault time."""
        records = stage.requests(self._options.requests)
        ids = [key for _, key, _ in records]
        responses = [stage.names.response(agency) for agency in AGENCIES]
        with (
            KeyTally(stage.kafka, responses) as answered,
            KeyTally(stage.kafka, [stage.names.audit], key_of=self._audited_request(stage)) as audited,
        ):
            progress = Progress.of(ids, answered, audited)
            rate = len(records) / self._options.seconds
            with PacedProducer(stage.kafka, records, rate) as producer:
                scenario.inject(stage, progress, self._deployment.target)
                producer.wait(900)
            _settle(progress, self._options.stall_s)
        return ids, progress.fault_at or 0

    def _through_sdk(self, stage: Stage, scenario: Scenario[T]) -> tuple[int, int]:
        """Applications send through the SDK while the fault is injected; the fault's time, failed runs."""
        applications = stage.start_applications(self._options.requests, self._options.seconds)
        total = self._options.requests
        with KeyTally(stage.kafka, [stage.names.audit], key_of=self._audited_request(stage)) as audited:
            jobs = [Job(a.job) for a in applications]
            progress = Progress(total, lambda: sum(len(j.answers()) for j in jobs), audited.distinct)
            scenario.inject(stage, progress, self._deployment.target)
            failed = 0
            for application in applications:
                code = application.wait(600)
                while code not in (0, -1):  # a run that failed (say, RequestTimeout) is one to count
                    failed += 1
                    application.restart()
                    code = application.wait(600)
            _settle(progress, self._options.stall_s)
        return progress.fault_at or 0, failed


def _settle(progress: Progress, stall_s: float) -> None:
    """Wait until every request is answered and audited, or until nothing moved for ``stall_s``."""
    total = progress.total
    last, moved = (-1, -1), time.monotonic()
    while time.monotonic() - moved < stall_s:
        now = (progress.answered(), progress.audited())
        if now == (total, total):
            return
        if now != last:
            last, moved = now, time.monotonic()
        time.sleep(0.5)


def _count(stage: Stage, title: str, ids: Sequence[bytes], seconds: float) -> Row:
    """The row of a finished scenario, from the topics read to their end."""
    sent = set(ids)
    responses: Counter[bytes | None] = Counter()
    for agency in AGENCIES:
        responses.update(r.key for r in read_to_end(stage.kafka, stage.names.response(agency), 300))
    audit = read_to_end(stage.kafka, stage.names.audit, 300)
    audited = Counter(
        stage.codec.decode_audit(r.value).request_id.encode() for r in audit if r.value is not None
    )
    return Row(
        scenario=title,
        fault_at=0,
        sent=len(sent),
        received=sum(responses[key] for key in sent),
        duplicates=sum(1 for key in sent if responses[key] > 1),
        missing=sum(1 for key in sent if not responses[key]),
        audit_records=sum(1 for key in sent if audited[key]),
        audited_twice=sum(1 for key in sent if audited[key] > 1),
        chain_intact=_intact(stage, audit),
        seconds=seconds,
    )


def _count_sdk(stage: Stage, title: str, failed: int, seconds: float) -> Row:
    """The row of a scenario run through the SDK: per query, its answers to the application and on the bus."""
    jobs = [Job(application.job) for application in stage.applications]
    number_of: dict[str, tuple[str, int]] = {}
    for job in jobs:
        number_of.update({rid: (str(job.folder), n) for rid, (n, _) in job.sent().items()})
    queries = {(str(job.folder), n) for job in jobs for n, _ in job.queries()}
    answers = Counter(number_of[rid] for job in jobs for rid in job.answers() if rid in number_of)
    asked: Counter[tuple[str, int]] = Counter()
    for agency in AGENCIES:
        for record in read_to_end(stage.kafka, stage.names.request(agency), 300):
            rid = stage.codec.decode_request(record.value).request_id
            if rid in number_of:
                asked[number_of[rid]] += 1
    audit = read_to_end(stage.kafka, stage.names.audit, 300)
    recorded = [stage.codec.decode_audit(r.value) for r in audit if r.value is not None]
    audited = Counter(
        number_of[a.request_id] for a in recorded if a.status != "UNANSWERED" and a.request_id in number_of
    )
    return Row(
        scenario=title,
        fault_at=0,
        sent=len(queries),
        received=sum(1 for q in queries if answers[q] == 1),
        duplicates=sum(1 for q in queries if answers[q] > 1),
        missing=sum(1 for q in queries if not answers[q]),
        audit_records=sum(1 for q in queries if audited[q]),
        audited_twice=sum(1 for q in queries if audited[q] > 1),
        chain_intact=_intact(stage, audit),
        seconds=seconds,
        asked_twice=sum(1 for q in queries if asked[q] > 1),
        failed_runs=failed,
    )


def _intact(stage: Stage, audit: Sequence[TopicRecord]) -> bool:
    return all(check.finding is None for check in verify_log(audit, stage.codec))


_HEADINGS = (
    "scenario",
    "fault at",
    "requests",
    "responses",
    "duplicates",
    "missing",
    "audit records",
    "audited twice",
    "asked twice",
    "failed runs",
    "audit chain",
    "s",
)


def render(rows: Sequence[Row]) -> Iterator[str]:
    """The table, one line per scenario."""
    cells = [_HEADINGS] + [
        (
            row.scenario,
            f"{row.fault_at:,}",
            f"{row.sent:,}",
            f"{row.received:,}",
            f"{row.duplicates:,}",
            f"{row.missing:,}",
            f"{row.audit_records:,}",
            f"{row.audited_twice:,}",
            f"{row.asked_twice:,}",
            f"{row.failed_runs:,}",
            "intact" if row.chain_intact else "BROKEN",
            f"{row.seconds:.0f}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_HEADINGS))]
    for line in cells:
        yield "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
