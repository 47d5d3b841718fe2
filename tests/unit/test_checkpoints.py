"""Signed checkpoints: signing, the wire, and the inspector's check of signatures, heads and links."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dancu_bus.audit.chain import head_of, seal
from dancu_bus.audit.checkpoints import (
    Checkpoint,
    CheckpointCodec,
    CheckpointProblem,
    check_checkpoints,
    checkpoint_key,
    key_id_of,
    sign,
    signature_problem,
)
from dancu_bus.contracts import AuditRecord
from dancu_bus.operations import platform_codec
from dancu_bus.topics import packaged_topics
from tests.unit.test_audit_verify import chain, exchange

CODEC = platform_codec()
CHECKPOINTS = CheckpointCodec(CODEC.schemas)
KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_B = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SIGNED_AT = datetime(2026, 12, 1, 8, 30, 15, 123000, tzinfo=UTC)
CHAIN = chain("abcdef")  # partition 0, offsets 0-5


@dataclass(frozen=True)
class Entry:
    """A record as read back from the audit or the checkpoint topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def keys(*private: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    """The public keys of ``private``, by key id, as an inspector holds them."""
    return {key_id_of(k.public_key()): k.public_key() for k in private}


def audit_log(records: Sequence[AuditRecord], offsets: Sequence[int] | None = None) -> list[Entry]:
    """Audit records at consecutive offsets (or the given ones) of partition 0."""
    where = offsets or range(len(records))
    return [
        Entry(0, o, r.exchange_id.encode(), CODEC.encode_audit(r))
        for o, r in zip(where, records, strict=True)
    ]


def checkpoint_of(record: AuditRecord, offset: int, key: Ed25519PrivateKey = KEY_A) -> Checkpoint:
    """The signed checkpoint of ``record`` as partition 0's head at ``offset``."""
    head = Checkpoint(0, offset, record.exchange_id, record.request_id, record.hash, SIGNED_AT)
    return sign(head, key)


def stored(checkpoint: Checkpoint) -> Entry:
    """A checkpoint as read back from the checkpoint topic."""
    key = checkpoint_key(checkpoint.partition, checkpoint.offset)
    return Entry(checkpoint.partition, 0, key, CHECKPOINTS.encode(checkpoint))


def signed_heads(offsets: Sequence[int], records: Sequence[AuditRecord] = CHAIN) -> list[Entry]:
    """Checkpoints of the untouched chain's heads at ``offsets``."""
    return [stored(checkpoint_of(records[o], o)) for o in offsets]


def test_a_checkpoint_survives_the_wire_and_its_signature_verifies() -> None:
    """Encoding keeps every field (the time to the millisecond) and the key id names the signing key."""
    checkpoint = checkpoint_of(CHAIN[2], 2)
    assert CHECKPOINTS.decode(CHECKPOINTS.encode(checkpoint)) == checkpoint
    assert checkpoint.signed_at == SIGNED_AT and checkpoint.key_id == key_id_of(KEY_A.public_key())
    assert len(checkpoint.key_id) == 16 and signature_problem(checkpoint, keys(KEY_A)) is None


def test_a_checkpoint_changed_after_signing_no_longer_verifies() -> None:
    """Another hash under the old signature, or a flipped signature byte, is a bad signature."""
    checkpoint = checkpoint_of(CHAIN[2], 2)
    flipped = bytes([checkpoint.signature[0] ^ 1]) + checkpoint.signature[1:]
    for forged in (
        dataclasses.replace(checkpoint, hash=CHAIN[3].hash),
        dataclasses.replace(checkpoint, signature=flipped),
    ):
        assert (
            signature_problem(forged, keys(KEY_A))
            == f"its signature does not verify with key {checkpoint.key_id}"
        )


def test_an_untouched_partition_verifies_and_counts_what_is_not_signed_yet() -> None:
    """Three signed heads hold and link; the two records after the last are unsigned, not wrong."""
    (check,) = check_checkpoints(audit_log(CHAIN), signed_heads([0, 2, 3]), CODEC, keys(KEY_A))
    assert check.ok and (check.verified, check.unsigned, check.expired) == (3, 2, 0)
    assert check.last is not None and check.last.offset == 3


def test_a_partition_without_checkpoints_has_everything_unsigned() -> None:
    """A log from before checkpoints (or no key): nothing to fail, every record unsigned."""
    (check,) = check_checkpoints(audit_log(CHAIN), [], CODEC, keys(KEY_A))
    assert check.ok and (check.verified, check.unsigned, check.last) == (0, 6, None)


def test_a_tampered_signature_is_named() -> None:
    """A checkpoint whose hash was changed without its key fails as BAD_SIGNATURE at its offset."""
    forged = dataclasses.replace(checkpoint_of(CHAIN[3], 3), hash="f" * 64)
    (check,) = check_checkpoints(audit_log(CHAIN), [*signed_heads([1]), stored(forged)], CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.BAD_SIGNATURE, 3)


def test_an_unknown_key_id_is_named() -> None:
    """A checkpoint signed with a key the inspector was not given names that key id."""
    foreign = checkpoint_of(CHAIN[2], 2, KEY_B)
    (check,) = check_checkpoints(audit_log(CHAIN), [stored(foreign)], CODEC, keys(KEY_A))
    assert check.failure is not None and check.failure.problem is CheckpointProblem.UNKNOWN_KEY
    assert f"key {foreign.key_id!r}" in check.failure.detail


def test_rotated_keys_verify_with_every_public_key_kept() -> None:
    """Heads signed with the old key, then the new one, verify with both public keys, not the new alone."""
    rotated = [stored(checkpoint_of(CHAIN[1], 1, KEY_A)), stored(checkpoint_of(CHAIN[4], 4, KEY_B))]
    (both,) = check_checkpoints(audit_log(CHAIN), rotated, CODEC, keys(KEY_A, KEY_B))
    assert both.ok and both.verified == 2
    (new_only,) = check_checkpoints(audit_log(CHAIN), rotated, CODEC, keys(KEY_B))
    assert new_only.failure is not None
    assert (new_only.failure.problem, new_only.failure.offset) == (CheckpointProblem.UNKNOWN_KEY, 1)


def test_a_partition_rewritten_with_every_hash_recomputed_fails_at_the_first_signed_head() -> None:
    """A forged chain is consistent in itself, but its record at a signed offset is not the signed one."""
    forged = chain("abXdef")  # from c on, every hash differs
    (check,) = check_checkpoints(audit_log(forged), signed_heads([1, 3]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset, check.failure.exchange_id) == (
        CheckpointProblem.CHANGED,
        3,
        "d",
    )
    assert CHAIN[3].hash in check.failure.detail and forged[3].hash in check.failure.detail


def test_a_record_altered_between_two_signed_heads_is_named() -> None:
    """A field changed in place (hash kept) between signed heads breaks the walk at exactly that record."""
    entries = audit_log(CHAIN)
    altered = dataclasses.replace(CHAIN[2], personal_id="079201000777")
    entries[2] = Entry(0, 2, b"c", CODEC.encode_audit(altered))
    (check,) = check_checkpoints(entries, signed_heads([1, 4]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset, check.failure.exchange_id) == (
        CheckpointProblem.UNLINKED,
        2,
        "c",
    )


def test_a_signed_record_altered_in_place_is_named() -> None:
    """The record at a signed offset that no longer matches its hash is CHANGED there."""
    entries = audit_log(CHAIN)
    entries[3] = Entry(0, 3, b"d", CODEC.encode_audit(dataclasses.replace(CHAIN[3], status="REJECTED")))
    (check,) = check_checkpoints(entries, signed_heads([3]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.CHANGED, 3)


def test_a_forged_link_inserted_between_signed_heads_is_named() -> None:
    """A record inserted after a signed head, chaining from it, leaves the next record unlinked."""
    inserted = seal(exchange("x"), head_of(CHAIN[1]))
    entries = [*audit_log(CHAIN[:2]), *audit_log([inserted], [2]), *audit_log(CHAIN[2:], [3, 4, 5, 6])]
    heads = [stored(checkpoint_of(CHAIN[1], 1)), stored(checkpoint_of(CHAIN[4], 5))]
    (check,) = check_checkpoints(entries, heads, CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset, check.failure.exchange_id) == (
        CheckpointProblem.UNLINKED,
        3,
        "c",
    )


def test_a_signed_head_past_the_end_is_missing() -> None:
    """Checkpoints are read first: a signed offset the partition no longer reaches is a record gone."""
    (check,) = check_checkpoints(audit_log(CHAIN[:4]), signed_heads([2, 5]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.MISSING, 5)
    assert "ends at offset 3" in check.failure.detail


def test_retention_may_be_accepted_for_heads_before_the_first_record() -> None:
    """Records deleted from the head fail their checkpoints unless retention is accepted (then: expired)."""
    entries = audit_log(CHAIN)[2:]
    (strict,) = check_checkpoints(entries, signed_heads([0, 3]), CODEC, keys(KEY_A))
    assert strict.failure is not None and strict.failure.problem is CheckpointProblem.MISSING
    (lenient,) = check_checkpoints(entries, signed_heads([0, 3]), CODEC, keys(KEY_A), expired_head_ok=True)
    assert lenient.ok and (lenient.verified, lenient.expired) == (1, 1)


def test_a_signed_head_compaction_superseded_still_links() -> None:
    """An UNANSWERED head later superseded by its answer may be compacted away: the chain still links."""
    unanswered = chain("ab")
    later = chain("cb", head_of(unanswered[1]))  # b again: its late answer
    records = [*unanswered, *later]
    compacted = [e for e in audit_log(records) if e.offset != 1]
    heads = [stored(checkpoint_of(records[0], 0)), stored(checkpoint_of(records[1], 1))]
    heads.append(stored(checkpoint_of(records[3], 3)))
    (check,) = check_checkpoints(compacted, heads, CODEC, keys(KEY_A))
    assert check.ok and (check.verified, check.excused) == (2, 1)


def test_a_deleted_or_foreign_checkpoint_is_unreadable() -> None:
    """A tombstone in the checkpoint topic, or bytes that are no checkpoint, fail as UNREADABLE."""
    for bad in (Entry(0, 7, b"0:2", None), Entry(0, 7, b"0:2", b"\xc3\x01junk")):
        (check,) = check_checkpoints(audit_log(CHAIN), [bad], CODEC, keys(KEY_A))
        assert check.failure is not None
        assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.UNREADABLE, 2)


def test_partitions_are_checked_apart() -> None:
    """A failure in partition 1 leaves partition 0's result alone."""
    other = [dataclasses.replace(e, partition=1) for e in audit_log(chain("xyz"))]
    wrong = dataclasses.replace(checkpoint_of(CHAIN[1], 1), partition=1)
    checks = check_checkpoints(
        [*audit_log(CHAIN), *other], [*signed_heads([1]), stored(sign(wrong, KEY_A))], CODEC, keys(KEY_A)
    )
    assert [(c.partition, c.ok) for c in checks] == [(0, True), (1, False)]


@pytest.mark.parametrize("late_s", [0.0, 59.0])
def test_signing_keeps_the_time_to_the_millisecond(late_s: float) -> None:
    """The signed time is what the wire keeps, so a decoded checkpoint verifies."""
    when = SIGNED_AT + timedelta(seconds=late_s, microseconds=456)
    checkpoint = sign(Checkpoint(0, 1, "a", "a", CHAIN[0].hash, when), KEY_A)
    assert signature_problem(CHECKPOINTS.decode(CHECKPOINTS.encode(checkpoint)), keys(KEY_A)) is None


def forged_copy(records: Sequence[AuditRecord], first: int) -> list[Entry]:
    """A forged copy of ``records`` under the same exchange ids, every hash recomputed, from ``first`` on."""
    altered = [dataclasses.replace(exchange(r.exchange_id), status="REJECTED") for r in records]
    forged, head = [], head_of(records[-1])
    for record in altered:
        forged.append(seal(record, head))
        head = head_of(forged[-1])
    return audit_log(forged, range(first, first + len(forged)))


def test_a_partition_rewritten_then_compacted_fails_at_its_newest_head() -> None:
    """A forged copy appended under the same keys, the originals compacted away: nothing is verified."""
    compacted = forged_copy(CHAIN, 6)  # compaction removed offsets 0-5, each superseded by its copy
    (check,) = check_checkpoints(compacted, signed_heads([1, 3, 5]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.MISSING, 1)
    assert check.verified == 0


def test_the_newest_signed_head_is_never_excused() -> None:
    """Even when its exchange was recorded again, the newest checkpoint's record must be there."""
    compacted = [*audit_log(CHAIN)[:5], *forged_copy(CHAIN[5:], 6)]  # f copied after its signed head
    (check,) = check_checkpoints(compacted, signed_heads([1, 5]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.MISSING, 5)


def test_a_vanished_head_whose_copy_lies_past_the_signed_stretch_is_missing() -> None:
    """Older heads rewritten, the newest left alone: their copies are not covered by any signature."""
    compacted = [*audit_log(CHAIN)[5:], *forged_copy(CHAIN[:5], 6)]
    (check,) = check_checkpoints(compacted, signed_heads([1, 3, 5]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.MISSING, 1)


def test_a_link_excused_by_a_copy_outside_the_signed_stretch_is_unlinked() -> None:
    """c rewritten: its copy after the newest head cannot excuse the broken link of d."""
    compacted = [e for e in audit_log(CHAIN) if e.offset != 2] + forged_copy(CHAIN[2:3], 6)
    (check,) = check_checkpoints(compacted, signed_heads([1, 4]), CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset, check.failure.exchange_id) == (
        CheckpointProblem.UNLINKED,
        3,
        "d",
    )


def test_a_rewrite_followed_by_genuine_signed_records_is_unlinked() -> None:
    """The audit consumer chains on from its own head: its next record does not follow the forgery."""
    forged = forged_copy(CHAIN, 6)
    genuine = seal(exchange("g"), head_of(CHAIN[5]))
    compacted = [*forged, *audit_log([genuine], [12])]
    heads = [*signed_heads([1, 5]), stored(checkpoint_of(genuine, 12))]
    (check,) = check_checkpoints(compacted, heads, CODEC, keys(KEY_A))
    assert check.failure is not None
    assert (check.failure.problem, check.failure.offset) == (CheckpointProblem.UNLINKED, 12)


def test_a_head_superseded_after_a_later_checkpoint_is_excused_once_a_newer_one_covers_it() -> None:
    """b UNANSWERED and signed, c signed, b's late answer at 3, signed at 4: b is excused, not verified."""
    records = chain("abcbd")
    compacted = [e for e in audit_log(records) if e.offset != 1]
    heads = [stored(checkpoint_of(records[o], o)) for o in (1, 2, 4)]
    (check,) = check_checkpoints(compacted, heads, CODEC, keys(KEY_A))
    assert check.ok and (check.verified, check.excused, check.unsigned) == (2, 1, 0)
    (early,) = check_checkpoints(compacted[:2], heads[:2], CODEC, keys(KEY_A))
    assert early.failure is not None and early.failure.problem is CheckpointProblem.MISSING


def test_the_checkpoint_topic_is_never_compacted() -> None:
    """Keys are unique per head: compaction would only offer a way to delete one with a tombstone."""
    file = packaged_topics()
    declared = next(t for t in file.topics if t.name == f"{file.prefix}.audit.checkpoints")
    configs = {**file.defaults.configs, **declared.configs}
    assert configs["cleanup.policy"].split(",") == ["delete"]
    audit = next(t for t in file.topics if t.name == f"{file.prefix}.audit")
    assert configs["retention.ms"] == {**file.defaults.configs, **audit.configs}["retention.ms"]
