"""The audit's signing key files, and when the audit consumer writes a checkpoint of a partition's head."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from prometheus_client import CollectorRegistry

from dancu_bus.audit import AuditHandler, AuditLimits, AuditOutputs
from dancu_bus.audit.chain import START, seal
from dancu_bus.audit.checkpointing import Checkpointer
from dancu_bus.audit.checkpoints import CheckpointCodec, checkpoint_key, signature_problem
from dancu_bus.audit.signing import SigningKey, new_key_pair, read_public_keys, read_signing_key
from dancu_bus.errors import ConfigError
from dancu_bus.metrics import AuditMetrics
from dancu_bus.secret_files import write_private
from dancu_bus.transport import Outgoing, TopicPartition
from tests.unit import samples
from tests.unit.test_audit_handler import BANK, CODEC, NAMES, audit_tail, exchange_of, request, response, rid

CHECKPOINTS = CheckpointCodec(CODEC.schemas)
NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def key_files(folder: Path) -> tuple[Path, Path, str]:
    """A new key pair written as `audit keygen` writes it: private file, public file, key id."""
    pair = new_key_pair()
    private, public = (
        folder / f"checkpoint-{pair.key_id}.key.pem",
        folder / f"checkpoint-{pair.key_id}.pub.pem",
    )
    write_private(private, pair.private_pem)
    public.write_bytes(pair.public_pem)
    return private, public, pair.key_id


def test_a_generated_key_reads_back_with_the_id_of_its_public_key(tmp_path: Path) -> None:
    """The private key file and the public key file name the same key id."""
    private, public, key_id = key_files(tmp_path)
    assert read_signing_key(private).key_id == key_id
    assert list(read_public_keys(public)) == [key_id]


def test_a_folder_of_public_keys_holds_every_rotated_key(tmp_path: Path) -> None:
    """Rotation: a folder with the old and the new public key gives both key ids."""
    public = tmp_path / "public"
    public.mkdir()
    ids = set()
    for _ in range(2):
        _, pub, key_id = key_files(tmp_path)
        pub.rename(public / pub.name)
        ids.add(key_id)
    assert set(read_public_keys(public)) == ids


def rsa_pem() -> bytes:
    """An RSA private key: a key, but not the kind checkpoints are signed with."""
    key = generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@pytest.mark.parametrize(
    ("content", "mode", "reason"),
    [
        (None, 0o600, "No such file"),
        (b"not a key", 0o600, "is not an unencrypted PEM private key"),
        (b"RSA", 0o600, "is a RSAPrivateKey, not an Ed25519 key"),
        (b"ED25519", 0o644, "may be read by others"),
    ],
)
def test_a_signing_key_that_cannot_be_used_is_one_line_naming_the_file(
    tmp_path: Path, content: bytes | None, mode: int, reason: str
) -> None:
    """Missing, unreadable as a key, of the wrong type, or readable by others: ConfigError naming the file."""
    path = tmp_path / "signing.pem"
    if content is not None:
        data = {b"RSA": rsa_pem(), b"ED25519": new_key_pair().private_pem}.get(content, content)
        path.write_bytes(data)
        os.chmod(path, mode)
    with pytest.raises(ConfigError) as raised:
        read_signing_key(path)
    message = str(raised.value)
    assert str(path) in message and reason in message and "\n" not in message


def test_a_private_key_given_as_the_public_one_is_refused(tmp_path: Path) -> None:
    """Inspectors get public keys only: a private key named as one, or hidden as a .pub.pem, is named."""
    private, _, _ = key_files(tmp_path)
    with pytest.raises(ConfigError, match="is a private key"):
        read_public_keys(private)
    disguised = tmp_path / "other" / "checkpoint-x.pub.pem"
    disguised.parent.mkdir()
    disguised.write_bytes(private.read_bytes())
    with pytest.raises(ConfigError, match="is a private key"):
        read_public_keys(disguised.parent)
    assert private.exists()


def test_keygens_own_folder_gives_its_public_keys_only(tmp_path: Path) -> None:
    """`--public-key DIR` on keygen's folder reads the .pub.pem files, not the .key.pem beside them."""
    ids = {key_files(tmp_path)[2] for _ in range(2)}
    (tmp_path / "README.txt").write_text("not a key")
    assert set(read_public_keys(tmp_path)) == ids


def test_a_folder_without_public_keys_is_named(tmp_path: Path) -> None:
    """A folder holding only a private key has no *.pub.pem: the message says which files it wants."""
    private, public, _ = key_files(tmp_path)
    public.unlink()
    with pytest.raises(ConfigError, match=r"no \*\.pub\.pem public key in"):
        read_public_keys(tmp_path)
    assert private.exists()


def signer(tmp_path: Path, interval_s: float = 60.0) -> Checkpointer:
    """A checkpointer with a fresh key (its public key in ``tmp_path``)."""
    private, _, _ = key_files(tmp_path)
    key: SigningKey = read_signing_key(private)
    return Checkpointer(key, interval_s, NAMES.audit_checkpoints, CHECKPOINTS)


def public_keys(folder: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys written into ``folder``."""
    return read_public_keys(next(folder.glob("*.pub.pem")))


def test_a_head_is_signed_once_per_interval_and_only_when_it_moved(tmp_path: Path) -> None:
    """First head at once; the same head never again; a moved head only after the interval."""
    checkpoints = signer(tmp_path)
    record = seal(samples.AUDIT, START)
    checkpoints.committed(BANK, 10, record)
    (first,) = checkpoints.due(NOW)
    assert (first.topic, first.partition, first.key) == (
        NAMES.audit_checkpoints,
        BANK,
        checkpoint_key(BANK, 10),
    )
    assert checkpoints.due(NOW + timedelta(minutes=5)) == []
    checkpoints.committed(BANK, 12, record)
    assert checkpoints.due(NOW + timedelta(seconds=59)) == []
    (moved,) = checkpoints.due(NOW + timedelta(seconds=61))
    assert CHECKPOINTS.decode(moved.value).offset == 12


def test_a_forgotten_partition_is_signed_again_once_taken_up(tmp_path: Path) -> None:
    """After a failed transaction (the worker forgets the partition) the head is signed again."""
    checkpoints = signer(tmp_path)
    checkpoints.committed(BANK, 10, seal(samples.AUDIT, START))
    assert len(checkpoints.due(NOW)) == 1
    checkpoints.forget({BANK})
    assert checkpoints.due(NOW) == []
    checkpoints.committed(BANK, 10, seal(samples.AUDIT, START))
    assert len(checkpoints.due(NOW)) == 1


def checkpoints_in(written: list[Outgoing]) -> list[Outgoing]:
    """The checkpoint records among what the handler wrote."""
    return [o for o in written if o.topic == NAMES.audit_checkpoints]


async def test_the_handler_signs_the_head_its_last_transaction_committed(tmp_path: Path) -> None:
    """Nothing is signed before a commit; after it, the next batch carries the head at its offset."""
    checkpoints, public = signer(tmp_path), public_keys(tmp_path)
    outputs = AuditOutputs(checkpoints=checkpoints)
    witness = AuditHandler(CODEC, NAMES, AuditMetrics(CollectorRegistry()), AuditLimits(), 6, outputs)
    witness.restore(BANK, [])
    witness.resume(BANK, None)
    first = [*await witness.handle([request(rid(1)), response(rid(1), exchange_of(10))])]
    assert checkpoints_in(first) == []
    (audit,) = [o for o in first if o.topic == NAMES.audit]
    witness.written(BANK, {TopicPartition(NAMES.audit, BANK): 41})
    (signed,) = checkpoints_in([*await witness.handle([])])
    checkpoint = CHECKPOINTS.decode(signed.value)
    record = CODEC.decode_audit(audit.value)
    assert (checkpoint.partition, checkpoint.offset, checkpoint.hash) == (BANK, 41, record.hash)
    assert (checkpoint.exchange_id, checkpoint.request_id) == (exchange_of(10), rid(1))
    assert signature_problem(checkpoint, public) is None
    assert checkpoints_in([*await witness.handle([])]) == []  # the head did not move


async def test_a_taken_over_partition_signs_the_tail_it_chains_from(tmp_path: Path) -> None:
    """The newest intact record found at take-over is the head to sign, at its offset."""
    witness = AuditHandler(
        CODEC,
        NAMES,
        AuditMetrics(CollectorRegistry()),
        AuditLimits(),
        6,
        AuditOutputs(checkpoints=signer(tmp_path)),
    )
    witness.restore(BANK, [])
    tail = seal(samples.AUDIT, START)
    assert witness.resume(BANK, audit_tail(7, CODEC.encode_audit(tail)))
    (signed,) = checkpoints_in([*await witness.handle([])])
    assert (CHECKPOINTS.decode(signed.value).offset, CHECKPOINTS.decode(signed.value).hash) == (7, tail.hash)
