"""Sealing the personal data of an answer to the asking agency's key, and opening it again (JWE).

The resolver seals every answer of an operation marked ``sealed`` (``dancu_bus.operations``), which says
what its plaintext is (``Sealing``): a LOOKUP's disclosed fields, values included, become a
``vn.dancu.SealedFields`` single object, a SEARCH's candidates a ``vn.dancu.SealedCandidates``,
encrypted to the agency's current answer key (RFC 7516 compact serialization; ``keys`` chooses the
algorithm). What stays in clear is what the audit and an inspector need: field names, their source
and date, whether each was on record, the outcome, and the id of the key. The agency's SDK opens the
answer with its private key; the plaintext names the exchange, so a sealed part copied into another
response is refused.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Protocol

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import Key

from dancu_bus.codec import Codec
from dancu_bus.contracts import Response, Sealed
from dancu_bus.errors import CodecError, SealedAnswerError
from dancu_bus.keys import CONTENT_ENCRYPTION, AnswerKey, PrivateKeys, key_algorithm, public_key

__all__ = ["Sealing", "open_bytes", "open_sealed", "seal", "seal_bytes"]

_ALGORITHMS = ("ECDH-ES+A256KW", "RSA-OAEP-256", CONTENT_ENCRYPTION)
_REGISTRY = jwe.JWERegistry(algorithms=_ALGORITHMS)
# A dead letter's sealed original holds up to 64 KiB of value and some headers: more than the library's
# default bound of 64 KiB of ciphertext. Sealed parts are written by the platform, never by an agency.
_REGISTRY.max_ciphertext_length = 256 * 1024


def seal_bytes(plaintext: bytes, key_id: str, jwk: str, content_type: str) -> Sealed:
    """``plaintext`` encrypted to the public key ``jwk`` (id ``key_id``): a compact JWE naming both."""
    recipient = _recipient(jwk)
    header = {"alg": key_algorithm(recipient), "enc": CONTENT_ENCRYPTION, "kid": key_id, "cty": content_type}
    return Sealed(key_id, jwe.encrypt_compact(header, plaintext, recipient, registry=_REGISTRY))


def open_bytes(sealed: Sealed, keys: PrivateKeys, content_type: str) -> bytes:
    """The plaintext of ``sealed``, opened with the key its id names; ValueError saying why it cannot be."""
    kid = sealed.key_id
    private = keys.get(kid)
    if private is None:
        held = ", ".join(keys.ids()) or "none"
        raise ValueError(
            f"it is sealed to key {kid!r}, which {keys.source} does not hold (it holds {held}):"
            " give the file with that key (an older one after a rotation is kept for this)"
        )
    try:
        opened = jwe.decrypt_compact(sealed.jwe, private, registry=_REGISTRY)
    except (JoseError, ValueError) as exc:
        raise ValueError(
            f"key {kid!r} of {keys.source} does not open it ({exc}): it was sealed to another key, or damaged"
        ) from exc
    header = opened.protected
    if header.get("kid") != kid or header.get("cty") != content_type:
        raise ValueError(f"its JWE names key {header.get('kid')!r} and content {header.get('cty')!r}")
    return opened.plaintext or b""


class Sealing(Protocol):
    """How an operation seals the values of its answers and opens them again (``dancu_bus.operations``)."""

    @property
    def content_type(self) -> str:
        """The JWE's ``cty``: what the plaintext of its sealed part is."""

    def seal_values(self, result: Any, exchange_id: str, codec: Codec) -> tuple[bytes, Any] | None:
        """The plaintext to seal (naming ``exchange_id``) and the result without its values, or None."""

    def sealed_part(self, result: Any) -> Sealed | None:
        """The result's sealed part, if it has one."""

    def with_sealed(self, result: Any, sealed: Sealed) -> Any:
        """The result carrying ``sealed``."""

    def open_values(self, result: Any, plaintext: bytes, codec: Codec) -> tuple[str, Any]:
        """The exchange id the plaintext names and the result with its values; ValueError if they differ."""


def seal(response: Response, key: AnswerKey, codec: Codec, sealing: Sealing) -> Response:
    """``response`` with its values sealed to ``key`` as its operation says; unchanged when it has none."""
    split = (
        None if response.result is None else sealing.seal_values(response.result, response.exchange_id, codec)
    )
    if split is None:
        return response
    plaintext, clear = split
    sealed = seal_bytes(plaintext, key.id, key.jwk, sealing.content_type)
    return replace(response, result=sealing.with_sealed(clear, sealed))


def open_sealed(response: Response, keys: PrivateKeys | None, codec: Codec, sealing: Sealing) -> Response:
    """``response`` with its values opened by the key its ``key_id`` names; SealedAnswerError if not."""
    sealed = None if response.result is None else sealing.sealed_part(response.result)
    if sealed is None:
        return response
    asked = response.request_id
    if keys is None:
        raise SealedAnswerError(
            asked,
            f"it is sealed to answer key {sealed.key_id!r} and no keys are configured: set"
            " DANCU_SDK__ANSWER_KEYS to the agency's private key file",
        )
    try:
        plaintext = open_bytes(sealed, keys, sealing.content_type)
        exchange, opened = sealing.open_values(response.result, plaintext, codec)
    except ValueError as exc:
        raise SealedAnswerError(asked, str(exc)) from exc
    except CodecError as exc:
        raise SealedAnswerError(
            asked, f"the sealed part is not what {sealing.content_type} names: {exc}"
        ) from exc
    if exchange != response.exchange_id:
        raise SealedAnswerError(
            asked, f"the sealed part answers exchange {exchange}, not {response.exchange_id}: it was moved"
        )
    return replace(response, result=opened)


@lru_cache(maxsize=1024)
def _recipient(jwk: str) -> Key:
    # Parsing and checking a JWK costs more than the encryption; an agency's key is the same for days.
    return public_key(jwk)
