"""Sealing the personal data of an answer to the asking agency's key, and opening it again (JWE).

The resolver seals every answer that carries personal data (``SEALED_OPERATIONS``): the disclosed
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

__all__ = ["CONTENT_TYPE", "open_sealed", "seal"]

# The JWE's "cty": what its plaintext is.
CONTENT_TYPE = "application/vnd.dancu.sealed-fields+avro"
_ALGORITHMS = ("ECDH-ES+A256KW", "RSA-OAEP-256", CONTENT_ENCRYPTION)


def seal(response: Response, key: AnswerKey, codec: Codec) -> Response:
    """``response`` with its disclosed values sealed to ``key``; unchanged when it discloses none."""
    lookup = response.lookup
    if lookup is None or not any(f.value is not None for f in lookup.fields):
        return response
    recipient = _recipient(key.jwk)
    header = {"alg": key_algorithm(recipient), "enc": CONTENT_ENCRYPTION, "kid": key.id, "cty": CONTENT_TYPE}
    plaintext = codec.encode_sealed_fields(response.exchange_id, lookup.fields)
    token = jwe.encrypt_compact(header, plaintext, recipient, algorithms=_ALGORITHMS)
    clear = tuple(_without_values(f) for f in lookup.fields)
    return replace(response, lookup=replace(lookup, fields=clear, sealed=Sealed(key.id, token)))


def open_sealed(response: Response, keys: PrivateKeys | None, codec: Codec) -> Response:
    """``response`` with its values opened by the key its ``key_id`` names; SealedAnswerError if not."""
    lookup = response.lookup
    if lookup is None or lookup.sealed is None:
        return response
    asked, kid = response.request_id, lookup.sealed.key_id
    if keys is None:
        raise SealedAnswerError(
            asked,
            f"it is sealed to answer key {kid!r} and no keys are configured: set DANCU_SDK__ANSWER_KEYS to"
            " the agency's private key file",
        )
    private = keys.get(kid)
    if private is None:
        held = ", ".join(keys.ids()) or "none"
        raise SealedAnswerError(
            asked,
            f"it is sealed to answer key {kid!r}, which {keys.source} does not hold (it holds {held}):"
            " give the file with that key (an older one after a rotation is kept for this)",
        )
    try:
        opened = jwe.decrypt_compact(lookup.sealed.jwe, private, algorithms=_ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise SealedAnswerError(
            asked, f"key {kid!r} of {keys.source} does not open it ({exc}): it was sealed to another key"
        ) from exc
    if opened.protected.get("kid") != kid:
        raise SealedAnswerError(
            asked, f"the JWE names key {opened.protected.get('kid')!r}, the answer {kid!r}"
        )
    try:
        exchange, fields = codec.decode_sealed_fields(opened.plaintext or b"")
    except CodecError as exc:
        raise SealedAnswerError(asked, f"the sealed part is not a SealedFields object: {exc}") from exc
    if exchange != response.exchange_id:
        raise SealedAnswerError(
            asked, f"the sealed part answers exchange {exchange}, not {response.exchange_id}: it was moved"
        )
    if [f.name for f in fields] != [f.name for f in lookup.fields]:
        raise SealedAnswerError(asked, "the sealed fields are not the fields the answer names")
    return replace(response, lookup=replace(lookup, fields=fields, sealed=None))


def _without_values(field: DisclosedField) -> DisclosedField:
    return replace(field, value=None, converted_from=None, alternatives=(), sealed=field.value is not None)


@lru_cache(maxsize=1024)
def _recipient(jwk: str) -> Key:
    # Parsing and checking a JWK costs more than the encryption; an agency's key is the same for days.
    return public_key(jwk)
