"""Dead-letter records: an unusable record's origin and the reason, and nothing its sender chose in clear.

A dead letter must always fit the broker, whatever the record it describes, and must not become a
copy of the personal data a hostile or careless sender put in it (a name in a header, an id as the
key). In clear it keeps the record's origin, the sizes and the value's SHA-256, the error code and
a description of it; the sender's own bytes and words (key up to 1 KiB, value up to 64 KiB, small
headers, the full error) are sealed to the platform operators' key, for replay, or dropped when no
operator key is configured. The dead letter's own key is the record's coordinates, not its key.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from dancu_bus.codec import Codec
from dancu_bus.contracts import DeadLetter, DeadLetterOriginal, Sealed
from dancu_bus.errors import CodecError
from dancu_bus.keys import PrivateKeys, PublicKey, read_public_key
from dancu_bus.sealing import open_bytes, seal_bytes
from dancu_bus.settings import DeadLetterSettings
from dancu_bus.timestamps import from_epoch_ms
from dancu_bus.transport.records import Incoming, Outgoing

__all__ = [
    "KEPT_KEY_BYTES",
    "KEPT_VALUE_BYTES",
    "ORIGINAL_CONTENT_TYPE",
    "DeadLetters",
    "describe",
    "open_original",
    "operator_key",
]

log = logging.getLogger(__name__)
KEPT_VALUE_BYTES = 64 * 1024
KEPT_KEY_BYTES = 1024
ORIGINAL_CONTENT_TYPE = "application/vnd.dancu.dead-letter-original+avro"
_KEPT_HEADER_BYTES = 256  # key and value of one header
_KEPT_HEADERS = 16
_KEPT_DETAIL = 2000
# What each code means, in the platform's words only: the failing service's own text may quote the
# record, so it is sealed with the original.
_MEANING = {
    "EMPTY": "the record has no value",
    "NOT_SINGLE_OBJECT": "the value is not an Avro single object (no C3 01 header)",
    "UNKNOWN_FINGERPRINT": "the value names a schema fingerprint the platform does not know",
    "WRONG_SCHEMA": "the value is a single object of another schema than the topic's",
    "BAD_BODY": "the value's bytes do not decode with the schema they name",
    "BAD_VALUE": "a decoded value is not one its type takes",
    "UNREADABLE_BATCH": "the record batch cannot be read (its codec or its bytes)",
    "UNKNOWN_AGENCY": "the record is on the request topic of no connected agency",
    "STORE_FAILED": "the population store failed for good while answering it",
    "HANDLER_FAILED": "answering it failed alone, in the platform's code",
}


def operator_key(settings: DeadLetterSettings) -> PublicKey | None:
    """The operators' key dead letters are sealed to, read from its file; None (and a warning) if unset."""
    if settings.operator_key is None:
        log.warning(
            "dead letters keep nothing their record's sender chose: set DANCU_DEAD_LETTERS__OPERATOR_KEY"
            " to the operators' public key to keep it sealed, for replay"
        )
        return None
    return read_public_key(settings.operator_key)


def describe(code: str) -> str:
    """The platform's description of a dead-letter code."""
    return _MEANING.get(code, "see error_code")


class DeadLetters:
    """Makes the dead letters of a service: sealed to ``operator_key``, or redacted when it is None."""

    def __init__(self, codec: Codec, operator_key: PublicKey | None, failed_by: str) -> None:
        self._codec = codec
        self._key = operator_key
        self._failed_by = failed_by

    def letter(self, record: Incoming, code: str, detail: str) -> DeadLetter:
        """The dead letter of ``record`` (or of the batch it stands in for)."""
        value, key, unreadable = record.value, record.key, record.unreadable
        first, last = (
            (unreadable.first_offset, unreadable.last_offset) if unreadable else (record.offset,) * 2
        )
        return DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=first,
            last_offset=last,
            timestamp=from_epoch_ms(record.timestamp_ms),
            original_key=None,
            original_value=None,
            value_size=-1 if value is None else len(value),
            value_sha256=None if value is None else hashlib.sha256(value).hexdigest(),
            headers=(),
            headers_dropped=len(record.headers),
            error_code=code,
            error=describe(code),
            failed_by=self._failed_by,
            failed_at=datetime.now(UTC),
            key_size=-1 if key is None else len(key),
            sealed=None if self._key is None else self._seal(record, detail),
        )

    def outgoing(
        self, topic: str, record: Incoming, code: str, detail: str, writer: int | None = None
    ) -> Outgoing:
        """The dead letter of ``record`` as a record of ``topic``, keyed by where the record was."""
        coordinates = f"{record.topic}/{record.partition}/{record.offset}".encode()
        value = self._codec.encode_dead_letter(self.letter(record, code, detail))
        return Outgoing(topic, coordinates, value, writer=writer)

    def _seal(self, record: Incoming, detail: str) -> Sealed:
        assert self._key is not None
        kept = tuple((k, v) for k, v in record.headers if _small(k, v))[:_KEPT_HEADERS]
        original = DeadLetterOriginal(
            key=None if record.key is None else record.key[:KEPT_KEY_BYTES],
            value=None if record.value is None else record.value[:KEPT_VALUE_BYTES],
            headers=kept,
            error=detail[:_KEPT_DETAIL],
        )
        plaintext = self._codec.encode_original(original)
        return seal_bytes(plaintext, self._key.id, self._key.jwk, ORIGINAL_CONTENT_TYPE)


def open_original(letter: DeadLetter, keys: PrivateKeys, codec: Codec) -> DeadLetterOriginal | None:
    """What the operators' key opens of ``letter``; None when it was redacted; ValueError if it cannot."""
    if letter.sealed is None:
        return None
    try:
        return codec.decode_original(open_bytes(letter.sealed, keys, ORIGINAL_CONTENT_TYPE))
    except CodecError as exc:
        raise ValueError(f"the sealed part is not a DeadLetterOriginal: {exc}") from exc


def _small(key: str, value: bytes | None) -> bool:
    return len(key.encode("utf-8", errors="surrogatepass")) + len(value or b"") <= _KEPT_HEADER_BYTES
