"""Archives of audit records about to expire, and their offline check. Pure: files are bytes here.

Retention deletes the oldest records of each partition first (whole segments, by the audit records'
own timestamps: when the audit logged them), so an archive ``before D`` holds, per partition, the
records from the partition's first up to the last one logged before D, extended to the first signed
head at or after it, so that a signed checkpoint covers every archived record when one exists yet.
Where compaction removed an archived signed head or the predecessor of an archived record (an
UNANSWERED record superseded by its late answer), the archive is extended further, to a signed head
at or after the record that superseded it: the archive alone then shows that a signature covers
that record, and needs no word from outside (the manifest is not signed). It is three files:

- ``audit-records.jsonl``: one JSON object per record, in partition and offset order: ``partition``,
  ``offset``, ``logged_at``, ``key`` and ``record``, every field of the audit record (times as ISO 8601
  to the millisecond, which is what the hash covers), so the chain can be recomputed from the file
  alone (``audit.chain``); bytes that are no audit record are kept as ``value_base64``.
- ``checkpoints.jsonl``: the signed checkpoints of archived heads, every field (signature in base64).
- ``manifest.json``: what was archived (topic, ``before``, when), per partition the record count, the
  first and last offsets, the hash the first record chains from (an earlier archive's last) and the
  exchange ids recorded again later (compaction may remove their archived records' predecessors), and
  the SHA-256 and line count of each file.

``check_archive`` checks the digests and the counts, each partition's chain within the archive
(``verify_log``), and, given public keys, every checkpoint's signature, that it matches its record,
and that every partition ends at a signed head: with keys, an archive verifies only when a signature
covers every record in it (one written before a checkpoint covered its last records does not; archive
again once one does). The manifest's ``superseded`` ids may excuse a gap in the plain chain check
only, never a signed head.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dancu_bus.audit.checkpoints import (
    Checkpoint,
    CheckpointCheck,
    CheckpointCodec,
    check_checkpoints,
    checkpoint_key,
)
from dancu_bus.audit.verify import LoggedRecord, PartitionCheck, verify_log
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import CodecError
from dancu_bus.timestamps import aware, from_epoch_ms, to_epoch_ms

__all__ = [
    "CHECKPOINTS_FILE",
    "MANIFEST_FILE",
    "RECORDS_FILE",
    "ArchiveCheck",
    "ArchivedRecord",
    "build_archive",
    "check_archive",
]

RECORDS_FILE = "audit-records.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"
MANIFEST_FILE = "manifest.json"
FORMAT = "dancu-bus audit archive v1"
_TIMES = frozenset({"received_at", "answered_at"})
_LISTS = frozenset({"fields_disclosed", "criteria"})
_OPTIONAL_TIMES = frozenset({"hidden_until"})
# Fields added to the audit record after archives were first written: a line without them is whole.
_ADDED_LATER = frozenset({"hidden_until", "hiding_legal_basis"})
_AUDIT_FIELDS = tuple(f.name for f in dataclasses.fields(AuditRecord))
_CHECKPOINT_FIELDS = tuple(f.name for f in dataclasses.fields(Checkpoint))


class ArchivedRecord(LoggedRecord, Protocol):
    """A record as read back from the audit or the checkpoint topic, with its timestamp."""

    @property
    def timestamp_ms(self) -> int:
        """When it was written (the audit topic keeps its writer's time)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """A record rebuilt from an archive, as ``verify_log`` and ``check_checkpoints`` read records."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def build_archive(
    audit: Sequence[ArchivedRecord],
    checkpoints: Sequence[ArchivedRecord],
    codec: Codec,
    *,
    topic: str,
    before: datetime,
    now: datetime,
) -> dict[str, bytes]:
    """The archive's files (name → bytes) of ``topic``'s records logged before ``before``; empty if none.

    ``checkpoints`` as read before ``audit``; ``now`` is when the archive is made.
    """
    signed = _signed_heads(checkpoints, CheckpointCodec(codec.schemas))
    records_lines: list[str] = []
    checkpoint_lines: list[str] = []
    partitions: dict[str, Any] = {}
    for partition, records in sorted(_by_partition(audit).items()):
        kept = _kept(records, to_epoch_ms(aware(before)), signed.get(partition, {}), codec)
        if not kept:
            continue
        lines = [_record_line(r, codec) for r in kept]
        heads = [
            line
            for offset, line in sorted(signed.get(partition, {}).items())
            if kept[0].offset <= offset <= kept[-1].offset
        ]
        records_lines += [_json(line) for line in lines]
        checkpoint_lines += [_json(line) for line in heads]
        partitions[str(partition)] = _partition_manifest(lines, records, heads)
    if not records_lines:
        return {}
    files = {RECORDS_FILE: _jsonl(records_lines), CHECKPOINTS_FILE: _jsonl(checkpoint_lines)}
    manifest = {
        "format": FORMAT,
        "topic": topic,
        "before": _iso(before),
        "created_at": _iso(now),
        "partitions": partitions,
        "files": {name: _digest(data) for name, data in files.items()},
    }
    return {**files, MANIFEST_FILE: (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()}


def _by_partition(records: Iterable[ArchivedRecord]) -> dict[int, list[ArchivedRecord]]:
    partitions: dict[int, list[ArchivedRecord]] = {}
    for record in records:
        partitions.setdefault(record.partition, []).append(record)
    return {p: sorted(found, key=lambda r: r.offset) for p, found in partitions.items()}


def _kept(
    records: Sequence[ArchivedRecord], before_ms: int, heads: Mapping[int, dict[str, Any]], codec: Codec
) -> list[ArchivedRecord]:
    """The partition's records up to the last logged before ``before_ms``, then up to a signed head.

    Then on, while a signed head or a link in it is gone, to a signed head covering what superseded it.
    """
    cut = next((i for i, r in enumerate(records) if r.timestamp_ms >= before_ms), len(records))
    if cut == 0:
        return []
    decoded = [_decoded(r, codec) for r in records]
    last_of = {a.exchange_id: r.offset for r, a in zip(records, decoded, strict=True) if a is not None}
    end, covering = records[cut - 1].offset, -1
    while covering < end:
        covering = min((offset for offset in heads if offset >= end), default=end)
        stop = next((i for i, r in enumerate(records) if r.offset > covering), len(records))
        end = max(
            covering, _needed(records[:stop], decoded[:stop], heads=heads, covering=covering, last_of=last_of)
        )
    return list(records[:stop])


def _decoded(record: ArchivedRecord, codec: Codec) -> AuditRecord | None:
    try:
        return codec.decode_audit(record.value)
    except CodecError:
        return None


def _needed(
    records: Sequence[ArchivedRecord],
    decoded: Sequence[AuditRecord | None],
    *,
    heads: Mapping[int, dict[str, Any]],
    covering: int,
    last_of: Mapping[str, int],
) -> int:
    """The newest record superseding a signed head (to ``covering``) or a predecessor that is gone."""
    present = {r.offset for r in records}
    gone = [
        str(line["exchange_id"])
        for offset, line in heads.items()
        if records[0].offset <= offset <= covering and offset not in present
    ]
    for previous, audit in itertools.pairwise(decoded):
        if (
            audit is not None
            and audit.prev_exchange_id is not None
            and (previous is None or previous.hash != audit.prev_hash)
        ):
            gone.append(audit.prev_exchange_id)
    return max((last_of.get(exchange, -1) for exchange in gone), default=-1)


def _signed_heads(
    records: Iterable[ArchivedRecord], codec: CheckpointCodec
) -> dict[int, dict[int, dict[str, Any]]]:
    """Each partition's checkpoints as archive lines, by the offset they sign; unreadable ones left out."""
    heads: dict[int, dict[int, dict[str, Any]]] = {}
    for record in records:
        try:
            checkpoint = codec.decode(record.value)
        except CodecError:
            continue  # `audit verify --public-key` names it on the live topic
        heads.setdefault(checkpoint.partition, {})[checkpoint.offset] = _checkpoint_line(checkpoint)
    return heads


def _partition_manifest(
    lines: Sequence[dict[str, Any]], topic: Sequence[ArchivedRecord], heads: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    first, last = lines[0], lines[-1]
    previous = {line["record"]["prev_exchange_id"] for line in lines if "record" in line}
    later = {(r.key or b"").decode("utf-8", errors="replace") for r in topic if r.offset > last["offset"]}
    chains_from = first["record"]["prev_hash"] if "record" in first else None
    return {
        "records": len(lines),
        "first_offset": first["offset"],
        "last_offset": last["offset"],
        "chains_from": chains_from,
        "checkpoints": len(heads),
        "last_signed_offset": heads[-1]["offset"] if heads else None,
        "superseded": sorted(e for e in previous & later if e is not None),
    }


def _record_line(record: ArchivedRecord, codec: Codec) -> dict[str, Any]:
    line: dict[str, Any] = {
        "partition": record.partition,
        "offset": record.offset,
        "logged_at": _iso(from_epoch_ms(record.timestamp_ms)),
        "key": None if record.key is None else record.key.decode("utf-8", errors="replace"),
    }
    try:
        audit = codec.decode_audit(record.value)
    except CodecError:
        value = record.value
        return {**line, "value_base64": None if value is None else base64.b64encode(value).decode()}
    return {**line, "record": _record_fields(audit)}


def _record_fields(audit: AuditRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in _AUDIT_FIELDS:
        value = getattr(audit, name)
        if name in _TIMES or (name in _OPTIONAL_TIMES and value is not None):
            fields[name] = _iso(value)
        else:
            fields[name] = list(value) if name in _LISTS else value
    return fields


def _checkpoint_line(checkpoint: Checkpoint) -> dict[str, Any]:
    fields = {name: getattr(checkpoint, name) for name in _CHECKPOINT_FIELDS}
    fields["signed_at"] = _iso(checkpoint.signed_at)
    fields["signature"] = base64.b64encode(checkpoint.signature).decode()
    return fields


def _iso(moment: datetime) -> str:
    return aware(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(line: Mapping[str, Any]) -> str:
    return json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _jsonl(lines: Sequence[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def _digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n")}


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """An archive's check: what is wrong with its files, each partition's chain and checkpoints."""

    problems: tuple[str, ...]
    chains: tuple[PartitionCheck, ...]
    checkpoints: tuple[CheckpointCheck, ...] | None  # None: no public key given
    manifest: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the files, every chain and (when checked) every checkpoint hold, every record signed."""
        signed = self.checkpoints is None or all(
            c.ok and c.last is not None and c.unsigned == 0 for c in self.checkpoints
        )
        return not self.problems and all(c.finding is None for c in self.chains) and signed


def check_archive(
    files: Mapping[str, bytes], codec: Codec, keys: Mapping[str, Ed25519PublicKey] | None
) -> ArchiveCheck:
    """Check an archive's files (name → bytes) offline; ``keys`` also checks its checkpoints."""
    manifest, problems = _manifest(files)
    if manifest is None:
        return ArchiveCheck(tuple(problems), (), None, {})
    try:
        records = _parsed(files, RECORDS_FILE, lambda line: _entry(line, codec))
        checkpoints = CheckpointCodec(codec.schemas)
        heads = _parsed(files, CHECKPOINTS_FILE, lambda line: _stored(line, checkpoints))
    except _BadLine as exc:
        return ArchiveCheck((*problems, str(exc)), (), None, manifest)
    problems += _counts(manifest, records)
    superseded = {e for p in manifest.get("partitions", {}).values() for e in p.get("superseded", [])}
    chains = verify_log(records, codec, expired_head_ok=True, superseded=superseded)
    signed = None if keys is None else check_checkpoints(records, heads, codec, keys, expired_head_ok=True)
    return ArchiveCheck(tuple(problems), tuple(chains), None if signed is None else tuple(signed), manifest)


def _manifest(files: Mapping[str, bytes]) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest, and every file that is missing or does not match its digest."""
    if MANIFEST_FILE not in files:
        return None, [f"no {MANIFEST_FILE}: not an archive"]
    try:
        manifest = json.loads(files[MANIFEST_FILE])
    except ValueError as exc:
        return None, [f"{MANIFEST_FILE} is not JSON: {exc}"]
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None, [f"{MANIFEST_FILE} is not a manifest of a {FORMAT}"]
    problems = []
    for name in (RECORDS_FILE, CHECKPOINTS_FILE):
        if name not in files:
            problems.append(f"{name} is missing")
        elif _digest(files[name]) != manifest.get("files", {}).get(name):
            problems.append(
                f"{name} does not match the SHA-256 and line count of the manifest: it was changed"
            )
    return (manifest if all(n in files for n in (RECORDS_FILE, CHECKPOINTS_FILE)) else None), problems


class _BadLine(ValueError):
    """A line of an archive file that is not what it should be: which file, which line, why."""


def _parsed(
    files: Mapping[str, bytes], name: str, parse: Callable[[Mapping[str, Any]], _Entry]
) -> list[_Entry]:
    """Every line of the file ``name`` parsed, or _BadLine naming the file, the line number and the cause."""
    try:
        text = files[name].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(f"{name} is not UTF-8 text (byte {exc.start})") from exc
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
            if not isinstance(parsed, dict):
                raise TypeError("not a JSON object")
            entries.append(parse(parsed))
        except KeyError as exc:
            raise _BadLine(f"{name} line {number}: the field {exc.args[0]!r} is missing") from exc
        except (ValueError, TypeError, CodecError, binascii.Error) as exc:
            raise _BadLine(f"{name} line {number} is not what it should be: {exc}") from exc
    return entries


def _entry(line: Mapping[str, Any], codec: Codec) -> _Entry:
    key = None if line["key"] is None else str(line["key"]).encode("utf-8")
    if "record" not in line:
        raw = line.get("value_base64")
        return _Entry(
            int(line["partition"]), int(line["offset"]), key, None if raw is None else base64.b64decode(raw)
        )
    fields = dict(line["record"])
    if not set(_AUDIT_FIELDS) - _ADDED_LATER <= set(fields) <= set(_AUDIT_FIELDS):
        raise ValueError(_other_fields("its record", fields, _AUDIT_FIELDS))
    for name in _TIMES:
        fields[name] = datetime.fromisoformat(fields[name])
    for name in _OPTIONAL_TIMES:
        if fields.get(name) is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    for name in _LISTS:
        fields[name] = tuple(fields[name])
    value = codec.encode_audit(AuditRecord(**fields))
    return _Entry(int(line["partition"]), int(line["offset"]), key, value)


def _stored(line: Mapping[str, Any], codec: CheckpointCodec) -> _Entry:
    fields = dict(line)
    if set(fields) != set(_CHECKPOINT_FIELDS):
        raise ValueError(_other_fields("the checkpoint", fields, _CHECKPOINT_FIELDS))
    fields["signed_at"] = datetime.fromisoformat(fields["signed_at"])
    fields["signature"] = base64.b64decode(fields["signature"])
    checkpoint = Checkpoint(**fields)
    key = checkpoint_key(checkpoint.partition, checkpoint.offset)
    return _Entry(checkpoint.partition, 0, key, codec.encode(checkpoint))


def _other_fields(what: str, fields: Mapping[str, Any], expected: Sequence[str]) -> str:
    missing, extra = sorted(set(expected) - set(fields)), sorted(set(fields) - set(expected))
    said = []
    if missing:
        said.append(f"lacks the field(s) {', '.join(missing)}")
    if extra:
        said.append(f"has unknown field(s) {', '.join(extra)}")
    return f"{what} {' and '.join(said)}"


def _counts(manifest: Mapping[str, Any], records: Sequence[_Entry]) -> list[str]:
    """Each partition's count and first and last offsets, as the manifest states them."""
    found: dict[str, list[int]] = {}
    for record in records:
        found.setdefault(str(record.partition), []).append(record.offset)
    stated = manifest.get("partitions", {})
    problems = []
    for partition in sorted(set(found) | set(stated), key=int):
        offsets, expected = found.get(partition, []), stated.get(partition, {})
        have = {
            "records": len(offsets),
            "first_offset": min(offsets, default=None),
            "last_offset": max(offsets, default=None),
        }
        if any(expected.get(k) != v for k, v in have.items()):
            problems.append(
                f"partition {partition}: the archive holds {have}, the manifest states other counts"
            )
    return problems
