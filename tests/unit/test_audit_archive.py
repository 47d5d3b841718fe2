"""Archives of audit records about to expire: what they hold, and their offline check."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from dancu_bus.audit.archive import (
    CHECKPOINTS_FILE,
    MANIFEST_FILE,
    RECORDS_FILE,
    build_archive,
    check_archive,
)
from dancu_bus.audit.chain import START, head_of, seal
from dancu_bus.audit.checkpoints import CheckpointProblem, check_checkpoints
from dancu_bus.audit.verify import Problem
from dancu_bus.cli.audit_checkpoints import describe_checkpoints
from dancu_bus.cli.main import build_parser
from dancu_bus.cli.moments import parse_moment
from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from tests.unit.test_audit_verify import chain, exchange
from tests.unit.test_checkpoints import CODEC, KEY_A, checkpoint_of, keys, stored

T0 = 1_795_768_200_000  # ms: the first record's log time; one record a second
NOW = datetime(2027, 1, 1, tzinfo=UTC)
CHAIN = chain("abcdef")


@dataclass(frozen=True)
class Logged:
    """A record as read back from the audit or checkpoint topic, with its timestamp."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = 0


def logged(records: Sequence[AuditRecord], first: int = 0) -> list[Logged]:
    """Records at consecutive offsets of partition 0, logged a second apart."""
    return [
        Logged(0, first + i, r.exchange_id.encode(), CODEC.encode_audit(r), T0 + (first + i) * 1000)
        for i, r in enumerate(records)
    ]


def heads(offsets: Sequence[int], records: Sequence[AuditRecord] = CHAIN) -> list[Logged]:
    """Signed checkpoints of partition 0's heads at ``offsets`` (offset == index in ``records``)."""
    return [Logged(**vars(stored(checkpoint_of(records[o], o)))) for o in offsets]


def before(offset: int) -> datetime:
    """The moment the record at ``offset`` was logged: the archive takes the records before it."""
    return datetime.fromtimestamp((T0 + offset * 1000) / 1000, UTC)


def archive(audit: Sequence[Logged], signed: Sequence[Logged], cut: int) -> dict[str, bytes]:
    """The archive of the records logged before the one at offset ``cut``."""
    return build_archive(audit, signed, CODEC, topic="ndxp.dancu.audit", before=before(cut), now=NOW)


def lines(data: bytes) -> list[dict[str, object]]:
    """The JSON lines of an archive file."""
    return [json.loads(line) for line in data.decode().splitlines()]


def restamped(files: dict[str, bytes], name: str, data: bytes) -> dict[str, bytes]:
    """``files`` with ``name`` replaced and the manifest's digest of it recomputed, as a forger would."""
    manifest = json.loads(files[MANIFEST_FILE])
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n")}
    return {**files, name: data, MANIFEST_FILE: json.dumps(manifest).encode()}


def test_an_archive_holds_the_records_before_the_date_up_to_the_next_signed_head() -> None:
    """Records 0-2 were logged before; the signed head at 4 covers them, so records 0-4 and heads 1, 4 go."""
    files = archive(logged(CHAIN), heads([1, 4]), 3)
    records = lines(files[RECORDS_FILE])
    assert [r["offset"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["record"]["hash"] == CHAIN[0].hash  # type: ignore[index]
    assert [c["offset"] for c in lines(files[CHECKPOINTS_FILE])] == [1, 4]
    manifest = json.loads(files[MANIFEST_FILE])
    assert manifest["partitions"]["0"] | {"superseded": []} == {
        "records": 5,
        "first_offset": 0,
        "last_offset": 4,
        "chains_from": "0" * 64,
        "checkpoints": 2,
        "last_signed_offset": 4,
        "superseded": [],
    }


def test_an_untouched_archive_verifies_offline_with_and_without_the_key() -> None:
    """Digests, the chain and both signed heads hold; without a key the checkpoints are left unchecked."""
    files = archive(logged(CHAIN), heads([1, 4]), 3)
    checked = check_archive(files, CODEC, keys(KEY_A))
    assert checked.ok and checked.checkpoints is not None and checked.checkpoints[0].verified == 2
    unsigned = check_archive(files, CODEC, None)
    assert unsigned.ok and unsigned.checkpoints is None


def test_nothing_logged_before_the_date_makes_no_archive() -> None:
    """An empty result: no files are written."""
    assert archive(logged(CHAIN), heads([1]), 0) == {}


def test_a_changed_line_fails_its_digest_and_with_the_digest_redone_its_hash() -> None:
    """Editing a record is caught by the manifest; redoing the manifest too, by the chain."""
    files = archive(logged(CHAIN), heads([1, 4]), 6)
    records = lines(files[RECORDS_FILE])
    records[2]["record"]["personal_id"] = "079201000777"  # type: ignore[index]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    edited = check_archive({**files, RECORDS_FILE: data}, CODEC, None)
    assert not edited.ok and any("does not match the SHA-256" in p for p in edited.problems)
    redone = check_archive(restamped(files, RECORDS_FILE, data), CODEC, None)
    assert not redone.problems
    (partition,) = redone.chains
    assert partition.finding is not None
    assert (partition.finding.offset, partition.finding.problem) == (2, Problem.CHANGED)


def test_an_archive_rewritten_with_recomputed_hashes_fails_only_its_signed_heads() -> None:
    """A consistent forgery passes the chain check; its heads are not the signed ones."""
    files = archive(logged(CHAIN), heads([1, 4]), 6)
    forged = logged(chain("abXdef"))
    data = archive(forged, [], 6)[RECORDS_FILE]
    checked = check_archive(restamped(files, RECORDS_FILE, data), CODEC, keys(KEY_A))
    assert all(c.finding is None for c in checked.chains) and checked.checkpoints is not None
    (signed,) = checked.checkpoints
    assert signed.failure is not None
    assert (signed.failure.offset, signed.failure.problem) == (4, CheckpointProblem.CHANGED)


def test_a_missing_file_or_manifest_is_named() -> None:
    """Without its manifest a folder is no archive; without its records file it fails."""
    files = archive(logged(CHAIN), heads([1]), 3)
    assert check_archive({RECORDS_FILE: files[RECORDS_FILE]}, CODEC, None).problems == (
        f"no {MANIFEST_FILE}: not an archive",
    )
    without = check_archive({k: v for k, v in files.items() if k != RECORDS_FILE}, CODEC, None)
    assert not without.ok and f"{RECORDS_FILE} is missing" in without.problems


def test_a_later_archive_chains_on_from_the_earlier_ones_last_hash() -> None:
    """Once retention removed the first records, the next archive starts mid-chain and still verifies."""
    later = logged(CHAIN[3:], first=3)
    files = archive(later, heads([5]), 6)
    manifest = json.loads(files[MANIFEST_FILE])
    assert manifest["partitions"]["0"]["chains_from"] == CHAIN[2].hash
    assert check_archive(files, CODEC, keys(KEY_A)).ok


def test_a_predecessor_compaction_removed_takes_the_archive_on_to_the_record_superseding_it() -> None:
    """An UNANSWERED b compacted away: the archive goes on to b's late answer and the head signing it."""
    records = chain("abcbd")  # b's late answer at offset 3
    topic = [r for r in logged(records) if r.offset != 1]  # compaction removed the UNANSWERED b
    files = archive(topic, heads([2, 4], records), 2)  # logged before: a; the head at 2 signs c
    manifest = json.loads(files[MANIFEST_FILE])["partitions"]["0"]
    assert (manifest["last_offset"], manifest["last_signed_offset"], manifest["superseded"]) == (4, 4, [])
    checked = check_archive(files, CODEC, keys(KEY_A))
    assert checked.ok and checked.checkpoints is not None and checked.checkpoints[0].verified == 2


def test_a_signed_head_compaction_removed_takes_the_archive_on_to_a_head_covering_its_copy() -> None:
    """The signed UNANSWERED b itself is gone: the archive reaches b's answer and the head after it."""
    records = chain("abcbd")
    topic = [r for r in logged(records) if r.offset != 1]
    files = archive(topic, heads([1, 2, 4], records), 1)
    assert [r["offset"] for r in lines(files[RECORDS_FILE])] == [0, 2, 3, 4]
    checked = check_archive(files, CODEC, keys(KEY_A))
    assert checked.ok and checked.checkpoints is not None
    assert (checked.checkpoints[0].verified, checked.checkpoints[0].excused) == (2, 1)
    assert describe_checkpoints(checked.checkpoints[0]).startswith(
        "partition 0: signed heads verified: 2, 1 excused (records compaction removed, each superseded"
    )


def recounted(files: dict[str, bytes], data: bytes, superseded: Sequence[str]) -> dict[str, bytes]:
    """``files`` with the records file replaced and a manifest redone to match, naming ``superseded``."""
    forged = restamped(files, RECORDS_FILE, data)
    manifest = json.loads(forged[MANIFEST_FILE])
    offsets = [int(str(line["offset"])) for line in lines(data)]
    manifest["partitions"]["0"] |= {
        "records": len(offsets),
        "first_offset": min(offsets),
        "last_offset": max(offsets),
        "superseded": list(superseded),
    }
    return {**forged, MANIFEST_FILE: json.dumps(manifest).encode()}


def test_a_signed_record_deleted_and_named_superseded_in_the_manifest_fails() -> None:
    """The manifest is not signed: its superseded ids never excuse a signed head that is gone."""
    files = archive(logged(CHAIN), heads([1, 4]), 3)
    kept = [line for line in files[RECORDS_FILE].splitlines(keepends=True) if b'"offset":1,' not in line]
    forged = recounted(files, b"".join(kept), ["b"])
    checked = check_archive(forged, CODEC, keys(KEY_A))
    assert not checked.problems and not checked.ok and checked.checkpoints is not None
    failure = checked.checkpoints[0].failure
    assert failure is not None and (failure.problem, failure.offset) == (CheckpointProblem.MISSING, 1)


def test_an_archive_whose_checkpoints_were_emptied_fails_with_the_key() -> None:
    """No signed head left (the file emptied, the digest redone): nothing is covered, so not verified."""
    files = archive(logged(CHAIN), heads([1, 4]), 3)
    emptied = restamped(files, CHECKPOINTS_FILE, b"")
    assert check_archive(emptied, CODEC, None).ok
    checked = check_archive(emptied, CODEC, keys(KEY_A))
    assert not checked.ok and checked.checkpoints is not None and checked.checkpoints[0].last is None


def test_an_archive_cut_before_any_signed_head_covers_its_end_fails_with_the_key() -> None:
    """Records after the last signed head are covered by no signature: the check says so."""
    files = archive(logged(CHAIN), heads([1]), 4)  # records 0-3, signed only to 1
    assert json.loads(files[MANIFEST_FILE])["partitions"]["0"]["last_signed_offset"] == 1
    checked = check_archive(files, CODEC, keys(KEY_A))
    assert not checked.ok and checked.checkpoints is not None and checked.checkpoints[0].unsigned == 2


def test_archived_times_keep_the_milliseconds_the_hash_covers() -> None:
    """A record received at a time with milliseconds rebuilds from its JSON line to the same hash."""
    when = datetime(2026, 12, 1, 8, 30, 15, 123000, tzinfo=UTC)
    precise = seal(dataclasses.replace(exchange("p"), received_at=when, answered_at=when), START)
    files = archive(logged([precise]), [], 1)
    (line,) = lines(files[RECORDS_FILE])
    assert line["record"]["received_at"] == "2026-12-01T08:30:15.123Z"  # type: ignore[index]
    assert check_archive(files, CODEC, None).ok


def test_the_cli_offers_keygen_archive_and_both_verify_options() -> None:
    """`audit keygen`, `audit archive --before --out`, `audit verify --public-key --archive` parse."""
    parser = build_parser()
    archived = parser.parse_args(["audit", "archive", "--before", "2026-06-01", "--out", "a"])
    assert parse_moment(archived.before, "--before", end=False) == datetime(2026, 5, 31, 17, tzinfo=UTC)
    verify = parser.parse_args(["audit", "verify", "--archive", "a", "--public-key", "keys"])
    assert (str(verify.archive), str(verify.public_key)) == ("a", "keys")
    assert str(parser.parse_args(["audit", "keygen", "--out", "k"]).out) == "k"


def test_before_is_read_as_every_audit_command_reads_a_moment() -> None:
    """`--before` is a date (00:00 Vietnam time) or an ISO datetime, UTC unless it names its offset."""
    assert parse_moment("2026-06-01T08:00+07:00", "--before", end=False) == datetime(
        2026, 6, 1, 1, tzinfo=UTC
    )
    assert parse_moment("2026-06-01T08:00", "--before", end=False) == datetime(2026, 6, 1, 8, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--before"):
        parse_moment("1 June", "--before", end=False)


def test_a_partition_is_described_in_one_line() -> None:
    """A verified partition names its last signed head and what follows it; a failure names the record."""
    (ok,) = check_checkpoints(logged(CHAIN), heads([2]), CODEC, keys(KEY_A))
    assert describe_checkpoints(ok).startswith(
        "partition 0: signed heads verified: 1; the last at offset 2 ("
    )
    assert describe_checkpoints(ok).endswith("; 3 records after it not signed yet")
    (bad,) = check_checkpoints(logged(chain("abXdef")), heads([3]), CODEC, keys(KEY_A))
    assert describe_checkpoints(bad).startswith("partition 0: checkpoint CHANGED at offset 3 (exchange d): ")


@pytest.mark.parametrize(
    ("name", "edit", "problem"),
    [
        (
            RECORDS_FILE,
            lambda line: line.pop("partition"),
            f"{RECORDS_FILE} line 2: the field 'partition' is missing",
        ),
        (
            RECORDS_FILE,
            lambda line: line["record"].pop("hash"),
            f"{RECORDS_FILE} line 2 is not what it should be: its record lacks the field(s) hash",
        ),
        (
            CHECKPOINTS_FILE,
            lambda line: line.update(extra=1),
            f"{CHECKPOINTS_FILE} line 2 is not what it should be: the checkpoint has unknown field(s) extra",
        ),
    ],
)
def test_a_bad_line_names_its_file_its_number_and_the_field(
    name: str, edit: Callable[[dict[str, Any]], object], problem: str
) -> None:
    """A line edited by hand (digest redone) is named: which file, which line, which field."""
    files = archive(logged(CHAIN), heads([1, 4]), 3)
    edited = lines(files[name])
    edit(edited[1])
    data = "".join(json.dumps(line) + "\n" for line in edited).encode()
    assert check_archive(restamped(files, name, data), CODEC, keys(KEY_A)).problems == (problem,)


def test_a_hidden_exchange_is_archived_with_its_mark_and_an_older_line_without_it_still_verifies() -> None:
    """A hidden record's date and legal basis survive the archive (its hash holds); a line written before
    those fields existed is read as an unhidden record and verifies."""
    marked = dataclasses.replace(
        CHAIN[0],
        hidden_until=datetime(2027, 6, 1, 12, 0, 0, 123_000, tzinfo=UTC),
        hiding_legal_basis="Bộ luật Tố tụng hình sự 2015, Điều 88",
    )
    hidden, head = [], START
    for record in (marked, *CHAIN[1:]):
        hidden.append(seal(record, head))
        head = head_of(hidden[-1])
    files = archive(logged(hidden), heads([4], hidden), 3)
    first = lines(files[RECORDS_FILE])[0]["record"]
    assert first["hidden_until"] == "2027-06-01T12:00:00.123Z"  # type: ignore[index]
    assert check_archive(files, CODEC, keys(KEY_A)).ok
    plain = archive(logged(CHAIN), heads([4]), 3)
    older = [json.loads(line) for line in plain[RECORDS_FILE].decode().splitlines()]
    for line in older:
        del line["record"]["hidden_until"], line["record"]["hiding_legal_basis"]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in older).encode()
    assert check_archive(restamped(plain, RECORDS_FILE, data), CODEC, keys(KEY_A)).ok
