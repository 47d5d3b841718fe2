"""The models of ``topics.yaml``: validation with clear messages, and expansion into concrete topics."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dancu_bus.access import AGENCY_PRINCIPAL, AGENCY_SLOT, ID_SLOTS, slots_in
from dancu_bus.errors import ConfigError

__all__ = [
    "AGENCY_SLOT",
    "PrincipalDeclaration",
    "TopicDeclaration",
    "TopicDefaults",
    "TopicSpec",
    "TopicsFile",
    "expand",
    "load_topics",
    "packaged_topics",
    "parse_topics",
    "time_retention",
]

TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
PREFIX = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
AGENCY_ID = re.compile(r"[a-z0-9-]{2,40}")
AVRO_FULL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
PRINCIPAL = re.compile(r"User:([A-Za-z0-9._@-]+|\{agency\})")
# A group or transactional-id prefix: Kafka's name characters, and slots such as {agency}.
ID_PREFIX = re.compile(r"([A-Za-z0-9._-]|\{[a-z_]+\})+")
CLEANUP_POLICIES = frozenset({"delete", "compact", "compact,delete", "delete,compact"})
INTEGER_CONFIGS = frozenset(
    {
        "retention.ms",
        "retention.bytes",
        "segment.ms",
        "min.compaction.lag.ms",
        "delete.retention.ms",
        "max.message.bytes",
    }
)
# Declared as fields of their own, not as free configs.
RESERVED_CONFIGS = {"min.insync.replicas": "min_insync_replicas", "replication.factor": "replication_factor"}


def _config_text(value: object) -> str:
    """Kafka's text form of a YAML scalar: booleans in lower case, numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise ValueError(f"config values must be text, numbers or booleans, not {value!r}")


def _check_configs(configs: Mapping[str, str]) -> None:
    """Reject configs Kafka would refuse or that belong to a field of their own."""
    for key, value in configs.items():
        if key in RESERVED_CONFIGS:
            raise ValueError(f"set {key} with the field {RESERVED_CONFIGS[key]}, not under configs")
        if key == "cleanup.policy" and value not in CLEANUP_POLICIES:
            raise ValueError(f"cleanup.policy {value!r} is not one of {sorted(CLEANUP_POLICIES)}")
        if key in INTEGER_CONFIGS and not re.fullmatch(r"-1|\d+", value):
            raise ValueError(f"{key} must be a whole number of {key.split('.')[-1]} or -1, not {value!r}")


class _Configs(BaseModel):
    """Turns YAML scalars of ``configs`` into Kafka's text form and checks them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    configs: dict[str, str] = Field(default_factory=dict)

    @field_validator("configs", mode="before")
    @classmethod
    def _as_text(cls, raw: object) -> object:
        if not isinstance(raw, Mapping):
            return raw
        return {str(key): _config_text(value) for key, value in raw.items()}

    @field_validator("configs")
    @classmethod
    def _valid(cls, configs: dict[str, str]) -> dict[str, str]:
        _check_configs(configs)
        return configs


class TopicDefaults(_Configs):
    """Settings every topic inherits unless it sets its own."""

    replication_factor: int = Field(default=3, ge=1)
    min_insync_replicas: int = Field(default=2, ge=1)


class TopicDeclaration(_Configs):
    """One entry of ``topics.yaml``; its name may hold ``{agency}``."""

    name: str
    doc: str = ""
    partitions: int = Field(ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    key: str = Field(min_length=1, description="what the record key holds")
    value_schema: str = Field(description="full name of the Avro schema of the values")
    writers: tuple[str, ...] = Field(min_length=1)
    readers: tuple[str, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _legal_name(cls, name: str) -> str:
        if not TOPIC_NAME.fullmatch(name.replace(AGENCY_SLOT, "x")):
            raise ValueError(f"{name!r} is not a Kafka topic name ([a-zA-Z0-9._-], {AGENCY_SLOT} allowed)")
        # The platform's grant on a template is a prefix: the slot must end the name, once.
        if AGENCY_SLOT in name and (name.count(AGENCY_SLOT) > 1 or not name.endswith(AGENCY_SLOT)):
            raise ValueError(f"{name!r}: {AGENCY_SLOT} may appear once, at the end of the name")
        return name

    @field_validator("value_schema")
    @classmethod
    def _avro_name(cls, value: str) -> str:
        if not AVRO_FULL_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an Avro full name such as vn.dancu.Request")
        return value

    @field_validator("writers", "readers")
    @classmethod
    def _principals(cls, principals: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in principals if not PRINCIPAL.fullmatch(p)]
        if bad:
            raise ValueError(f"principals must look like User:<name>, not {bad}")
        return principals

    @model_validator(mode="after")
    def _agency_only_on_templates(self) -> TopicDeclaration:
        if not self.templated and AGENCY_PRINCIPAL in (*self.readers, *self.writers):
            raise ValueError(
                f"{AGENCY_PRINCIPAL} may read or write only a topic whose name holds {AGENCY_SLOT}"
            )
        return self

    @property
    def templated(self) -> bool:
        """Whether this declaration expands to one topic per agency."""
        return AGENCY_SLOT in self.name


def _check_id_prefix(owner: str, prefix: str) -> None:
    """Refuse a group or transactional-id prefix that is malformed or reaches beyond its owner."""
    if not ID_PREFIX.fullmatch(prefix):
        raise ValueError(f"{prefix!r} is not a group or transactional-id prefix ([A-Za-z0-9._-] and slots)")
    unknown = sorted(set(slots_in(prefix)) - set(ID_SLOTS))
    if unknown:
        raise ValueError(f"{prefix!r} names unknown slots {unknown}; known: {list(ID_SLOTS)}")
    if owner == AGENCY_PRINCIPAL and not prefix.startswith(f"{AGENCY_SLOT}."):
        # With the dot no other slug shares the prefix: ``bank`` would also cover ``bank-2``'s groups.
        raise ValueError(f"{prefix!r}: an agency's prefixes must start with {AGENCY_SLOT}. (with the dot)")
    if owner != AGENCY_PRINCIPAL and AGENCY_SLOT in prefix:
        raise ValueError(f"{prefix!r}: only {AGENCY_PRINCIPAL} may use {AGENCY_SLOT}")


class PrincipalDeclaration(BaseModel):
    """One principal of ``topics.yaml``: what it needs beyond the topics that name it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    doc: str = ""
    groups: tuple[str, ...] = Field(default=(), description="prefixes of the consumer groups it may join")
    describe_groups: tuple[str, ...] = Field(
        default=(),
        description="prefixes of the consumer groups whose committed offsets it may read (Describe), without"
        " joining them",
    )
    transactional_ids: tuple[str, ...] = Field(default=(), description="prefixes of its transactional ids")
    provisioned: bool = Field(default=True, description="false: no user on the broker yet, so no grant")

    @field_validator("name")
    @classmethod
    def _principal(cls, name: str) -> str:
        if not PRINCIPAL.fullmatch(name):
            raise ValueError(f"{name!r} is not User:<name> or {AGENCY_PRINCIPAL}")
        return name

    @model_validator(mode="after")
    def _ids(self) -> PrincipalDeclaration:
        for prefix in (*self.groups, *self.describe_groups, *self.transactional_ids):
            _check_id_prefix(self.name, prefix)
        if not self.provisioned and (self.groups or self.describe_groups or self.transactional_ids):
            raise ValueError(f"{self.name} is not provisioned, so it gets no groups or transactional ids")
        if not self.provisioned and self.name == AGENCY_PRINCIPAL:
            raise ValueError(f"{AGENCY_PRINCIPAL} is provisioned: every agency gets its user at step 10")
        return self


class TopicsFile(BaseModel):
    """The whole ``topics.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(description="every topic name starts with this and a dot")
    defaults: TopicDefaults = TopicDefaults()
    topics: tuple[TopicDeclaration, ...] = Field(min_length=1)
    principals: tuple[PrincipalDeclaration, ...] = Field(
        min_length=1, description="every reader and writer, with its groups and transactional ids"
    )

    @field_validator("prefix")
    @classmethod
    def _legal_prefix(cls, prefix: str) -> str:
        if not PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r} must be [a-z0-9._-], not starting or ending in a dot")
        return prefix

    @model_validator(mode="after")
    def _consistent(self) -> TopicsFile:
        names = [t.name for t in self.topics]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"topics declared more than once: {repeated}")
        outside = [n for n in names if not n.startswith(self.prefix + ".")]
        if outside:
            raise ValueError(f"topics outside the prefix {self.prefix!r}: {outside}")
        _check_principals(self)
        for topic in self.topics:
            replication, min_insync = _replication(self.defaults, topic, None)
            if min_insync > replication:
                raise ValueError(
                    f"{topic.name}: min_insync_replicas {min_insync} exceeds replication_factor {replication}"
                )
        return self


def _check_principals(file: TopicsFile) -> None:
    """Every principal declared once, and every reader and writer of a topic declared."""
    names = [p.name for p in file.principals]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"principals declared more than once: {repeated}")
    for topic in file.topics:
        for role, holders in (("reader", topic.readers), ("writer", topic.writers)):
            unknown = [h for h in holders if h not in names]
            if unknown:
                raise ValueError(
                    f"topic {topic.name}: {role} {', '.join(unknown)} is not declared under principals"
                    f" (declared: {', '.join(names)})"
                )


class TopicSpec(BaseModel):
    """One concrete topic as the cluster should have it; ``configs`` includes min.insync.replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]
    key: str
    value_schema: str
    writers: tuple[str, ...]
    readers: tuple[str, ...]


def _replication(defaults: TopicDefaults, topic: TopicDeclaration, override: int | None) -> tuple[int, int]:
    """Replication factor and min.insync.replicas; an override lowers min.insync.replicas to fit."""
    replication = topic.replication_factor or defaults.replication_factor
    min_insync = topic.min_insync_replicas or defaults.min_insync_replicas
    if override is not None:
        return override, min(min_insync, override)
    return replication, min_insync


def _error_lines(exc: ValidationError, raw: object) -> str:
    """One readable clause per error, naming the topic where the YAML gives its name."""
    clauses = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc) or "file"
        if len(loc) >= 2 and loc[0] in ("topics", "principals") and isinstance(loc[1], int):
            name = _entry_name(raw, str(loc[0]), loc[1])
            where = f"{loc[0]}[{loc[1]}] ({name})" + "".join(f".{p}" for p in loc[2:])
        clauses.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(clauses)


def _entry_name(raw: object, section: str, index: int) -> str:
    """The name the YAML gives entry ``index`` of ``section`` (topics, principals), or '?'."""
    entries = raw.get(section) if isinstance(raw, Mapping) else None
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    return str(entry.get("name", "?")) if isinstance(entry, Mapping) else "?"


def parse_topics(raw: object, source: str = "topics.yaml") -> TopicsFile:
    """Validate the loaded YAML of a topics file; ConfigError names every problem."""
    try:
        return TopicsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid: {_error_lines(exc, raw)}") from exc


def load_topics(path: Path | Traversable) -> TopicsFile:
    """Read and validate a topics file."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read topics file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"topics file {path} is not YAML: {exc}") from exc
    return parse_topics(raw, str(path))


def packaged_topics() -> TopicsFile:
    """The ``topics.yaml`` shipped in the package (the repository's own, in a checkout)."""
    return load_topics(files("dancu_bus") / "data" / "topics.yaml")


def time_retention(file: TopicsFile, topic: str, prefix: str) -> timedelta | None:
    """How long ``topic`` (a topic of the deployment whose prefix is ``prefix``) keeps a record, as ``file``
    declares it; None when it keeps records forever. ConfigError when the file declares no such topic.

    The deployment's prefix stands for the file's (as ``topics apply`` creates the topics). Forever: a
    cleanup policy without ``delete`` (compaction only), or ``retention.ms`` -1.
    """
    declared = next(
        (t for t in file.topics if not t.templated and prefix + t.name[len(file.prefix) :] == topic), None
    )
    if declared is None:
        raise ConfigError(
            f"the topics file declares no topic {topic} (prefix {prefix} for its {file.prefix}):"
            " give the file that does (--topics FILE)"
        )
    configs = {**file.defaults.configs, **declared.configs}
    if "delete" not in configs.get("cleanup.policy", "delete").split(","):
        return None
    retention_ms = int(configs.get("retention.ms", "604800000"))  # Kafka's default: 7 days
    return None if retention_ms < 0 else timedelta(milliseconds=retention_ms)


def _concrete(
    file: TopicsFile,
    topic: TopicDeclaration,
    agency: str | None,
    replication_override: int | None,
    prefix: str,
) -> TopicSpec:
    """The topic ``topic`` declares for one agency (or its only topic), under the effective prefix."""
    replication, min_insync = _replication(file.defaults, topic, replication_override)

    def fill(text: str) -> str:
        return text if agency is None else text.replace(AGENCY_SLOT, agency)

    return TopicSpec(
        name=prefix + fill(topic.name)[len(file.prefix) :],
        partitions=topic.partitions,
        replication_factor=replication,
        configs={**file.defaults.configs, **topic.configs, "min.insync.replicas": str(min_insync)},
        key=topic.key,
        value_schema=topic.value_schema,
        writers=tuple(fill(p) for p in topic.writers),
        readers=tuple(fill(p) for p in topic.readers),
    )


def _check_agencies(agency_ids: Iterable[str]) -> list[str]:
    """The agency ids, each checked to be a slug that makes a legal topic name."""
    ids = sorted(set(agency_ids))
    bad = [a for a in ids if not AGENCY_ID.fullmatch(a)]
    if bad:
        raise ConfigError(f"agency ids {bad} are not slugs [a-z0-9-]{{2,40}}")
    return ids


def expand(
    file: TopicsFile,
    agency_ids: Iterable[str],
    *,
    replication_factor: int | None = None,
    prefix: str | None = None,
) -> list[TopicSpec]:
    """Every concrete topic: templates once per agency, optionally with another replication or prefix."""
    if replication_factor is not None and replication_factor < 1:
        raise ConfigError(f"replication factor must be at least 1, not {replication_factor}")
    if prefix is not None and not PREFIX.fullmatch(prefix):
        raise ConfigError(f"topic prefix {prefix!r} must be [a-z0-9._-], not starting or ending in a dot")
    ids = _check_agencies(agency_ids)
    specs = [
        _concrete(file, topic, agency, replication_factor, prefix or file.prefix)
        for topic in file.topics
        for agency in (ids if topic.templated else [None])
    ]
    names = [s.name for s in specs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigError(f"agency templates expand to topics declared twice: {clashes}")
    return specs
