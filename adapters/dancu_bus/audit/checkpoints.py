"""Signed checkpoints of the audit chains: what one says, how it is signed, how an inspector checks it. Pure.

A hash chain alone has no key: whoever can write the audit topic can append a forged copy of a
partition with every hash recomputed. So the audit consumer signs, every
``DANCU_AUDIT__CHECKPOINT_INTERVAL_S`` and only when it moved, each partition's head (partition,
offset, exchange id, request id, hash, when, key id) with an Ed25519 key that never travels on the
bus. It writes the checkpoint to ``<prefix>.audit.checkpoints`` in the same transaction as the
partition's next audit records, naming only a head an earlier transaction committed: a checkpoint
never names a record that was aborted.

An inspector with the public keys (``check_checkpoints``) checks every checkpoint's signature (a key
id it does not hold is a named failure: rotation keeps old public keys, so old key ids stay
verifiable), that the record at each signed offset is still there with the signed hash, and that
successive checkpoints of a partition are linked: walking the chain from one signed head reaches the
next. A rewritten partition fails at the first signed head it no longer has; a record altered after
a signed head breaks the walk to the next one. Records after a partition's last checkpoint are not
covered yet (counted as ``unsigned``); the hash chain (``verify_log``) still checks them.

The audit topic is compacted: a record superseded by a newer one of its exchange (an UNANSWERED
record by its late answer) may be gone, and with it a signed head or a link of the walk. Such a gap
is excused only when the record that superseded it is itself covered by a signature: it lies after
the gap and at or before the partition's newest checkpoint, whose record must be there exactly (it
is never excused), so the walk into a signed head checked it. A forged copy appended under the same
keys is not: once compaction removed the originals, the newest signed head is missing (or the
consumer's next record does not chain from the forgery). An excused head is counted as ``excused``,
not as verified. A head signed just before its record was superseded and compacted, with no newer
checkpoint yet, is MISSING until the next checkpoint covers the superseding record.

The checkpoint topic is not compacted (``cleanup.policy: delete``): its key ``<partition>:<offset>``
is unique per signed head, and a tombstone would be a way to delete one; the audit topic's retention
removes checkpoints as it removes their records.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dancu_bus.audit.chain import ChainHead, is_intact
from dancu_bus.audit.verify import LoggedRecord
from dancu_bus.codec import Codec, SchemaSet
from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import CodecError
from dancu_bus.timestamps import aware, from_epoch_ms, to_epoch_ms

__all__ = [
    "CHECKPOINT",
    "Checkpoint",
    "CheckpointCheck",
    "CheckpointCodec",
    "CheckpointFailure",
    "CheckpointProblem",
    "check_checkpoints",
    "checkpoint_key",
    "key_id_of",
    "sign",
    "signature_problem",
    "signed_content",
]

CHECKPOINT = "vn.dancu.AuditCheckpoint"
_DOMAIN = b"dancu-bus audit checkpoint v1\n"
_KEY_ID_HEX = 16


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One partition's chain head as the audit consumer signed it."""

    partition: int
    offset: int
    exchange_id: str
    request_id: str
    hash: str
    signed_at: datetime
    key_id: str = ""
    signature: bytes = b""

    @property
    def head(self) -> ChainHead:
        """The head it names, as the next record chains from it."""
        return ChainHead(self.exchange_id, self.hash)


def checkpoint_key(partition: int, offset: int) -> bytes:
    """The checkpoint topic's key of a signed head: unique per head (the topic is not compacted)."""
    return f"{partition}:{offset}".encode()


def key_id_of(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of the SHA-256 of its 32 raw bytes."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:_KEY_ID_HEX]


def signed_content(checkpoint: Checkpoint) -> bytes:
    """The bytes signed: a domain tag, then canonical JSON of every field but ``signature``."""
    content: dict[str, Any] = {
        field.name: getattr(checkpoint, field.name)
        for field in dataclasses.fields(checkpoint)
        if field.name != "signature"
    }
    content["signed_at"] = to_epoch_ms(aware(checkpoint.signed_at))
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _DOMAIN + text.encode("utf-8")


def sign(checkpoint: Checkpoint, private: Ed25519PrivateKey) -> Checkpoint:
    """``checkpoint`` signed with ``private``, its key id set, its time cut to what the wire keeps."""
    whole_ms = from_epoch_ms(to_epoch_ms(aware(checkpoint.signed_at)))
    named = dataclasses.replace(
        checkpoint, signed_at=whole_ms, key_id=key_id_of(private.public_key()), signature=b""
    )
    return dataclasses.replace(named, signature=private.sign(signed_content(named)))


def signature_problem(checkpoint: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Why the signature does not hold (an unknown key id, a bad signature), or None when it does."""
    public = keys.get(checkpoint.key_id)
    if public is None:
        held = ", ".join(sorted(keys)) or "none"
        return f"signed with key {checkpoint.key_id!r}, which is not among the public keys given ({held})"
    try:
        public.verify(checkpoint.signature, signed_content(checkpoint))
    except InvalidSignature:
        return f"its signature does not verify with key {checkpoint.key_id}"
    return None


class CheckpointCodec:
    """Encodes and decodes checkpoints (``vn.dancu.AuditCheckpoint``)."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas

    def encode(self, checkpoint: Checkpoint) -> bytes:
        """Checkpoint → bytes."""
        return self._schemas.encode(
            CHECKPOINT, {f.name: getattr(checkpoint, f.name) for f in dataclasses.fields(checkpoint)}
        )

    def decode(self, data: bytes | None) -> Checkpoint:
        """Bytes → Checkpoint, or CodecError."""
        return self._schemas.decode_as(CHECKPOINT, data, _checkpoint)


def _checkpoint(record: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(
        partition=int(record["partition"]),
        offset=int(record["offset"]),
        exchange_id=str(record["exchange_id"]),
        request_id=str(record["request_id"]),
        hash=str(record["hash"]),
        signed_at=aware(record["signed_at"]),
        key_id=str(record["key_id"]),
        signature=bytes(record["signature"]),
    )


class CheckpointProblem(StrEnum):
    """What is wrong with a checkpoint, or with the chain it signs."""

    UNREADABLE = "UNREADABLE"  # not a checkpoint, a deletion of one, or under another key
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    CHANGED = "CHANGED"  # the record at the signed offset is not the one signed
    MISSING = "MISSING"  # the signed record is gone (and no signed stretch covers a newer one of it)
    UNLINKED = "UNLINKED"  # the chain from one signed head does not reach the next


@dataclass(frozen=True, slots=True)
class CheckpointFailure:
    """The first thing wrong in a partition's checkpoints: which audit offset, which exchange, what."""

    partition: int
    offset: int
    exchange_id: str | None
    problem: CheckpointProblem
    detail: str


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """One audit partition's checkpoints: how many held, the last one, what is not covered yet, a failure."""

    partition: int
    verified: int  # signed heads whose record is there with the signed hash
    expired: int  # checkpoints of records retention removed (accepted only when asked)
    unsigned: int  # records after the last checkpoint
    last: Checkpoint | None
    failure: CheckpointFailure | None
    excused: int = 0  # signed heads compaction removed, superseded by a record a newer signature covers

    @property
    def ok(self) -> bool:
        """Whether every checkpoint of the partition verified."""
        return self.failure is None


def check_checkpoints(
    audit: Iterable[LoggedRecord],
    checkpoints: Iterable[LoggedRecord],
    codec: Codec,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    expired_head_ok: bool = False,
) -> list[CheckpointCheck]:
    """Check every checkpoint against ``keys`` and the audit records, partition by partition.

    ``checkpoints`` must have been read before ``audit``: every checkpoint names a head committed
    before it, so a signed offset past the end of what was read is a record that is gone.
    ``expired_head_ok`` accepts checkpoints of records before a partition's first (retention).
    A gap compaction may have made is excused only by what ``audit`` itself holds under a signature:
    no list of exchange ids from outside (an archive's manifest is not signed).
    """
    signed, failures = _decoded_checkpoints(checkpoints, CheckpointCodec(codec.schemas), keys)
    chains: dict[int, list[LoggedRecord]] = {}
    for record in audit:
        chains.setdefault(record.partition, []).append(record)
    results = []
    for partition in sorted(set(chains) | set(signed) | set(failures)):
        records = sorted(chains.get(partition, []), key=lambda r: r.offset)
        chain = _Chain(partition, records, codec)
        found = chain.check(signed.get(partition, []), expired_head_ok)
        if partition in failures and (
            found.failure is None or failures[partition].offset < found.failure.offset
        ):
            found = dataclasses.replace(found, failure=failures[partition])
        results.append(found)
    return results


def _decoded_checkpoints(
    records: Iterable[LoggedRecord], checkpoints: CheckpointCodec, keys: Mapping[str, Ed25519PublicKey]
) -> tuple[dict[int, list[Checkpoint]], dict[int, CheckpointFailure]]:
    """The checkpoints whose signatures hold, by audit partition; the first bad one of each partition."""
    signed: dict[int, list[Checkpoint]] = {}
    failures: dict[int, CheckpointFailure] = {}
    for record in records:
        checkpoint, failure = _one_checkpoint(record, checkpoints, keys)
        if checkpoint is not None:
            signed.setdefault(checkpoint.partition, []).append(checkpoint)
        elif failure is not None:
            known = failures.get(failure.partition)
            if known is None or failure.offset < known.offset:
                failures[failure.partition] = failure
    return signed, failures


def _one_checkpoint(
    record: LoggedRecord, checkpoints: CheckpointCodec, keys: Mapping[str, Ed25519PublicKey]
) -> tuple[Checkpoint | None, CheckpointFailure | None]:
    key = (record.key or b"").decode("utf-8", errors="replace")
    partition, offset = _parse_key(key, record.partition)
    if record.value is None:
        detail = f"checkpoint {key!r} was deleted (a tombstone; the audit consumer writes none)"
        return None, CheckpointFailure(partition, offset, None, CheckpointProblem.UNREADABLE, detail)
    try:
        checkpoint = checkpoints.decode(record.value)
    except CodecError as exc:
        detail = f"checkpoint {key!r} is not a checkpoint ({exc.code})"
        return None, CheckpointFailure(partition, offset, None, CheckpointProblem.UNREADABLE, detail)
    here = (checkpoint.partition, checkpoint.offset, checkpoint.exchange_id)
    if record.key != checkpoint_key(checkpoint.partition, checkpoint.offset):
        detail = f"checkpoint {key!r} is stored under another key than the head it signs"
        return None, CheckpointFailure(*here, CheckpointProblem.UNREADABLE, detail)
    problem = signature_problem(checkpoint, keys)
    if problem is not None:
        kind = (
            CheckpointProblem.UNKNOWN_KEY
            if checkpoint.key_id not in keys
            else CheckpointProblem.BAD_SIGNATURE
        )
        return None, CheckpointFailure(*here, kind, f"the checkpoint of {_signed(checkpoint)} is {problem}")
    return checkpoint, None


def _parse_key(key: str, fallback: int) -> tuple[int, int]:
    partition, _, offset = key.partition(":")
    try:
        return int(partition), int(offset)
    except ValueError:
        return fallback, -1


class _Chain:
    """One audit partition's records, decoded and looked up by offset and by key."""

    def __init__(self, partition: int, records: Sequence[LoggedRecord], codec: Codec) -> None:
        self.partition = partition
        self.offsets = [r.offset for r in records]  # sorted
        self.at: dict[int, AuditRecord | str] = {r.offset: _audit(r, codec) for r in records}
        self.last_offset_of_key: dict[str, int] = {}
        for offset, audit in self.at.items():
            if isinstance(audit, AuditRecord):
                self.last_offset_of_key[audit.exchange_id] = offset
        self.covered_to = -1  # the newest checkpoint's offset: what a signature covers

    def check(self, signed: Sequence[Checkpoint], expired_head_ok: bool) -> CheckpointCheck:
        """Every checkpoint's head matched, then every pair of successive ones linked; first failure."""
        ordered = sorted(signed, key=lambda c: (c.offset, c.signed_at))
        kept = [c for c in ordered if not (expired_head_ok and self.offsets and c.offset < self.offsets[0])]
        counts = _Counts(expired=len(ordered) - len(kept))
        self.covered_to = kept[-1].offset if kept else -1
        last: Checkpoint | None = None
        for checkpoint in kept:
            newest = checkpoint.offset == self.covered_to
            failure, excused = self._matches(checkpoint, newest)
            if failure is None and last is not None:
                failure = self._walk(last, checkpoint)
            if failure is not None:
                return self._result(counts, last, failure)
            counts = dataclasses.replace(
                counts, verified=counts.verified + (not excused), excused=counts.excused + excused
            )
            last = checkpoint
        return self._result(counts, last, None)

    def _result(
        self, counts: _Counts, last: Checkpoint | None, failure: CheckpointFailure | None
    ) -> CheckpointCheck:
        after = -1 if last is None else last.offset
        unsigned = len(self.offsets) - bisect.bisect_right(self.offsets, after)
        return CheckpointCheck(
            self.partition, counts.verified, counts.expired, unsigned, last, failure, counts.excused
        )

    def _failure(
        self, offset: int, exchange: str | None, problem: CheckpointProblem, detail: str
    ) -> CheckpointFailure:
        return CheckpointFailure(self.partition, offset, exchange, problem, detail)

    def _matches(self, checkpoint: Checkpoint, newest: bool) -> tuple[CheckpointFailure | None, bool]:
        """(None, False) when the record at the signed offset is the signed one; (None, True) excused."""
        found = self.at.get(checkpoint.offset)
        signed = _signed(checkpoint)
        if isinstance(found, str):
            failure = self._failure(
                checkpoint.offset, None, CheckpointProblem.CHANGED, f"{found}, but {signed}"
            )
            return failure, False
        if found is not None:
            if (found.exchange_id, found.hash) == (checkpoint.exchange_id, checkpoint.hash) and is_intact(
                found
            ):
                return None, False
            detail = f"{signed}; the record there is exchange {found.exchange_id} with hash {found.hash}"
            if found.hash == checkpoint.hash and not is_intact(found):
                detail = f"{signed}; the record there no longer matches that hash"
            return self._failure(
                checkpoint.offset, found.exchange_id, CheckpointProblem.CHANGED, detail
            ), False
        if not newest and self._superseded_under_signature(checkpoint.exchange_id, checkpoint.offset + 1):
            return None, True
        return self._gone(checkpoint, newest), False

    def _gone(self, checkpoint: Checkpoint, newest: bool) -> CheckpointFailure:
        """Why the signed record missing is not one compaction removed."""
        if not self.offsets:
            where = "the partition is empty"
        elif checkpoint.offset < self.offsets[0]:
            where = f"the partition now starts at offset {self.offsets[0]}"
        elif checkpoint.offset > self.offsets[-1]:
            where = f"the partition now ends at offset {self.offsets[-1]}"
        else:
            where = "no record is at that offset"
        again = self.last_offset_of_key.get(checkpoint.exchange_id, -1)
        if newest and again > checkpoint.offset:
            where += (
                f" (exchange {checkpoint.exchange_id} is recorded again at offset {again}, but the newest"
                " checkpoint must name a record still there: its copy is signed by nobody yet)"
            )
        elif again > checkpoint.offset:
            where += (
                f" (exchange {checkpoint.exchange_id} is recorded again at offset {again}, after the newest"
                f" checkpoint at offset {self.covered_to}: no signature covers that copy)"
            )
        detail = f"{_signed(checkpoint)}, but {where}"
        return self._failure(checkpoint.offset, checkpoint.exchange_id, CheckpointProblem.MISSING, detail)

    def _walk(self, earlier: Checkpoint, later: Checkpoint) -> CheckpointFailure | None:
        """None when the chain from ``earlier``'s head, record by record, reaches ``later``'s head."""
        head, before = earlier.head, earlier.offset
        start = bisect.bisect_right(self.offsets, earlier.offset)
        stop = bisect.bisect_right(self.offsets, later.offset)
        for offset in self.offsets[start:stop]:
            audit = self.at[offset]
            if isinstance(audit, str):
                return self._failure(
                    offset, None, CheckpointProblem.UNLINKED, f"{audit}, {_between(earlier, later)}"
                )
            if not is_intact(audit):
                detail = f"its fields no longer match its hash, {_between(earlier, later)}"
                return self._failure(offset, audit.exchange_id, CheckpointProblem.UNLINKED, detail)
            if audit.prev_hash != head.hash and not self._compacted(audit, offset):
                detail = f"it does not chain from the record at offset {before}, {_between(earlier, later)}"
                return self._failure(offset, audit.exchange_id, CheckpointProblem.UNLINKED, detail)
            head, before = ChainHead(audit.exchange_id, audit.hash), offset
        return None

    def _compacted(self, audit: AuditRecord, offset: int) -> bool:
        # Its predecessor may be gone only because a newer record of the same exchange superseded it,
        # at or after this one, and a signature covers that newer record.
        previous = audit.prev_exchange_id
        return previous is not None and self._superseded_under_signature(previous, offset)

    def _superseded_under_signature(self, exchange: str, at_or_after: int) -> bool:
        """Whether ``exchange``'s newest record lies in ``[at_or_after, newest checkpoint]``."""
        return at_or_after <= self.last_offset_of_key.get(exchange, -1) <= self.covered_to


@dataclass(frozen=True, slots=True)
class _Counts:
    verified: int = 0
    excused: int = 0
    expired: int = 0


def _audit(record: LoggedRecord, codec: Codec) -> AuditRecord | str:
    if record.value is None:
        return "a tombstone: a deletion of this exchange's audit record"
    try:
        audit = codec.decode_audit(record.value)
    except CodecError as exc:
        return f"not an audit record ({exc.code})"
    if record.key != audit.exchange_id.encode("utf-8"):
        return f"a record whose key is not its exchange id ({audit.exchange_id})"
    return audit


def _signed(checkpoint: Checkpoint) -> str:
    return (
        f"offset {checkpoint.offset} signed at {checkpoint.signed_at.isoformat()}"
        f" with key {checkpoint.key_id} as exchange {checkpoint.exchange_id} with hash {checkpoint.hash}"
    )


def _between(earlier: Checkpoint, later: Checkpoint) -> str:
    return (
        f"so the chain from the head signed at offset {earlier.offset}"
        f" does not reach the head signed at offset {later.offset}"
    )
