"""Connected agencies and what each may ask: operations, purposes with their legal basis, field scope.

For now the directory comes from a YAML file; the registry replaces it with a compacted topic
behind the same ``AgencyDirectory`` protocol, so the resolver does not change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dancu_bus.contracts import DISCLOSABLE_FIELDS, Operation
from dancu_bus.errors import ConfigError

__all__ = [
    "AGENCY_ID",
    "Agency",
    "AgencyDirectory",
    "AgencyStatus",
    "FileAgencyDirectory",
    "Purpose",
    "load_directory",
]

AGENCY_ID = re.compile(r"^[a-z0-9-]{2,40}$")


class AgencyStatus(StrEnum):
    """Whether an agency's connection is in force."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"


class Purpose(BaseModel):
    """A registered purpose (mục đích): its legal basis, the operations it covers and its field scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal_basis: str = Field(min_length=1)
    operations: frozenset[Operation]
    fields: frozenset[str]

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: frozenset[str]) -> frozenset[str]:
        unknown = fields - set(DISCLOSABLE_FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {list(DISCLOSABLE_FIELDS)}")
        return fields


class Agency(BaseModel):
    """A connected agency (cơ quan, tổ chức kết nối)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    status: AgencyStatus = AgencyStatus.ACTIVE
    operations: frozenset[Operation]
    purposes: Mapping[str, Purpose]

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not AGENCY_ID.fullmatch(value):
            raise ValueError(f"agency id {value!r} is not a slug [a-z0-9-]{{2,40}}")
        return value

    def purpose_for(self, code: str, operation: Operation) -> Purpose | None:
        """The registered purpose ``code`` if it covers ``operation``."""
        purpose = self.purposes.get(code)
        return purpose if purpose is not None and operation in purpose.operations else None


class AgencyDirectory(Protocol):
    """Where services read agencies from."""

    def get(self, agency_id: str) -> Agency | None:
        """The agency with this id, or None."""
        ...

    def ids(self) -> tuple[str, ...]:
        """Every known agency id."""
        ...


class _AgenciesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agencies: list[Agency]


class FileAgencyDirectory:
    """Agencies read once from a YAML file."""

    def __init__(self, agencies: Mapping[str, Agency]) -> None:
        self._agencies = dict(agencies)

    def get(self, agency_id: str) -> Agency | None:
        """The agency with this id, or None."""
        return self._agencies.get(agency_id)

    def ids(self) -> tuple[str, ...]:
        """Every known agency id, sorted."""
        return tuple(sorted(self._agencies))


def load_directory(path: Path) -> FileAgencyDirectory:
    """Read and validate an agencies file; ConfigError names what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _AgenciesFile.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read agencies file {path}: {exc}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"agencies file {path} is invalid: {exc}") from exc
    ids = [a.id for a in parsed.agencies]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"agencies file {path} repeats ids {duplicates}")
    return FileAgencyDirectory({a.id: a for a in parsed.agencies})
