"""A live, in-memory view of the registry topic, as every service keeps one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from dancu_bus.agencies import Agency, AgencyStatus
from dancu_bus.errors import CodecError
from dancu_bus.registry.platform import PLATFORM_KEY, Platform
from dancu_bus.registry.wire import RegistryCodec

__all__ = ["RegistryView"]

log = logging.getLogger(__name__)


class RegistryView:
    """Agencies as the registry topic says now; a maintenance window suspends every agency."""

    def __init__(self, codec: RegistryCodec, clock: Callable[[], datetime] | None = None) -> None:
        self._codec = codec
        self._clock = clock or (lambda: datetime.now(UTC))
        self._agencies: dict[str, Agency] = {}
        self._platform = Platform()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Take one registry record (a tombstone removes the agency); bad records are logged and skipped."""
        name = (key or b"").decode("utf-8", "replace")
        if value is None:
            self._agencies.pop(name, None)
            return
        try:
            if name == PLATFORM_KEY:
                self._platform = self._codec.decode_platform(value)
            else:
                self._agencies[name] = self._codec.decode_agency(value)
        except CodecError as exc:
            log.error("registry record %r is unreadable and was skipped: %s", name, exc)

    def get(self, agency_id: str) -> Agency | None:
        """The agency as it stands now: SUSPENDED during a maintenance window."""
        agency = self._agencies.get(agency_id)
        if agency is None or agency.status is not AgencyStatus.ACTIVE:
            return agency
        window = self._platform.window_at(self._clock())
        if window is None:
            return agency
        return agency.model_copy(update={"status": AgencyStatus.SUSPENDED, "status_reason": window.reason})

    def record(self, agency_id: str) -> Agency | None:
        """The agency's record exactly as stored (no maintenance window applied)."""
        return self._agencies.get(agency_id)

    def ids(self) -> tuple[str, ...]:
        """Every agency id in the registry, sorted."""
        return tuple(sorted(self._agencies))

    def agencies(self) -> tuple[Agency, ...]:
        """Every agency record, sorted by id."""
        return tuple(self._agencies[i] for i in self.ids())

    @property
    def platform(self) -> Platform:
        """Platform-wide state (maintenance windows)."""
        return self._platform
