"""Connected agencies (cơ quan, tổ chức kết nối) and what each may ask.

An agency record holds what Art. 4, 5, 7, 11 and 12 of the circular ask to be kept: identity and
official code, category, connection channel, focal point, readiness, operations, purposes with
their legal basis and field scope, quota, status, onboarding steps and the history of every change.
Services read agencies through the ``AgencyDirectory`` protocol: the registry topic's live view in
production, a YAML file in unit tests and local experiments.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from dancu_bus.contracts import DISCLOSABLE_FIELDS
from dancu_bus.errors import ConfigError
from dancu_bus.keys import AnswerKey

__all__ = [
    "AGENCY_CODE",
    "AGENCY_ID",
    "Agency",
    "AgencyDirectory",
    "AgencyStatus",
    "AnswerKey",
    "Category",
    "Change",
    "Channel",
    "FileAgencyDirectory",
    "FocalPoint",
    "OperationName",
    "Purpose",
    "Quota",
    "SecurityReview",
    "StepRecord",
    "load_directory",
]

AGENCY_ID = re.compile(r"^[a-z0-9-]{2,40}$")
# Official electronic agency code (mã định danh điện tử của cơ quan), e.g. 000.00.00.G01.
AGENCY_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
# An operation's name as agencies and purposes are granted it; which exist is the operations registry's
# business (``dancu_bus.operations``): an agency may be granted one this resolver does not serve.
OperationName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]


class AgencyStatus(StrEnum):
    """Where an agency's connection stands."""

    ONBOARDING = "ONBOARDING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"


class Category(StrEnum):
    """Kinds of connecting agencies the circular names."""

    MINISTRY = "MINISTRY"  # bộ, cơ quan ngang bộ
    PROVINCE = "PROVINCE"  # UBND cấp tỉnh
    CREDIT_INSTITUTION = "CREDIT_INSTITUTION"  # tổ chức tín dụng
    TELECOM = "TELECOM"  # doanh nghiệp viễn thông
    SIGNATURE_OR_EID_PROVIDER = "SIGNATURE_OR_EID_PROVIDER"  # chữ ký số, định danh điện tử
    NOTARY_OR_BAILIFF = "NOTARY_OR_BAILIFF"  # công chứng, thừa phát lại
    PUBLIC_SERVICE_PORTAL = "PUBLIC_SERVICE_PORTAL"  # cổng dịch vụ công
    POLITICAL_ORGANISATION = "POLITICAL_ORGANISATION"  # tổ chức chính trị, chính trị - xã hội
    OTHER = "OTHER"


class Channel(StrEnum):
    """Connection channels of Art. 5."""

    NDXP = "NDXP"  # nền tảng tích hợp, chia sẻ dữ liệu quốc gia
    LGSP = "LGSP"  # nền tảng tích hợp, chia sẻ dữ liệu cấp bộ, cấp tỉnh
    NATIONAL_DOCUMENT_AXIS = "NATIONAL_DOCUMENT_AXIS"  # trục liên thông văn bản quốc gia
    OTHER_PLATFORM = "OTHER_PLATFORM"  # only after a security review and approval (Art. 5.3)


class Purpose(BaseModel):
    """A registered purpose (mục đích): its legal basis, the operations it covers and its field scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal_basis: str = Field(min_length=1)
    operations: frozenset[OperationName]
    fields: frozenset[str]
    # An investigation's purpose may hide its requests from the citizen's access history for a while.
    may_hide_from_citizen: bool = False

    @field_serializer("operations", "fields")
    def _sorted(self, values: frozenset[str]) -> list[str]:
        # Sets serialise in hash order; sorted lists make a record's bytes reproducible.
        return sorted(values)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: frozenset[str]) -> frozenset[str]:
        unknown = fields - set(DISCLOSABLE_FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {list(DISCLOSABLE_FIELDS)}")
        return fields


class FocalPoint(BaseModel):
    """The agency's named contact (đầu mối), published under Art. 4.2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    position: str = Field(min_length=1)
    phone: str = Field(pattern=r"^\+?[0-9 .-]{8,20}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Quota(BaseModel):
    """How much an agency may ask: a token bucket per second and a daily ceiling."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_second: float = Field(default=1000.0, gt=0)
    per_day: int = Field(default=10_000_000, gt=0)


class StepRecord(BaseModel):
    """One onboarding step (Art. 7) as recorded: its document and date, who recorded it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int = Field(ge=1, le=10)
    document_ref: str = Field(min_length=1)
    on: date
    by: str = Field(min_length=1)
    confirmations: tuple[str, ...] = ()


class SecurityReview(BaseModel):
    """The security review and approval an "other platform" channel needs (Art. 5.3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_ref: str = Field(min_length=1)
    approved: bool
    approved_by: str = Field(min_length=1)
    on: date


class Change(BaseModel):
    """One change of an agency's record: who, when, under which document, what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    by: str
    document_ref: str
    action: str
    detail: str = ""


class Agency(BaseModel):
    """A connected agency's registry record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    code: str | None = None
    category: Category = Category.OTHER
    channel: Channel = Channel.NDXP
    focal_point: FocalPoint | None = None
    readiness: str = ""
    status: AgencyStatus = AgencyStatus.ACTIVE
    status_reason: str | None = None
    operations: frozenset[OperationName]
    purposes: Mapping[str, Purpose]
    quota: Quota = Quota()
    onboarding: tuple[StepRecord, ...] = ()
    security_review: SecurityReview | None = None
    # Public keys the agency's answers are sealed to, oldest first; the last is current. A rotation
    # appends one and keeps the others, so the ids of answers sealed earlier stay known.
    answer_keys: tuple[AnswerKey, ...] = ()
    history: tuple[Change, ...] = ()

    @field_serializer("operations")
    def _sorted_operations(self, operations: frozenset[str]) -> list[str]:
        return sorted(operations)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not AGENCY_ID.fullmatch(value):
            raise ValueError(f"agency id {value!r} is not a slug [a-z0-9-]{{2,40}}")
        return value

    @field_validator("code")
    @classmethod
    def _official_code(cls, value: str | None) -> str | None:
        if value is not None and not AGENCY_CODE.fullmatch(value):
            raise ValueError(f"agency code {value!r} is not of the form NNN.NN.NN.XNN (e.g. 000.00.00.G01)")
        return value

    @field_validator("answer_keys")
    @classmethod
    def _distinct_key_ids(cls, keys: tuple[AnswerKey, ...]) -> tuple[AnswerKey, ...]:
        ids = [k.id for k in keys]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(
                f"answer key ids {repeated} are registered twice: each key needs an id of its own"
            )
        return keys

    @property
    def holds_account(self) -> bool:
        """Whether its broker account (SCRAM user, ACLs) exists: issued at step 10, not yet terminated."""
        return self.status in (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED)

    @property
    def answer_key(self) -> AnswerKey | None:
        """The key answers are sealed to now: the last registered."""
        return self.answer_keys[-1] if self.answer_keys else None

    def needs_answer_key(self, sealed: Collection[str]) -> bool:
        """Whether the agency may ask for personal data: one of its operations is ``sealed``."""
        return not self.operations.isdisjoint(sealed)

    def purpose_for(self, code: str, operation: str) -> Purpose | None:
        """The registered purpose ``code`` if it covers ``operation``."""
        purpose = self.purposes.get(code)
        return purpose if purpose is not None and operation in purpose.operations else None


class AgencyDirectory(Protocol):
    """Where services read agencies from."""

    def get(self, agency_id: str) -> Agency | None:
        """The agency with this id as it stands now, or None."""

    def ids(self) -> tuple[str, ...]:
        """Every known agency id."""


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

    def agencies(self) -> tuple[Agency, ...]:
        """Every agency, sorted by id."""
        return tuple(self._agencies[i] for i in self.ids())


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
