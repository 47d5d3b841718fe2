"""Answer keys: the public key an agency registers so that the personal data it is answered is sealed to it.

An agency registers a public JWK (RFC 7517) under a key id at onboarding step 10; a rotation adds a new
one and keeps the old ids, so answers sealed earlier still name the key that opens them. The platform
only ever holds the public half. The agency keeps its private keys in a JWK Set file readable by its
owner only (``PrivateKeys``); its SDK opens each answer with the key its ``kid`` names.

Accepted keys are EC on P-256, P-384 or P-521 (sealed with ECDH-ES+A256KW) and RSA of 2048 bits or
more (RSA-OAEP-256); content is always A256GCM. Pure apart from reading a key file.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dancu_bus.errors import ConfigError
from dancu_bus.secret_files import check_private_file

__all__ = [
    "CONTENT_ENCRYPTION",
    "KEY_ID",
    "AnswerKey",
    "PrivateKeys",
    "PublicKey",
    "generate_key_pair",
    "key_algorithm",
    "public_key",
    "read_public_key",
]

KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CONTENT_ENCRYPTION = "A256GCM"
_CURVES = frozenset({"P-256", "P-384", "P-521"})
_MIN_RSA_BITS = 2048
# JWK members only a private key has (RFC 7518 §6.2.2, §6.3.2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


class AnswerKey(BaseModel):
    """One registered public key of an agency: its id, the JWK, and when and under which document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="the key id (kid) every answer sealed to it names")
    jwk: str = Field(description="the public JWK, as JSON")
    registered_on: date
    document_ref: str = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _key_id(cls, value: str) -> str:
        if not KEY_ID.fullmatch(value):
            raise ValueError(f"key id {value!r}: use 1–64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("jwk")
    @classmethod
    def _public_jwk(cls, value: str) -> str:
        public_key(value)
        return value


def public_key(jwk: str | Mapping[str, Any]) -> Key:
    """The public key a JWK describes; ValueError naming what makes it unfit to seal answers to."""
    try:
        members: dict[str, Any] = json.loads(jwk) if isinstance(jwk, str) else dict(jwk)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the key is not JSON: {exc.msg} at {exc.pos}") from exc
    if not isinstance(members, dict):
        raise ValueError("the key is not a JWK object")
    held = sorted(_PRIVATE_MEMBERS & set(members))
    if held:
        raise ValueError(
            f"this is a private key (it has {', '.join(held)}): register only its public half"
            " (`dancu-bus agency keygen` writes both)"
        )
    key = _import(members)
    key_algorithm(key)  # refuses kinds and sizes answers are not sealed to
    return key


def key_algorithm(key: Key) -> Literal["ECDH-ES+A256KW", "RSA-OAEP-256"]:
    """The key-management algorithm answers sealed to ``key`` use; ValueError for an unfit key."""
    if isinstance(key, ECKey):
        curve = key.curve_name
        if curve not in _CURVES:
            raise ValueError(f"EC curve {curve} is not accepted: use {', '.join(sorted(_CURVES))}")
        return "ECDH-ES+A256KW"
    if isinstance(key, RSAKey):
        _check_rsa_size(key.dict_value["n"])
        return "RSA-OAEP-256"
    raise ValueError(f"key type {key.key_type} is not accepted: use EC (P-256, P-384, P-521) or RSA")


class PublicKey(NamedTuple):
    """A public key to seal to: its id and its JWK (JSON, with that kid)."""

    id: str
    jwk: str


def read_public_key(path: Path, key_id: str | None = None) -> PublicKey:
    """The public JWK in ``path`` under its kid (or ``key_id``, which must match one it has).

    ConfigError naming the file and what makes it unusable.
    """
    try:
        members = json.loads(path.read_text(encoding="utf-8"))
        key = public_key(members)
    except OSError as exc:
        raise ConfigError(f"cannot read the public key {path}: {exc.strerror}") from exc
    except ValueError as exc:  # JSON errors included
        raise ConfigError(f"the public key {path} cannot be used: {exc}") from exc
    kid = key_id or members.get("kid")
    if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
        raise ConfigError(
            f"the public key {path} has no usable kid: give its id (1–64 letters, digits, . _ -)"
        )
    if members.get("kid") not in (None, kid):
        raise ConfigError(f"key id {kid} is not the kid {members['kid']!r} in {path}")
    return PublicKey(kid, json.dumps({**key.as_dict(private=False), "kid": kid}, sort_keys=True))


class PrivateKeys:
    """An agency's private answer keys by id, from a JWK Set file only its owner may read."""

    def __init__(self, keys: Mapping[str, Key], source: str) -> None:
        self._keys = dict(keys)
        self.source = source

    @classmethod
    def from_file(cls, path: Path) -> PrivateKeys:
        """Read ``path`` (``{"keys": [...]}``, each with a ``kid``); ConfigError naming what is wrong."""
        try:
            check_private_file(path, "key file")
            document = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise ConfigError(f"answer keys {path}: {exc}") from exc
        return cls.from_jwks(document, str(path))

    @classmethod
    def from_jwks(cls, document: Any, source: str) -> PrivateKeys:
        """Keys from a parsed JWK Set; ConfigError naming the key that is wrong."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ConfigError(f'answer keys {source}: not a JWK Set ({{"keys": [...]}})')
        keys: dict[str, Key] = {}
        for number, members in enumerate(document["keys"], 1):
            kid = members.get("kid") if isinstance(members, dict) else None
            if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
                raise ConfigError(f"answer keys {source}: key {number} has no usable kid")
            try:
                key = _import(members)
                key_algorithm(key)
            except ValueError as exc:
                raise ConfigError(f"answer keys {source}: key {kid}: {exc}") from exc
            if not key.is_private:
                raise ConfigError(f"answer keys {source}: key {kid} is public: the file holds private keys")
            keys[kid] = key
        return cls(keys, source)

    def get(self, key_id: str) -> Key | None:
        """The private key with this id, or None."""
        return self._keys.get(key_id)

    def ids(self) -> tuple[str, ...]:
        """The ids of the keys held, sorted."""
        return tuple(sorted(self._keys))


def generate_key_pair(key_id: str) -> tuple[str, SecretStr]:
    """A new P-256 answer key: its public JWK (to register) and a JWK Set holding its private half."""
    if not KEY_ID.fullmatch(key_id):
        raise ConfigError(f"key id {key_id!r}: use 1–64 letters, digits, '.', '_' or '-'")
    key = ECKey.generate_key("P-256", parameters={"kid": key_id, "use": "enc"})
    public = json.dumps(key.as_dict(private=False), sort_keys=True)
    private = json.dumps(KeySet([key]).as_dict(private=True), sort_keys=True, indent=2)
    return public, SecretStr(private)


def _import(members: dict[str, Any]) -> Key:
    kty = members.get("kty")
    if kty not in ("EC", "RSA"):
        raise ValueError(f"key type {kty!r} is not accepted: use EC (P-256, P-384, P-521) or RSA")
    if kty == "RSA":
        _check_rsa_size(members.get("n"))  # before importing: the library only warns of short keys
    try:
        return ECKey.import_key(members) if kty == "EC" else RSAKey.import_key(members)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the {kty} key is malformed: {exc}") from exc


def _check_rsa_size(modulus: object) -> None:
    if not isinstance(modulus, str):
        raise ValueError("the RSA key is malformed: it has no modulus n")
    try:
        n = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except ValueError as exc:
        raise ValueError(f"the RSA key is malformed: n is not base64url ({exc})") from exc
    bits = int.from_bytes(n, "big").bit_length()
    if bits < _MIN_RSA_BITS:
        raise ValueError(f"an RSA key of {bits} bits is too short: use {_MIN_RSA_BITS} bits or more")
