"""How the SDK reads the agency's response records: decoded, and their sealed values opened.

Answers that carry personal data arrive sealed to the agency's answer key (see ``dancu_bus.sealing``);
the reader opens them with the agency's private keys, so callers get values as if nothing were sealed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dancu_bus import tracing
from dancu_bus.codec import Codec
from dancu_bus.contracts import Response
from dancu_bus.keys import PrivateKeys
from dancu_bus.operations import SealedOperation, registry_of
from dancu_bus.sealing import open_sealed

__all__ = ["ResponseReader"]


class ResponseReader:
    """Response bytes → Response with its values opened; CodecError or SealedAnswerError otherwise."""

    def __init__(self, codec: Codec, answer_keys: Path | None) -> None:
        self._codec = codec
        self._operations = registry_of(codec)
        # Read once, when the client is made: a missing or readable-by-others key file fails at once.
        self._keys = PrivateKeys.from_file(answer_keys) if answer_keys is not None else None

    def read(self, data: bytes | None, headers: tracing.KafkaHeaders = ()) -> Response:
        """The response in ``data``, opened; with the trace id of its ``traceparent`` header, if any."""
        response = self._codec.decode_response(data)
        trace_id = tracing.trace_id_of(headers)
        if trace_id is not None:
            response = dataclasses.replace(response, trace_id=trace_id)
        operation = self._operations.for_result(response.result)
        if not isinstance(operation, SealedOperation):
            return response
        return open_sealed(response, self._keys, self._codec, operation)
