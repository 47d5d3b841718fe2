"""The audit consumer's Ed25519 signing key and the inspectors' public keys, as PEM files.

The private key is read from a file only (``DANCU_AUDIT__SIGNING_KEY_FILE``; on Kubernetes a secret
mounted as a file, mode 0400), never from a topic, and must be its owner's only. Inspectors are given
the public keys: ``dancu-bus audit keygen`` writes ``checkpoint-<key id>.pub.pem`` beside the private
``checkpoint-<key id>.key.pem``, and a folder of every public key ever used verifies old checkpoints
after a rotation. Pure apart from reading and writing key files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from dancu_bus.audit.checkpoints import key_id_of
from dancu_bus.errors import ConfigError
from dancu_bus.secret_files import check_private_file

__all__ = ["KeyPair", "SigningKey", "new_key_pair", "read_public_keys", "read_signing_key"]

_MAKE_ONE = "make one with `dancu-bus audit keygen --out DIR`"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key checkpoints are signed with, and its key id."""

    private: Ed25519PrivateKey
    key_id: str


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A new signing key as PEM: the private half (keep it secret) and the public half (for inspectors)."""

    key_id: str
    private_pem: bytes
    public_pem: bytes


def new_key_pair() -> KeyPair:
    """A fresh Ed25519 key pair."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public_pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(key_id_of(private.public_key()), private_pem, public_pem)


def read_signing_key(path: Path) -> SigningKey:
    """The Ed25519 private key in ``path``; ConfigError naming the file when it cannot be one."""
    try:
        check_private_file(path, "audit signing key")
        data = path.read_bytes()
    except (ValueError, OSError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"the audit signing key {path}: {detail}; {_MAKE_ONE}") from exc
    try:
        private = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"the audit signing key {path} is not an unencrypted PEM private key; {_MAKE_ONE}"
        ) from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(
            f"the audit signing key {path} is a {type(private).__name__}, not an Ed25519 key; {_MAKE_ONE}"
        )
    return SigningKey(private, key_id_of(private.public_key()))


def read_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys in ``path`` (one PEM file, or every ``*.pub.pem`` of a folder), by key id.

    A folder's other files are not read: ``audit keygen``'s own folder, with its ``.key.pem``, works.
    """
    files = sorted(p for p in path.iterdir() if p.name.endswith(".pub.pem")) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"no *.pub.pem public key in {path}: give the files `dancu-bus audit keygen` wrote")
    keys: dict[str, Ed25519PublicKey] = {}
    for file in files:
        public = _public_key(file)
        keys[key_id_of(public)] = public
    return keys


def _public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the public key {path}: {exc.strerror}") from exc
    if b"PRIVATE KEY" in data:
        raise ConfigError(f"{path} is a private key: give inspectors only the .pub.pem files")
    try:
        public = load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{path} is not a PEM public key") from exc
    if not isinstance(public, Ed25519PublicKey):
        raise ConfigError(f"{path} is a {type(public).__name__}, not an Ed25519 public key")
    return public
