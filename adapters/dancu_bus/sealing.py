"""Sealing the personal data of an answer to the asking agency's key, and opening it again (JWE).

The resolver seals every answer of an operation marked ``sealed`` (``dancu_bus.operations``): the disclosed
fields, values included, become a ``vn.dancu.SealedFields`` single object encrypted to the agency's
current answer key (RFC 7516 compact serialization; ``keys`` chooses the algorithm). What stays in
clear is what the audit and an inspector need: field names, their source and date, whether each was on
record, the outcome, and the id of the key. The agency's SDK opens the answer with its private key;
the plaintext names the exchange, so a sealed part copied into another response is refused.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import Key

from dancu_bus.codec import Codec
from dancu_bus.contracts import DisclosedField, Response, Sealed
from dancu_bus.errors import CodecError, SealedAnswerError
from dancu_bus.keys import CONTENT_ENCRYPTION, AnswerKey, PrivateKeys, key_algorithm, public_key

__all__ = ["CONTENT_TYPE", "open_bytes", "open_sealed", "seal", "seal_bytes"]

# The JWE's "cty": what its plaintext is.
CONTENT_TYPE = "application/vnd.dancu.sealed-fields+avro"
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


def seal(response: Response, key: AnswerKey, codec: Codec) -> Response:
    """``response`` with its disclosed values sealed to ``key``; unchanged when it discloses none."""
    lookup = response.lookup
    if lookup is None or not any(f.value is not None for f in lookup.fields):
        return response
    plaintext = codec.encode_sealed_fields(response.exchange_id, lookup.fields)
    sealed = seal_bytes(plaintext, key.id, key.jwk, CONTENT_TYPE)
    clear = tuple(_without_values(f) for f in lookup.fields)
    return replace(response, result=replace(lookup, fields=clear, sealed=sealed))


def open_sealed(response: Response, keys: PrivateKeys | None, codec: Codec) -> Response:
    """``response`` with its values opened by the key its ``key_id`` names; SealedAnswerError if not."""
    lookup = response.lookup
    if lookup is None or lookup.sealed is None:
        return response
    asked = response.request_id
    if keys is None:
        raise SealedAnswerError(
            asked,
            f"it is sealed to answer key {lookup.sealed.key_id!r} and no keys are configured: set"
            " DANCU_SDK__ANSWER_KEYS to the agency's private key file",
        )
    try:
        plaintext = open_bytes(lookup.sealed, keys, CONTENT_TYPE)
        exchange, fields = codec.decode_sealed_fields(plaintext)
    except ValueError as exc:
        raise SealedAnswerError(asked, str(exc)) from exc
    except CodecError as exc:
        raise SealedAnswerError(asked, f"the sealed part is not a SealedFields object: {exc}") from exc
    if exchange != response.exchange_id:
        raise SealedAnswerError(
            asked, f"the sealed part answers exchange {exchange}, not {response.exchange_id}: it was moved"
        )
    if [f.name for f in fields] != [f.name for f in lookup.fields]:
        raise SealedAnswerError(asked, "the sealed fields are not the fields the answer names")
    return replace(response, result=replace(lookup, fields=fields, sealed=None))


def _without_values(field: DisclosedField) -> DisclosedField:
    return replace(field, value=None, converted_from=None, alternatives=(), sealed=field.value is not None)


@lru_cache(maxsize=1024)
def _recipient(jwk: str) -> Key:
    # Parsing and checking a JWK costs more than the encryption; an agency's key is the same for days.
    return public_key(jwk)
