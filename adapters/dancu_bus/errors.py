"""The one error tree of dancu-bus: workers retry what is retriable and answer or dead-letter the rest."""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "CodecError",
    "ConfigError",
    "DancuError",
    "DuplicateRequest",
    "InvalidCode",
    "RefusedChange",
    "RequestTimeout",
    "StoreError",
]


class DancuError(Exception):
    """Base of every dancu-bus error; ``retriable`` says whether trying again may succeed."""

    retriable: bool = False


class ConfigError(DancuError):
    """A setting, file or argument that cannot be used as given."""


class CodecError(DancuError):
    """Bytes that are not a message of a known schema, or a value that does not fit its schema."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class StoreError(DancuError):
    """The population store failed; ``retriable`` when it is only unavailable for now."""

    def __init__(self, detail: str, *, retriable: bool) -> None:
        super().__init__(detail)
        self.retriable = retriable


class BrokerError(DancuError):
    """Kafka refused or could not be reached."""

    def __init__(self, detail: str, *, retriable: bool = True) -> None:
        super().__init__(detail)
        self.retriable = retriable


class InvalidCode(DancuError):
    """A catalogue code that its catalogue does not have, named with its field and scheme."""

    def __init__(self, field: str, detail: str, scheme: str | None = None) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail
        self.scheme = scheme


class RequestTimeout(DancuError):
    """No response arrived for a request before the caller's deadline."""

    retriable = True

    def __init__(self, request_id: str, seconds: float) -> None:
        super().__init__(f"no response to request {request_id} within {seconds:g} s")
        self.request_id = request_id
        self.seconds = seconds


class DuplicateRequest(DancuError):
    """A request id already used: the resolver refused this record, and its answer is the earlier one's.

    Not an answer to the request: the exchange that has the answer is named in ``detail``.
    """

    def __init__(self, request_id: str, detail: str) -> None:
        super().__init__(f"request id {request_id} was already used: {detail}")
        self.request_id = request_id
        self.detail = detail


class RefusedChange(DancuError):
    """A registry change the rules do not allow now (e.g. issuing an account before steps 1–9)."""
