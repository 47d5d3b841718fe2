"""Registry state that concerns every agency: maintenance suspensions scheduled in advance."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator

from dancu_bus.agencies import Change

__all__ = ["PLATFORM_KEY", "MaintenanceWindow", "Platform"]

# The registry topic's key for this record; not a slug, so no agency can ever take it.
PLATFORM_KEY = "_platform"


class MaintenanceWindow(BaseModel):
    """A period during which every agency's requests are answered SUSPENDED."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    starts_at: datetime
    ends_at: datetime
    reason: str
    document_ref: str

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.ends_at <= self.starts_at:
            raise ValueError("a maintenance window must end after it starts")
        return self

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the window."""
        return self.starts_at <= moment < self.ends_at


class Platform(BaseModel):
    """Maintenance windows and the history of their changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    maintenance: tuple[MaintenanceWindow, ...] = ()
    history: tuple[Change, ...] = ()

    def window_at(self, moment: datetime) -> MaintenanceWindow | None:
        """The maintenance window in force at ``moment``, if any."""
        return next((w for w in self.maintenance if w.covers(moment)), None)
