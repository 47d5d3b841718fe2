"""The registry of operations: what every part dispatches through, and the only list of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dancu_bus.codec import Codec
from dancu_bus.errors import UnknownOperation
from dancu_bus.operations.base import Operation

__all__ = ["AnyOperation", "Operations", "registry_of"]

AnyOperation = Operation[Any, Any]


class Operations:
    """Registered operations by name and by query type, in the order of their Avro union branches.

    An operation it does not hold is an explicit error or None to every caller: never another one.
    """

    def __init__(self, operations: Iterable[AnyOperation]) -> None:
        self._ordered = tuple(operations)
        self._by_name = {op.name: op for op in self._ordered}
        if len(self._by_name) != len(self._ordered):
            raise ValueError(f"operations registered twice: {[op.name for op in self._ordered]}")
        types = [op.query_type for op in self._ordered]
        if len(set(types)) != len(types):
            raise ValueError("two operations share a query type: the codec could not tell them apart")

    def __iter__(self) -> Iterator[AnyOperation]:
        return iter(self._ordered)

    def wires(self) -> Sequence[AnyOperation]:
        """Every operation in registration order (``codec.operations.OperationSet``)."""
        return self._ordered

    def names(self) -> tuple[str, ...]:
        """The registered names, in order."""
        return tuple(self._by_name)

    def sealed_names(self) -> frozenset[str]:
        """Operations whose answers carry personal data, sealed to the asking agency's key."""
        return frozenset(op.name for op in self._ordered if op.sealed)

    def get(self, name: str) -> AnyOperation | None:
        """The operation called ``name``, or None."""
        return self._by_name.get(name)

    def of(self, name: str) -> AnyOperation:
        """The operation called ``name``; UnknownOperation if none is."""
        found = self._by_name.get(name)
        if found is None:
            raise UnknownOperation(repr(name[:32]), self.names())
        return found

    def for_query(self, query: object) -> AnyOperation:
        """The operation whose query ``query`` is; UnknownOperation if none owns its type."""
        for op in self._ordered:
            if op.owns_body(query):
                return op
        raise UnknownOperation(f"a {type(query).__name__} query", self.names())

    def for_result(self, result: object) -> AnyOperation | None:
        """The operation whose result ``result`` is; None for no result (a refusal); UnknownOperation else."""
        if result is None:
            return None
        for op in self._ordered:
            if op.owns_result(result):
                return op
        raise UnknownOperation(f"a {type(result).__name__} result", self.names())

    def fee_of(self, query: object) -> int | None:
        """The fee the operation of ``query`` states (``Operation.fee``); None for no query or no fee."""
        if query is None:
            return None
        return self.for_query(query).fee

    def replacing(self, operation: AnyOperation) -> Operations:
        """A registry with ``operation`` in place of the one of its name (a resolver's configured SELF)."""
        self.of(operation.name)
        return Operations(operation if op.name == operation.name else op for op in self._ordered)

    def adding(self, *operations: AnyOperation) -> Operations:
        """A registry with ``operations`` after these (a test's or a deployment's own)."""
        return Operations((*self._ordered, *operations))


def registry_of(codec: Codec) -> Operations:
    """The registry ``codec``'s request and response schemas were composed of."""
    operations = codec.operations
    if not isinstance(operations, Operations):
        raise TypeError(
            f"the codec was composed of a {type(operations).__name__}, not an Operations registry"
        )
    return operations
