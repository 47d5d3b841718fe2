"""``dancu-bus audit keygen`` and ``audit verify --public-key``: the signing key, the checkpoints' check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.audit.checkpoints import CheckpointCheck, check_checkpoints
from dancu_bus.audit.signing import new_key_pair, read_public_keys
from dancu_bus.codec import Codec
from dancu_bus.errors import ConfigError
from dancu_bus.secret_files import write_private
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames

__all__ = [
    "add_keygen",
    "add_public_key_option",
    "describe_checkpoints",
    "public_keys",
    "read_checkpoints",
    "report_checkpoints",
]


def add_keygen(verbs: Any) -> None:
    """Add ``audit keygen``."""
    keygen = verbs.add_parser(
        "keygen",
        help="a new Ed25519 key to sign the audit partitions' heads, and its public key for inspectors",
    )
    keygen.add_argument("--out", type=Path, required=True, help="folder for the private and the public key")
    keygen.set_defaults(run=lambda args, _settings: run_keygen(args.out, sys.stdout))


def add_public_key_option(verify: argparse.ArgumentParser) -> None:
    """Add ``--public-key`` to ``audit verify``."""
    verify.add_argument(
        "--public-key",
        type=Path,
        help="also check the signed checkpoints with this public key (PEM), or every *.pub.pem of this"
        " folder, other files there are not read (keep the old public keys there after a rotation)",
    )


def run_keygen(out_dir: Path, out: TextIO) -> int:
    """Write ``checkpoint-<key id>.key.pem`` (mode 600) and ``checkpoint-<key id>.pub.pem``."""
    pair = new_key_pair()
    out_dir.mkdir(parents=True, exist_ok=True)
    private, public = (
        out_dir / f"checkpoint-{pair.key_id}.key.pem",
        out_dir / f"checkpoint-{pair.key_id}.pub.pem",
    )
    try:
        write_private(private, pair.private_pem)
    except OSError as exc:
        raise ConfigError(f"cannot write the private key {private}: {exc.strerror}") from exc
    public.write_bytes(pair.public_pem)
    print(f"key {pair.key_id}", file=out)
    print(
        f"private key (the audit consumer's DANCU_AUDIT__SIGNING_KEY_FILE; keep it secret): {private}",
        file=out,
    )
    print(
        f"public key (for inspectors' audit verify --public-key; keep it after a rotation): {public}",
        file=out,
    )
    return 0


def public_keys(args: argparse.Namespace) -> dict[str, Ed25519PublicKey] | None:
    """The public keys ``--public-key`` names, read before anything else; None without the option."""
    path: Path | None = getattr(args, "public_key", None)
    return None if path is None else read_public_keys(path)


def read_checkpoints(settings: Settings, timeout_s: float) -> list[TopicRecord]:
    """Every checkpoint: read before the audit topic, so every head they sign is in what is read next."""
    return read_to_end(settings.kafka, TopicNames(settings.kafka.topic_prefix).audit_checkpoints, timeout_s)


def report_checkpoints(
    audit: Sequence[TopicRecord],
    checkpoints: Sequence[TopicRecord],
    codec: Codec,
    keys: dict[str, Ed25519PublicKey],
    *,
    expired_head_ok: bool,
    out: TextIO,
) -> bool:
    """Check and print the checkpoints of every partition; True when one fails."""
    checks = check_checkpoints(audit, checkpoints, codec, keys, expired_head_ok=expired_head_ok)
    for check in checks:
        print(describe_checkpoints(check), file=out)
    broken = [c for c in checks if not c.ok]
    verified, excused = sum(c.verified for c in checks), sum(c.excused for c in checks)
    verdict = f"{len(broken)} broken" if broken else "every one verified"
    print(
        f"checkpoints: {len(checkpoints)} records, signed heads verified: {verified},"
        f" excused after compaction: {excused}: {verdict}",
        file=out,
    )
    return bool(broken)


def describe_checkpoints(check: CheckpointCheck) -> str:
    """One line per partition: its last verified signed head and what is not signed yet, or the failure."""
    failure = check.failure
    if failure is not None:
        return (
            f"partition {failure.partition}: checkpoint {failure.problem.value} at offset {failure.offset}"
            f" (exchange {failure.exchange_id}): {failure.detail}"
        )
    expired = f", {check.expired} of records retention removed" if check.expired else ""
    if check.excused:
        expired += (
            f", {check.excused} excused (records compaction removed, each superseded by a record a newer"
            " signed head covers)"
        )
    if check.last is None:
        return (
            f"partition {check.partition}: no signed head{expired}; {check.unsigned} records not signed yet"
        )
    last = check.last
    return (
        f"partition {check.partition}: signed heads verified: {check.verified}{expired}; the last at offset"
        f" {last.offset} (signed {last.signed_at.isoformat()} with key {last.key_id});"
        f" {check.unsigned} records after it not signed yet"
    )
