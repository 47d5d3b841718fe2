"""`audit verify`'s pure check of the hash chains: tables of intact and tampered partitions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from dancu_bus.audit import Problem, verify_log
from dancu_bus.audit.chain import START, ChainHead, head_of, seal
from dancu_bus.cli.audit import describe_check
from dancu_bus.cli.main import build_parser
from dancu_bus.contracts import AuditRecord
from dancu_bus.operations import platform_codec
from tests.unit import samples

CODEC = platform_codec()


@dataclass(frozen=True)
class Entry:
    """A record of the audit topic as read back."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def exchange(request_id: str) -> AuditRecord:
    """An unsealed audit record of one exchange."""
    return dataclasses.replace(
        samples.AUDIT, exchange_id=request_id, request_id=request_id, case_no=f"HS-{request_id}"
    )


def chain(request_ids: str, head: ChainHead = START) -> list[AuditRecord]:
    """Records sealed one after the other; a repeated id is a replay of the same exchange."""
    records = []
    for request_id in request_ids:
        records.append(seal(exchange(request_id), head))
        head = head_of(records[-1])
    return records


def entry(offset: int, record: AuditRecord, partition: int = 0) -> Entry:
    """The record at ``offset``, keyed by its exchange id."""
    return Entry(partition, offset, record.exchange_id.encode(), CODEC.encode_audit(record))


def log(records: Sequence[AuditRecord], offsets: Sequence[int] | None = None) -> list[Entry]:
    """Records at consecutive offsets (or the given ones) of partition 0."""
    return [entry(o, r) for o, r in zip(offsets or range(len(records)), records, strict=True)]


ABCD = chain("abcd")


def _altered_in_place() -> list[Entry]:
    entries = log(ABCD)
    entries[1] = entry(1, dataclasses.replace(ABCD[1], status="REJECTED"))
    return entries


def _altered_and_rehashed() -> list[Entry]:
    forged = seal(dataclasses.replace(exchange("b"), status="REJECTED"), head_of(ABCD[0]))
    return [entry(0, ABCD[0]), entry(1, forged), *log(ABCD[2:], [2, 3])]


def _altered_copy_appended() -> list[Entry]:
    return [*log(ABCD), entry(4, dataclasses.replace(ABCD[1], personal_id="079201000777"))]


def _swapped() -> list[Entry]:
    return [entry(0, ABCD[1]), entry(1, ABCD[0]), *log(ABCD[2:], [2, 3])]


def _forged_link_inserted() -> list[Entry]:
    forged = seal(exchange("x"), head_of(ABCD[1]))
    return [*log(ABCD[:2]), entry(2, forged), *log(ABCD[2:], [3, 4])]


def _key_changed() -> list[Entry]:
    entries = log(ABCD)
    entries[2] = dataclasses.replace(entries[2], key=b"someone-else")
    return entries


REPLAYED = chain("abca")
IMMEDIATE_REPLAY = chain("abb")

CASES: list[tuple[str, Callable[[], list[Entry]], tuple[int, str | None, Problem] | None]] = [
    ("intact", lambda: log(ABCD), None),
    ("content altered", _altered_in_place, (1, "b", Problem.CHANGED)),
    ("content altered and re-hashed", _altered_and_rehashed, (1, "b", Problem.CHANGED)),
    ("altered copy appended", _altered_copy_appended, (4, "b", Problem.CHANGED)),
    ("record removed", lambda: log([ABCD[0], *ABCD[2:]], [0, 2, 3]), (2, "c", Problem.MISSING)),
    ("two records swapped", _swapped, (0, "b", Problem.REORDERED)),
    ("replayed after restart", lambda: log(REPLAYED), None),
    ("compaction removed the superseded record", lambda: log(REPLAYED[1:], [1, 2, 3]), None),
    (
        "compaction after an immediate replay",
        lambda: log([IMMEDIATE_REPLAY[0], IMMEDIATE_REPLAY[2]], [0, 2]),
        None,
    ),
    (
        "gap that no replay explains",
        lambda: log([REPLAYED[0], *REPLAYED[2:]], [0, 2, 3]),
        (2, "c", Problem.MISSING),
    ),
    ("oldest records deleted", lambda: log(ABCD[2:], [2, 3]), (2, "c", Problem.MISSING)),
    ("tombstone", lambda: [*log(ABCD), Entry(0, 4, b"b", None)], (4, "b", Problem.CHANGED)),
    (
        "foreign bytes",
        lambda: [*log(ABCD), Entry(0, 4, b"x", b"\xc3\x01garbage!")],
        (4, "x", Problem.CHANGED),
    ),
    ("key is not the request id", _key_changed, (2, "c", Problem.CHANGED)),
    ("forged link inserted", _forged_link_inserted, (3, "c", Problem.REORDERED)),
    ("a second chain start", lambda: log([*ABCD[:2], *chain("c")]), (2, "c", Problem.REORDERED)),
]


@pytest.mark.parametrize(("name", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_first_finding_of_a_partition(
    name: str, build: Callable[[], list[Entry]], expected: tuple[int, str | None, Problem] | None
) -> None:
    """Each tampering is reported at the exact record, and legitimate replays and compaction are not."""
    (check,) = verify_log(build(), CODEC)
    finding = check.finding
    assert (None if finding is None else (finding.offset, finding.exchange_id, finding.problem)) == expected


def test_a_removed_record_is_named_by_its_successor() -> None:
    """The gap's report says which request's record the next one chained from."""
    (check,) = verify_log(log([ABCD[0], *ABCD[2:]], [0, 2, 3]), CODEC)
    assert check.finding is not None and "exchange b" in check.finding.detail


def test_retention_may_be_accepted_at_the_head_only() -> None:
    """With expired_head_ok a partition may start mid-chain, but a gap further on is still one."""
    (head_cut,) = verify_log(log(ABCD[1:], [1, 2, 3]), CODEC, expired_head_ok=True)
    assert head_cut.finding is None
    (both,) = verify_log(log([ABCD[1], ABCD[3]], [1, 3]), CODEC, expired_head_ok=True)
    assert both.finding is not None and (both.finding.offset, both.finding.problem) == (3, Problem.MISSING)


def test_partitions_are_checked_apart_and_in_order() -> None:
    """A break in one partition leaves the others intact, each with its count and head to anchor."""
    other = chain("xyz")
    broken = [entry(o, r, partition=4) for o, r in ((0, ABCD[0]), (2, ABCD[2]))]
    checks = verify_log([*broken, *(entry(o, r, partition=1) for o, r in enumerate(other))], CODEC)
    assert [c.partition for c in checks] == [1, 4]
    assert checks[0].finding is None and checks[0].records == 3 and checks[0].head == head_of(other[-1])
    assert checks[1].finding is not None and checks[1].finding.partition == 4


def test_an_empty_topic_has_nothing_to_report() -> None:
    """No records, no partitions to report."""
    assert verify_log([], CODEC) == []


def test_the_cli_has_audit_run_and_audit_verify() -> None:
    """`dancu-bus audit` takes a verb: run (the consumer) or verify (with --expired-head)."""
    parser = build_parser()
    assert parser.parse_args(["audit", "run"]).audit_command == "run"
    verify = parser.parse_args(["audit", "verify", "--expired-head"])
    assert (verify.audit_command, verify.expired_head, callable(verify.run)) == ("verify", True, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["audit"])


def test_a_broken_partition_is_described_in_one_line() -> None:
    """The report line names partition, problem, offset, request id and what is wrong."""
    (check,) = verify_log(log([ABCD[0], *ABCD[2:]], [0, 2, 3]), CODEC)
    assert describe_check(check).startswith("partition 0: MISSING at offset 2 (exchange c): ")
