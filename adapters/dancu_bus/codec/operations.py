"""What the codec needs of an operation: its Avro branches and the mapping of its body and result.

The operations themselves live in ``dancu_bus.operations`` (one module each); the codec sees them only
through these protocols, so it stays below them and any set of operations can be given to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["OperationSet", "OperationWire"]


class OperationWire(Protocol):
    """One operation as the wire sees it."""

    @property
    def name(self) -> str:
        """The ``operation`` string of its requests, e.g. ``VERIFY``."""

    @property
    def body_schema(self) -> Mapping[str, Any]:
        """The Avro record of its request body: a branch of ``Request.body``."""

    @property
    def result_schema(self) -> Mapping[str, Any] | None:
        """Its result record, a branch of ``Response.result``; None when it has a field of its own."""

    @property
    def result_name(self) -> str:
        """The full Avro name of its result record, e.g. ``vn.dancu.VerifyResult``."""

    @property
    def result_field(self) -> str:
        """The ``Response`` field its result travels in: ``result``, or (VERIFY, LOOKUP) their own."""

    def owns_body(self, body: object) -> bool:
        """Whether ``body`` is a query of this operation."""

    def owns_result(self, result: object) -> bool:
        """Whether ``result`` is a result of this operation."""

    def body_record(self, body: Any) -> dict[str, Any]:
        """Its query as the Avro record of its body branch."""

    def body_from(self, record: Mapping[str, Any]) -> Any:
        """Its query from the Avro record of its body branch."""

    def result_record(self, result: Any) -> dict[str, Any]:
        """Its result as an Avro record."""

    def result_from(self, record: Mapping[str, Any]) -> Any:
        """Its result from an Avro record."""


class OperationSet(Protocol):
    """The operations a codec knows, in the order of their union branches."""

    def wires(self) -> Sequence[OperationWire]:
        """Every registered operation, in registration order (the order of the Avro unions)."""
