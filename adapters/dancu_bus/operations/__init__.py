"""The operations of the exchange, one module each, and the registry everything dispatches through.

Adding an operation: write ``operations/<name>.py`` with a subclass of ``Operation`` (its query and
result types, Avro mapping, checks, answer; ``SealedOperation`` when its answers carry personal data and
are sealed to the agency's key), its branches in ``schemas/operations/<name>.avsc``, and
add it to ``OPERATIONS``; the codec, resolver, SDK and audit need no change.
"""

from collections.abc import Mapping, Sequence

from dancu_bus.codec import Codec, load_schemas
from dancu_bus.operations.base import (
    FOUND,
    NOT_FOUND,
    Asking,
    Emitted,
    Operation,
    Population,
    SealedOperation,
    schema_branches,
)
from dancu_bus.operations.correct import CORRECT
from dancu_bus.operations.lookup import LOOKUP
from dancu_bus.operations.registry import AnyOperation, Operations, registry_of
from dancu_bus.operations.report_error import REPORT_ERROR
from dancu_bus.operations.search import SEARCH
from dancu_bus.operations.self_record import SELF, SelfFields, SelfRecord
from dancu_bus.operations.ticket_state import TICKET_STATE
from dancu_bus.operations.verify import VERIFY
from dancu_bus.operations.verify_batch import VERIFY_BATCH

__all__ = [
    "CORRECT",
    "FOUND",
    "LOOKUP",
    "NOT_FOUND",
    "OPERATIONS",
    "REPORT_ERROR",
    "SEARCH",
    "SELF",
    "TICKET_STATE",
    "VERIFY",
    "VERIFY_BATCH",
    "AnyOperation",
    "Asking",
    "Emitted",
    "Operation",
    "Operations",
    "Population",
    "SealedOperation",
    "platform_codec",
    "platform_operations",
    "registry_of",
    "schema_branches",
]

# The platform's operations, in the order of their Avro union branches (append only: the order is wire).
OPERATIONS = Operations((VERIFY, LOOKUP, SEARCH, REPORT_ERROR, TICKET_STATE, CORRECT, VERIFY_BATCH, SELF))


def platform_operations(self_fields: Mapping[str, Sequence[str]] | None = None) -> Operations:
    """The platform's operations, SELF answering these field sets (its defaults when None), for the
    resolver (``DANCU_RESOLVER__SELF_FIELDS``); ConfigError names a bad set."""
    return OPERATIONS.replacing(SelfRecord(SelfFields.parse(self_fields)))


def platform_codec() -> Codec:
    """The codec of the platform's operations: its schemas read and parsed, once per call."""
    return Codec(load_schemas(OPERATIONS))
