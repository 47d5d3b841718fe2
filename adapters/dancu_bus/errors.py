"""The one error tree of dancu-bus: workers retry what is retriable and answer or dead-letter the rest."""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ClusterUnusable",
    "CodecError",
    "ConfigError",
    "DancuError",
    "DuplicateRequest",
    "InvalidCode",
    "RefusedChange",
    "RequestTimeout",
    "SealedAnswerError",
    "StoreError",
    "Undelivered",
    "UnknownOperation",
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


class ClusterUnusable(BrokerError):
    """The cluster could not be used, and the message already says why (``admin.diagnosis``)."""


class Undelivered(BrokerError):
    """Requests the SDK accepted but could not hand to the broker: each id, and why."""

    def __init__(self, reasons: dict[str, str]) -> None:
        shown = ", ".join(f"{request_id} ({why})" for request_id, why in list(reasons.items())[:5])
        more = f" and {len(reasons) - 5} more" if len(reasons) > 5 else ""
        super().__init__(f"{len(reasons)} requests were not delivered: {shown}{more}")
        self.reasons = reasons


class InvalidCode(DancuError):
    """A catalogue code that its catalogue does not have, named with its field and scheme."""

    def __init__(self, field: str, detail: str, scheme: str | None = None) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail
        self.scheme = scheme


class RequestTimeout(DancuError, TimeoutError):
    """No response arrived before the caller's deadline: for one request, or for each of ``request_ids``."""

    retriable = True

    def __init__(self, request_ids: str | list[str], seconds: float) -> None:
        ids = [request_ids] if isinstance(request_ids, str) else list(request_ids)
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        what = f"request {shown}" if len(ids) == 1 else f"{len(ids)} requests ({shown})"
        super().__init__(f"no response to {what} within {seconds:g} s")
        self.request_ids = ids
        self.seconds = seconds

    @property
    def request_id(self) -> str:
        """The first request not answered."""
        return self.request_ids[0]


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


class SealedAnswerError(DancuError):
    """An answer's sealed values cannot be opened with the keys at hand: which request, which key, why."""

    def __init__(self, request_id: str, detail: str) -> None:
        super().__init__(f"the answer to request {request_id} cannot be opened: {detail}")
        self.request_id = request_id
        self.detail = detail


class UnknownOperation(DancuError):
    """A query or operation name no registered operation owns: refused before anything is produced."""

    def __init__(self, what: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no registered operation for {what}; registered: {', '.join(known)}")
        self.what = what
        self.known = known
